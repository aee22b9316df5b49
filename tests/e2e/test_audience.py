"""Audience figures through real gunicorn (2 workers, FEEDS_STATS_FLUSH=1) and a real store:
polls with recorded User-Agents (two Feedbin ids for one feed, a count with thousands
separators, clients that report nothing; 200s, 304s and a HEAD) show up in `feeds stats`
and /api/v1/stats; no raw address reaches the database (promise 18); a worker that exits
writes what it counted."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support import Served, start_server

FEED = "/feeds/rss.xml"
ADDRESS = "203.0.113.77"  # distinctive: searched for in every table afterwards
ADDRESS6 = "2001:db8:77:5::1"
FEEDBIN_1 = "Feedbin feed-id:1373711 - 7 subscribers"
FEEDBIN_2 = "Feedbin feed-id:2287741 - 1 subscribers"
FEEDLY = "Feedly/1.0 (+https://feedly.com/poller.html; 2,375 subscribers; )"
MINIFLUX = "Mozilla/5.0 (compatible; Miniflux/2.1.3; +https://miniflux.app)"
NEWSBOAT = "Newsboat/2.36 (Linux x86_64)"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    site = start_server(tmp_path_factory.mktemp("audience"), {"FEEDS_STATS_FLUSH": "1"})
    yield site
    site.stop()


def poll(
    site: Served, agent: str, address: str, etag: str | None = None, method: str = "GET"
) -> str:
    headers = {"User-Agent": agent, "X-Forwarded-For": address}
    if etag is not None:
        headers["If-None-Match"] = etag
    status, got, _ = site.fetch(site.url(FEED), headers, method)
    assert status == (304 if etag else 200)
    return got["ETag"]


def stats_lines(site: Served, polls: int) -> list[str]:
    """`feeds stats` once the store holds `polls` polls of FEED (the workers flush each
    second)."""
    deadline = time.monotonic() + 30
    while True:
        ran = site.feeds("stats", "--feed", FEED)
        if ran.returncode == 0 and f"\t{polls} polls\t" in ran.stdout:
            return ran.stdout.splitlines()
        assert time.monotonic() < deadline, (ran.stdout, ran.stderr)
        time.sleep(0.2)


def test_recorded_pollers_show_in_feeds_stats_and_the_api(served: Served) -> None:
    ran = served.feeds("stats")
    assert ran.returncode == 0 and "was polled since" in ran.stderr
    etag = poll(served, FEEDBIN_1, "198.51.100.1")
    poll(served, FEEDBIN_2, "198.51.100.2", etag)
    poll(served, FEEDLY, "198.51.100.3", etag)
    for _ in range(3):  # one client, however often it polls
        poll(served, MINIFLUX, ADDRESS, etag)
    poll(served, MINIFLUX, ADDRESS, method="HEAD")
    poll(served, NEWSBOAT, ADDRESS6)
    poll(served, NEWSBOAT, "2001:db8:77:5::2", etag)  # the same /64
    lines = stats_lines(served, 9)
    feed, parts, *_ = lines[0].split("\t")[1:]
    assert lines[0].startswith(FEED + "\t")
    assert feed == f"{2375 + 7 + 1 + 2} subscribers"
    assert parts == f"{2375 + 8} reported, 2 other clients, 0 WebSub, 0 partners"
    assert "\t67% 304\t" in lines[0]
    assert set(lines[1:]) == {
        "\tFeedly\t2375\treported",
        "\tFeedbin\t8\treported",
        "\tMiniflux\t1\tcounted",
        "\tNewsboat\t1\tcounted",
    }

    created = served.feeds("token", "create", "--name", "newsroom", "--scope", "stats")
    assert created.returncode == 0, created.stderr
    bearer = {"Authorization": f"Bearer {created.stdout.strip()}"}
    status, headers, body = served.fetch(served.url("/api/v1/stats?days=7"), bearer)
    assert status == 200 and headers["Cache-Control"] == "no-store"
    (figure,) = json.loads(body)["feeds"]
    assert figure["feed"] == FEED and figure["subscribers"] == 2375 + 8 + 2
    assert figure["parts"] == {"reported": 2383, "others": 2, "websub": 0, "partners": 0}
    assert (figure["polls"], figure["not_modified"]) == (9, 6)
    assert served.fetch(served.url("/api/v1/stats"))[0] == 401
    publish = served.feeds("token", "create", "--name", "desk", "--scope", "publish")
    wrong = {"Authorization": f"Bearer {publish.stdout.strip()}"}
    assert served.fetch(served.url("/api/v1/stats"), wrong)[0] == 401
    status, _, body = served.fetch(served.url("/api/v1/stats?days=0&feed=x"), bearer)
    detail = json.loads(body)["detail"]
    assert status == 400 and "days:" in detail and "feed:" in detail
    assert served.fetch(served.url("/api/v1/stats?feed=/feeds/none.xml"), bearer)[0] == 404
    unknown = served.feeds("stats", "--feed", "/feeds/none.xml")
    assert unknown.returncode == 1 and "was not polled" in unknown.stderr


def test_no_address_is_stored_anywhere(served: Served) -> None:
    """Promise 18: every table dumped, and neither client's address is in it, nor its
    network; the other clients are hashes."""
    stats_lines(served, 9)
    engine = sa.create_engine(served.env["FEEDS_DATABASE"])
    with engine.connect() as conn:
        dumped = "\n".join(
            repr(tuple(row))
            for table in sa.inspect(conn).get_table_names()
            for row in conn.execute(sa.text(f"SELECT * FROM {table}"))
        )
    engine.dispose()
    assert "Miniflux" in dumped  # the dump holds the figures
    for secret in (ADDRESS, ADDRESS6, "2001:db8:77:5", "198.51.100"):
        assert secret not in dumped


def test_a_worker_that_exits_writes_what_it_counted(tmp_path: Path) -> None:
    site = start_server(tmp_path, {"FEEDS_STATS_FLUSH": "3600"}, name="exiting")
    try:
        for n in range(4):
            poll(site, MINIFLUX, f"192.0.2.{n}")
    finally:
        site.stop()
    ran = site.feeds("stats")
    assert ran.returncode == 0, ran.stderr
    assert "\t4 polls\t" in ran.stdout and "\tMiniflux\t4\tcounted" in ran.stdout


def test_a_hostile_user_agent_does_not_stop_a_workers_counting(served: Served) -> None:
    """A figure past any column, and one past PostgreSQL's integer, from one client: the
    worker that counted them writes them as polls, and goes on counting."""
    ran = served.feeds("stats", "--feed", FEED)
    before = int(ran.stdout.split("\t")[3].split()[0]) if ran.returncode == 0 else 0
    hostile = ("Bot/1 99999999999999999999 subscribers", "Bot/1 3,000,000,000 subscribers")
    for n, agent in enumerate(hostile, 1):
        for _ in range(4):  # both workers, most likely
            poll(served, agent, "198.51.100.66")
        stats_lines(served, before + 4 * n)  # each written apart
    poll(served, MINIFLUX, "198.51.100.67")
    stats_lines(served, before + 9)  # still counting after the hostile ones were written
    log = served.log.read_text()
    assert "Exception in thread audience" not in log, log[-1500:]
    assert "audience:" not in log, log[-1500:]


def test_a_bad_feed_or_a_parameter_given_twice_is_a_400_naming_it(served: Served) -> None:
    created = served.feeds("token", "create", "--name", "checker", "--scope", "stats")
    bearer = {"Authorization": f"Bearer {created.stdout.strip()}"}
    for query, name in (
        ("feed=/feeds/%00x", "feed"),
        ("feed=/feeds/%FF.xml", "feed"),
        ("feed=/feeds//rss.xml", "feed"),
        ("days=7&days=8", "days"),
        (f"feed={FEED}&feed={FEED}", "feed"),
    ):
        status, headers, body = served.fetch(served.url(f"/api/v1/stats?{query}"), bearer)
        assert status == 400, (query, body)
        assert headers["Content-Type"].startswith("application/problem+json")
        assert json.loads(body)["detail"].startswith(f"{name}: "), (query, body)
    bad = served.feeds("stats", "--feed", "/feeds/\x01x")
    assert bad.returncode == 2 and "/feeds/rss.xml" in bad.stderr
