"""Push: the built-in WebSub hub (`feeds hub run`, a process of its own, beside `feeds serve
--no-hub` over a 1,000-article store) delivering the change of one article to 1, 100 and
1,000 subscribers of the site's Atom feed, which bench/subscribers.py receives on loopback.

Each change is an API PUT through the server; its commit instant is when the PUT's 2xx
answer arrived (the commit came a little before: the figures err long, by the answer's
trip). Subscriptions are made directly in the store (a verified subscription, as the hub
makes one). Then warm polls of the site feed with wrk, with the hub idle and while changes
are delivered to every subscriber; the callback server's own capacity (wrk POSTing the
delivered document), to show it was not what bound the deliveries; and the hub worker's
peak resident memory.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feeds.store import Store

from .. import servers, wrk
from ..plan import DATA, LOGS, ROOT
from ..results import Row, Target, ms, percentile, rate
from ..servers import Running
from ..subscribers import MARKER
from .answers import FEED, GZIP, expect, gunzip, item_ids
from .run import Bench, BenchError, say
from .store import RSS_REFERENCE_MB, feeds_command, import_store, serve_feeds

TOPIC = "/feeds/atom.xml"
CALLBACK_PORTS = 4  # the subscribers' callbacks are spread over this many ports
FIRST_MS = 250.0  # targets: the first delivery this soon after the commit
ALL_MS = 2000.0  # and the last one of 1,000
WAIT_S = 60.0  # the longest wait for one change's deliveries
# While wrk polls, the next change comes after this at the latest: a delivery that failed
# waits for its retry (FEEDS_HUB_RETRY, 30 s), and deliveries must go on meanwhile.
POLLED_WAIT_S = 15.0
LEASE_S = 86_400
PAUSE_S = (0.05, 0.15)  # between two changes, drawn at random: changes fall at any phase
BUSY_CALLBACKS = 0.8  # a callback server busier than this (share of a CPU) may have bound


def first_name(count: int) -> str:
    what = "delivery" if count == 1 else "first delivery"
    return f"push: {what} after an API PUT ({_subscribers(count)})"


def last_name(count: int) -> str:
    return f"push: last delivery after an API PUT ({_subscribers(count)})"


def _subscribers(count: int) -> str:
    return f"{count:,} subscriber{'s' if count != 1 else ''}"


@dataclass(frozen=True)
class Delivered:
    """One change: when its PUT was answered, and its deliveries' arrivals after that."""

    change: int
    subscribers: int
    put_ms: float  # the PUT, from sending it to its answer
    first_ms: float | None  # from the PUT's answer to the first delivery's arrival
    last_ms: float | None
    received: int  # deliveries of this change that arrived (at most one a subscriber)

    @property
    def complete(self) -> bool:
        return self.received == self.subscribers

    @property
    def per_second(self) -> float | None:
        """Deliveries a second, from the first arrival to the last."""
        if self.first_ms is None or self.last_ms is None or self.received < 2:
            return None
        return (self.received - 1) / max((self.last_ms - self.first_ms) / 1e3, 1e-6)


def spans(change: int, subscribers: int, put_ms: float, committed_ns: int, found: Any) -> Delivered:
    """A change's Delivered from the subscribers' arrivals [arrival_ns, callback, bytes]."""
    firsts: dict[int, int] = {}
    for arrived, callback, _size in found:
        firsts[callback] = min(arrived, firsts.get(callback, arrived))
    times = [(arrived - committed_ns) / 1e6 for arrived in firsts.values()]
    return Delivered(
        change,
        subscribers,
        put_ms,
        min(times) if times else None,
        max(times) if times else None,
        len(firsts),
    )


class Stack:
    """The server, the hub worker, the subscribers and the article that changes."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.port = servers.free_port()
        root, database, env = import_store(bench, "push-1k", bench.store_spec, self.port)
        self.env = env | {"FEEDS_HUB_ALLOW_LOOPBACK": "1"}
        self.store = Store(env["FEEDS_DATABASE"])
        self.token = _printed(self.env, "token", "create", "--name", "bench", "--scope", "publish")
        self.subscribed = 0
        self.changes = 0
        procs = bench.procs
        self.feeds = self._serve(database, root)
        self.callback_ports = [servers.free_port() for _ in range(CALLBACK_PORTS)]
        self.callbacks = procs.start(
            "subscribers",
            [sys.executable, "-m", "bench.subscribers", "--ports", _joined(self.callback_ports)],
            env=self.env,
            port=self.callback_ports[0],
            log=LOGS / "subscribers-push.log",
            ready_path="/healthz",
            cwd=ROOT,
        )
        self.worker = procs.start(
            "feeds hub run",
            [*feeds_command(), "hub", "run"],
            env=self.env,
            port=0,
            log=LOGS / "hub-push-1k.log",
            ready_path=None,
            cwd=ROOT,
        )
        say(f"hub worker pid {self.worker.pid}; subscribers on ports {self.callback_ports}")
        feed = expect(servers.get(self.port, FEED, GZIP), 200, FEED, gzipped=True)
        ids = item_ids(gunzip(feed).decode())
        if not ids:
            raise BenchError(f"{FEED} has no items")
        self.article_id = ids[0]
        shown = expect(self._api("GET", None), 200, f"GET of article {self.article_id}")
        self.article = json.loads(shown.body)

    def _serve(self, database: Path, root: Path) -> Running:
        """`feeds serve --no-hub`; on another port when another process took the one
        picked meanwhile (the import takes a while)."""
        tries = 3
        while True:
            try:
                return serve_feeds(self.bench, "push-1k", database, root, self.port, self.env)
            except servers.ServerError as e:
                tries -= 1
                if "in use" not in str(e) or not tries:
                    raise
            self.port = servers.free_port()
            self.env["FEEDS_BASE_URL"] = f"http://127.0.0.1:{self.port}"

    @property
    def topic(self) -> str:
        return self.env["FEEDS_BASE_URL"] + TOPIC

    @property
    def beside(self) -> list[int]:
        return [self.worker.pid, self.callbacks.pid]

    def _api(self, method: str, body: bytes | None) -> servers.Answer:
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        path = f"/api/v1/articles/{self.article_id}"
        return servers.request(self.port, method, path, headers, body)

    def subscribe(self, count: int) -> None:
        """Subscribers 0 to count - 1 of the site's Atom feed, their callbacks spread over
        the callback ports."""
        now = datetime.now(UTC)
        with self.store.hub() as hub:
            for number in range(self.subscribed, count):
                port = self.callback_ports[number % len(self.callback_ports)]
                callback = f"http://127.0.0.1:{port}/cb/{number}"
                hub.subscribe(self.topic, callback, None, LEASE_S, None, now)
        self.subscribed = max(self.subscribed, count)

    def change(self) -> tuple[int, float, int]:
        """PUT the article with one more paragraph naming a new change: the change's
        number, how long the PUT took and the instant its answer arrived."""
        self.changes += 1
        number = self.changes
        fields = {
            name: value
            for name, value in self.article.items()
            if name not in {"id", "url", "tag", "revision", "updated"}
        }
        fields["text"] = f"{self.article['text']}\nRevised: {MARKER.decode()}{number}."
        started = time.monotonic_ns()
        answer = self._api("PUT", json.dumps(fields).encode())
        committed = time.monotonic_ns()
        if not 200 <= answer.status < 300:
            raise BenchError(f"PUT of article {self.article_id}: {answer.status} {answer.body!r}")
        return number, (committed - started) / 1e6, committed

    def delivered(self, count: int, wait: float = WAIT_S) -> Delivered:
        """Make a change and wait for its deliveries to `count` subscribers, `wait` s at
        most."""
        number, put_ms, committed = self.change()
        query = f"/wait?change={number}&count={count}&timeout={wait:g}"
        answer = servers.get(self.callback_ports[0], query, timeout=wait + 30)
        expect(answer, 200, "the subscribers' /wait")
        return spans(number, count, put_ms, committed, json.loads(answer.body))

    def close(self) -> None:
        self.store.close()


def push(bench: Bench) -> None:
    plan = bench.plan
    top = plan.push_subscribers[-1]
    bench.promised += [first_name(top), last_name(top)]
    earlier = list(bench.procs.running)
    try:
        stack = Stack(bench)
        try:
            _measure(bench, stack)
        finally:
            stack.close()
    finally:  # the hub worker, the subscribers and the server: none may outlive the part
        for server in [s for s in bench.procs.running if s not in earlier]:
            bench.procs.stop(server)


def _measure(bench: Bench, stack: Stack) -> None:
    plan = bench.plan
    rng = random.Random(15)
    found: dict[str, Any] = {"commit": "the PUT's 2xx answer", "subscribers": {}}
    bench.measured["push"] = found
    stack.subscribe(1)
    warm = stack.delivered(1)  # the worker's first change renders the feed from nothing
    if not warm.complete:
        raise BenchError(f"the hub delivered no change to a subscriber within {WAIT_S:g} s")
    found["warm_up"] = asdict(warm)
    idle = _cpu_shares(stack, lambda: time.sleep(2.0))
    found["idle_cpu_share"] = idle
    for count in plan.push_subscribers:
        stack.subscribe(count)
        stack.delivered(count)  # unmeasured: the first delivery to the new subscribers
        done: list[Delivered] = []

        def rounds(count: int = count, done: list[Delivered] = done) -> None:
            for _ in range(plan.push_changes):
                time.sleep(rng.uniform(*PAUSE_S))
                done.append(stack.delivered(count))

        shares = _cpu_shares(stack, rounds)
        found["subscribers"][str(count)] = {
            "changes": [asdict(d) for d in done],
            "cpu_share": shares,
            "worker_peak_rss_mb": servers.resident_mb(stack.worker.pid, "VmHWM"),
        }
        _report(bench, count, done, shares)
    quiet, busy = polls(bench, stack, top=plan.push_subscribers[-1])
    capacity = callback_capacity(bench, stack)
    _rows(bench, stack, capacity)
    _poll_rows(bench, quiet, busy, plan.push_subscribers[-1])


def _cpu_shares(stack: Stack, action: Any) -> dict[str, float]:
    """Run `action`; the share of one CPU the hub worker and the callback server took."""
    before, start = servers.cpu_seconds(stack.beside), time.monotonic()
    action()
    wall = max(time.monotonic() - start, 1e-9)
    after = servers.cpu_seconds(stack.beside)
    used = {pid: after.get(pid, 0.0) - before.get(pid, 0.0) for pid in stack.beside}
    return {
        "seconds": wall,
        "hub_worker": used[stack.worker.pid] / wall,
        "callbacks": used[stack.callbacks.pid] / wall,
    }


def _report(bench: Bench, count: int, done: Sequence[Delivered], shares: dict[str, float]) -> None:
    missing = [d for d in done if not d.complete]
    if missing:
        bench.notes.append(
            f"push ({_subscribers(count)}): {len(missing)} of {len(done)} changes reached "
            f"only {min(d.received for d in missing)} of them within {WAIT_S:g} s"
        )
    firsts = [d.first_ms for d in done if d.first_ms is not None]
    lasts = [d.last_ms for d in done if d.last_ms is not None and d.complete]
    say(
        f"push to {_subscribers(count)}: first p50 {ms(percentile(firsts, 0.5))}, "
        f"p99 {ms(percentile(firsts, 0.99))}; last p50 {ms(percentile(lasts, 0.5))}, "
        f"p99 {ms(percentile(lasts, 0.99))}; PUT p50 "
        f"{ms(percentile([d.put_ms for d in done], 0.5))}; CPU of one: hub worker "
        f"{shares['hub_worker']:.0%}, callbacks {shares['callbacks']:.0%}"
    )
    if shares["callbacks"] > BUSY_CALLBACKS:
        bench.notes.append(
            f"push ({_subscribers(count)}): the callback server was busy "
            f"{shares['callbacks']:.0%} of a CPU: it may have bound the deliveries"
        )


class _Changes(threading.Thread):
    """Changes, each delivered to `count` subscribers before the next, until stopped."""

    def __init__(self, stack: Stack, count: int) -> None:
        super().__init__(daemon=True)
        self.stack, self.count = stack, count
        self.stop = threading.Event()
        self.done: list[Delivered] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.done.append(self.stack.delivered(self.count, POLLED_WAIT_S))
        except BaseException as e:  # noqa: BLE001 - reported by polls(), which joins us
            self.error = e


def polls(bench: Bench, stack: Stack, top: int) -> tuple[wrk.WrkResult, wrk.WrkResult]:
    """wrk on the warm site feed with the hub idle, then while changes are delivered."""
    quiet = bench.drive("feed-gzip-hub-idle", stack.feeds, FEED, GZIP, beside=stack.beside)
    changes = _Changes(stack, top)
    changes.start()
    try:
        busy = bench.drive("feed-gzip-delivering", stack.feeds, FEED, GZIP, beside=stack.beside)
    finally:
        changes.stop.set()
        changes.join(WAIT_S + 60)
    if changes.error is not None:
        raise BenchError(f"changes while wrk polled: {changes.error}") from changes.error
    bench.measured["push"]["while_polled"] = [asdict(d) for d in changes.done]
    return quiet, busy


def _poll_rows(bench: Bench, quiet: wrk.WrkResult, busy: wrk.WrkResult, top: int) -> None:
    done = [Delivered(**d) for d in bench.measured["push"]["while_polled"]]
    bench.rows.append(
        Row.of_run(
            "site feed, warm, gzip, hub idle (push store)",
            f"{rate(quiet.rps)} req/s",
            quiet,
            reference="reference of polls while delivering",
        )
    )
    row = bench.wrk_row(f"same, while delivering to {_subscribers(top)}", busy, quiet, "hub idle")
    delivered = sum(d.received for d in done)
    changes = f"{len(done)} change{'s' if len(done) != 1 else ''}"
    row.figure = f"{rate(busy.rps)} req/s; {delivered:,} deliveries of {changes} meanwhile"


def callback_capacity(bench: Bench, stack: Stack) -> wrk.WrkResult:
    """wrk POSTing the delivered document to one callback: what the callback server takes."""
    answer = expect(servers.get(stack.port, TOPIC), 200, TOPIC, gzipped=False)
    body = DATA / "push" / "atom.xml"
    body.parent.mkdir(parents=True, exist_ok=True)
    body.write_bytes(answer.body)
    script = wrk.post_script(DATA / "push" / "post.lua", body, "application/atom+xml")
    port = stack.callback_ports[0]
    result = bench.drive("callbacks-post", stack.callbacks, "/cb/0", port=port, script=script)
    expect(servers.request(port, "DELETE", "/arrivals"), 204, "DELETE /arrivals")
    bench.measured["push"]["document_bytes"] = len(answer.body)
    return result


def _rows(bench: Bench, stack: Stack, capacity: wrk.WrkResult) -> None:
    plan = bench.plan
    found = bench.measured["push"]["subscribers"]
    top = plan.push_subscribers[-1]
    for count in plan.push_subscribers:
        done = [Delivered(**d) for d in found[str(count)]["changes"]]
        firsts = [d.first_ms for d in done if d.first_ms is not None]
        bench.rows.append(_latency(first_name(count), firsts, FIRST_MS, judged=True))
        if count > 1:
            lasts = [d.last_ms for d in done if d.last_ms is not None and d.complete]
            lasts += [math.inf] * sum(not d.complete for d in done)
            bench.rows.append(_latency(last_name(count), lasts, ALL_MS, judged=count == top))
    done = [Delivered(**d) for d in found[str(top)]["changes"]]
    rates = [d.per_second for d in done if d.per_second is not None]
    if rates:
        median_rate = percentile(rates, 0.5)
        bench.rows.append(
            Row(
                f"push: deliveries/s ({_subscribers(top)})",
                f"{rate(median_rate)}/s (median of {len(rates)} changes)",
                ratio=median_rate / capacity.rps if capacity.rps else None,
                reference=f"callback server {rate(capacity.rps)} req/s",
            )
        )
    bench.rows.append(
        Row.of_run(
            "push: callback server, wrk POST of the feed",
            f"{rate(capacity.rps)} req/s",
            capacity,
            reference="reference of deliveries/s",
        )
    )
    peak = servers.resident_mb(stack.worker.pid, "VmHWM")
    if peak is None:
        raise BenchError(f"the hub worker (pid {stack.worker.pid}) is gone")
    bench.measured["push"]["worker_peak_rss_mb"] = peak
    bench.rows.append(
        Row(
            "push: hub worker's peak resident memory",
            f"{peak:.1f} MB",
            ratio=peak / RSS_REFERENCE_MB,
            reference=f"{RSS_REFERENCE_MB:.0f} MB",
        )
    )


def _latency(name: str, values: Sequence[float], bound_ms: float, judged: bool) -> Row:
    """A row of p50 and p99 (nearest rank) of `values` in ms, the p99 against `bound_ms`."""
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    return Row(
        name,
        f"p99 {ms(p99)} of {len(values)}",
        p50=p50,
        p99=p99,
        ratio=p99 / bound_ms if judged else None,
        reference=f"{bound_ms:g} ms" if judged else "",
        target=Target("<=", 1) if judged else None,
    )


def _printed(env: dict[str, str], *args: str) -> str:
    """The last line `feeds ARGS` printed."""
    done = subprocess.run(
        [*feeds_command(), *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"feeds {' '.join(args)} exited {done.returncode}: {done.stderr}")
    lines = done.stdout.strip().splitlines() or [""]
    return lines[-1]


def _joined(ports: Sequence[int]) -> str:
    return ",".join(map(str, ports))
