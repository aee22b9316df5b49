"""/metrics under real `feeds serve` (2 gunicorn workers and the hub worker): one scrape sums
every process, a worker that exits leaves no live gauge behind and its counts stay, and the
hub's figures follow a subscription and a delivery."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from feeds.metrics import FOLD_S
from tests.hubsupport import Subscribers, delivered, eventually, hub_request, verification
from tests.support import (
    FEEDS_BIN,
    Content,
    Served,
    article_text,
    fetch,
    gunicorn_workers,
    run_feeds,
    start_server,
)

ROUTE = "/feeds/<filename>"
STORED = ("feeds_import_runs_total", frozenset({("result", "stored")}))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path, Content]]:
    folder = tmp_path_factory.mktemp("metrics")
    content = Content(folder / "content")
    content.write("world/w1.txt", article_text(title="Seed story"))
    directory = folder / "prometheus"
    served = start_server(
        folder,
        {
            "FEEDS_CONTENT": str(content.root),
            "FEEDS_METRICS_DIR": str(directory),
            "FEEDS_MAX_AGE": "0",
            "FEEDS_HUB_ALLOW_LOOPBACK": "1",
        },
    )
    try:
        assert served.feeds("import").returncode == 0
        yield served, directory, content
    finally:
        served.stop()


def samples(served: Served) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    status, headers, body = fetch(served.url("/metrics"))
    assert status == 200 and headers["Cache-Control"] == "no-store"
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def polls(served: Served) -> float:
    labels = frozenset({"route": ROUTE, "format": "rss", "status": "200"}.items())
    return samples(served).get(("feeds_requests_total", labels), 0.0)


def settled(served: Served) -> float:
    """The polls counted, once every worker has added the ones it answered (each does within
    FOLD_S of an answer)."""
    time.sleep(FOLD_S + 0.5)
    return polls(served)


def workers(served: Served) -> set[int]:
    """The gunicorn workers: the server's children that are not the hub worker."""
    return gunicorn_workers(served.process.pid)


def poll_many(served: Served, n: int) -> None:
    with ThreadPoolExecutor(16) as pool:  # a new connection each: both workers take some
        statuses = list(pool.map(lambda _: fetch(served.url("/feeds/rss.xml"))[0], range(n)))
    assert statuses == [200] * n


def test_one_scrape_sums_both_workers(server: tuple[Served, Path, Content]) -> None:
    served, directory, _ = server
    before = settled(served)
    poll_many(served, 300)
    assert settled(served) == before + 300
    counting = {int(p.stem.rsplit("_", 1)[1]) for p in directory.glob("counter_*.db")}
    assert workers(served) <= counting, "both workers should have answered some polls"


def test_a_worker_that_exits_leaves_no_live_gauge_and_its_counts_stay(
    server: tuple[Served, Path, Content],
) -> None:
    served, directory, _ = server
    before = settled(served)
    old = workers(served)
    victim = min(old)
    poll_many(served, 50)
    assert (directory / f"gauge_livesum_{victim}.db").exists()
    os.kill(victim, signal.SIGTERM)  # before it adds its last answers, most likely
    eventually("a new worker", lambda: len(workers(served) - old) == 1 or None)
    eventually(
        "the old worker's live gauges to go",
        lambda: not (directory / f"gauge_livesum_{victim}.db").exists() or None,
    )
    assert settled(served) == before + 50  # what it had not yet added, it added as it left
    poll_many(served, 20)
    assert settled(served) == before + 70


def test_hub_figures_follow_a_subscription_and_a_delivery(
    server: tuple[Served, Path, Content], subscribers: Subscribers
) -> None:
    served, _, content = server
    callback = subscribers.callback("metrics")
    topic = served.url("/feeds/atom.xml")
    status, _, body = hub_request(served.url("/hub"), topic, callback.url)
    assert status == 202, body
    verification(callback)
    subscribed: tuple[str, frozenset[tuple[str, str]]] = ("feeds_hub_subscriptions", frozenset())
    eventually("the subscription", lambda: samples(served)[subscribed] == 1 or None)
    content.write("world/w2.txt", article_text(title="Second story"))
    assert served.feeds("import").returncode == 0
    delivered(callback)
    ok = ("feeds_hub_deliveries_total", frozenset({("result", "delivered")}))
    eventually("the delivery counted", lambda: samples(served).get(ok, 0) >= 1 or None)
    figures = samples(served)
    assert figures[("feeds_hub_delivery_seconds_count", frozenset())] >= 1
    assert figures[STORED] >= 1  # `feeds import` beside the server: its totals in the store


def test_imports_leave_no_files_of_figures_behind(server: tuple[Served, Path, Content]) -> None:
    """Each import is a process of its own: its figures go to the store, not to the
    server's directory, where a file per import would slow every scrape down."""
    served, directory, content = server
    before = samples(served).get(STORED, 0.0)
    files = set(directory.iterdir())
    for n in range(3):
        content.write(f"world/many{n}.txt", article_text(title=f"Story {n}"))
        assert served.feeds("import").returncode == 0
    assert samples(served)[STORED] == before + 3
    pid = served.process.pid
    own = {pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())}
    new = {int(p.stem.rsplit("_", 1)[1]) for p in set(directory.iterdir()) - files}
    assert new <= own, "only the server's own processes keep files there"


def test_an_unwritable_metrics_directory_does_not_stop_an_import(
    server: tuple[Served, Path, Content],
) -> None:
    served, _, content = server
    content.write("world/unwritable.txt", article_text(title="Imported all the same"))
    env = served.env | {"FEEDS_METRICS_DIR": "/proc/1"}  # a folder no file can be made in
    ran = run_feeds(env, "import")
    assert "Traceback" not in ran.stderr, ran.stderr[-300:]
    assert ran.returncode == 0 and "1 added" in ran.stdout, ran.stdout


def test_a_worker_that_exits_leaves_a_temporary_directory_in_place(tmp_path: Path) -> None:
    """Without FEEDS_METRICS_DIR the server makes a directory of its own, which only the
    server's own process may remove: a worker leaving must not take it with it."""
    served = start_server(tmp_path, {"FEEDS_MAX_AGE": "0"})
    try:
        poll_many(served, 20)
        old = workers(served)
        os.kill(min(old), signal.SIGTERM)
        eventually("a new worker", lambda: len(workers(served) - old) == 1 or None)
        poll_many(served, 40)  # the new worker among them: every answer a 200
        assert settled(served) >= 40
    finally:
        served.stop()


def test_an_unwritable_metrics_directory_stops_the_server_with_a_reason(
    server: tuple[Served, Path, Content],
) -> None:
    served, _, _ = server
    env = served.env | {"FEEDS_METRICS_DIR": "/proc/1"}
    ran = run_feeds(env, "serve", "--bind", "127.0.0.1:0", "--no-hub")
    assert ran.returncode == 1, (ran.returncode, ran.stderr[-300:])
    assert "Traceback" not in ran.stderr, ran.stderr[-300:]
    assert "FEEDS_METRICS_DIR" in ran.stderr and "/proc/1" in ran.stderr, ran.stderr


def test_a_hub_worker_of_its_own_joins_the_servers_figures(
    tmp_path: Path, subscribers: Subscribers
) -> None:
    """`feeds hub run` under a unit of its own (the server started with --no-hub) keeps its
    figures in the server's FEEDS_METRICS_DIR, so the server's scrapes show its deliveries."""
    content = Content(tmp_path / "content")
    content.write("world/w1.txt", article_text(title="Seed story"))
    extra = {
        "FEEDS_CONTENT": str(content.root),
        "FEEDS_METRICS_DIR": str(tmp_path / "prometheus"),
        "FEEDS_MAX_AGE": "0",
        "FEEDS_HUB_ALLOW_LOOPBACK": "1",
    }
    served = start_server(tmp_path, extra, options=("--no-hub",))
    log = (tmp_path / "hub.log").open("wb")
    hub = subprocess.Popen(
        [str(FEEDS_BIN), "hub", "run"], env=served.env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        assert served.feeds("import").returncode == 0
        callback = subscribers.callback("own-worker")
        topic = served.url("/feeds/atom.xml")
        status, _, body = hub_request(served.url("/hub"), topic, callback.url)
        assert status == 202, body
        verification(callback)
        content.write("world/w2.txt", article_text(title="Second story"))
        assert served.feeds("import").returncode == 0
        delivered(callback)
        ok = ("feeds_hub_deliveries_total", frozenset({("result", "delivered")}))
        eventually("the delivery counted", lambda: samples(served).get(ok, 0) >= 1 or None)
    finally:
        hub.terminate()
        hub.wait(timeout=30)
        log.close()
        served.stop()
