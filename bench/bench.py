"""`make bench`: how fast feeds imports and serves, each figure as a ratio to a reference
measured in the same run on the same machine.

- ingest: `feeds import` of 100,000 full-size articles into a fresh SQLite store, three
  times (the median articles/s, against 5,000/s);
- the ceiling: a Flask app answering `hi` under the very gunicorn options of `feeds serve`;
- warm feeds of a 1,000-article store, with wrk: the site feed gzipped and plain, a 304
  revalidation, a section feed and an archive (requests/s against the ceiling's);
- cold render: the first request of the site feed after `feeds import` changed one of its
  articles (against feedgen building the same 50 entries in-process);
- scale: the same store grown to 1,000,000 articles (its site feed carries the same 50
  entries): warm p50 and cold render against the 1,000-article store's, and the largest
  gunicorn worker's resident memory (against 150 MB);
- with --nginx: the site feed through deploy/nginx.conf's caching proxy against the same
  nginx serving the same bytes from a file.

Generated corpora and stores live in bench/data/ (corpora are reused when their parameters
match); results go to bench/results.json and bench/results.md. Exit status: 0 when the run
completed (missed targets are listed, and with --check make it 1), 1 when a measurement
failed, 2 when wrk (or nginx, with --nginx) is missing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from html import escape
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import corpus
import nginx
import servers
import wrk
from corpus import Spec
from feedgen.feed import FeedGenerator
from servers import Answer, Processes, Running

from feeds.config import load_settings
from feeds.ingest.textfile import parse_article
from feeds.model import ParsedArticle
from feeds.server import gunicorn_options

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
LOGS = DATA / "logs"
RESULTS_JSON = HERE / "results.json"
RESULTS_MD = HERE / "results.md"

INGEST_REFERENCE = 5000.0  # articles/s
RSS_REFERENCE_MB = 150.0
FEED = "/feeds/rss.xml"
SECTION = "world"
GZIP = {"Accept-Encoding": "gzip"}

# The rows that carry a target, by name.
WARM_GZIP = "site feed, warm, gzip (1k)"
REVALIDATE = "site feed, 304 revalidation"
COLD_1K = "cold render: first request after an import (1k)"


def ingest_name(count: int) -> str:
    return f"ingest: feeds import of {count:,} full articles"


def scale_p50_name(count: int) -> str:
    return f"site feed, warm, gzip, p50 ({count:,})"


def scale_rss_name(count: int) -> str:
    return f"largest worker's resident memory ({count:,})"


@dataclass(frozen=True)
class Plan:
    """Sizes and durations of one run."""

    store: int = 1000
    ingest: int = 100_000
    million: int = 1_000_000
    seconds: float = 10.0
    warmup: float = 2.0
    cold_runs: int = 15
    ingest_runs: int = 3  # the ingest's median counts
    feedgen_runs: int = 15
    settle: float = 1.5  # workers notice a change in the store within one second
    stale_wait: float = 5.0  # then how long to keep asking a server that has not noticed
    retries: int = 2  # more wrk runs when a run is disturbed (see Bench.drive)
    workers: int = 2
    skip_million: bool = False
    reuse_million: bool = False
    with_nginx: bool = False


@dataclass(frozen=True)
class Target:
    """A bound on a ratio: at least (>=) or at most (<=) `bound`."""

    op: str
    bound: float

    def met(self, ratio: float) -> bool:
        return ratio >= self.bound if self.op == ">=" else ratio <= self.bound

    def __str__(self) -> str:
        return f"{'≥' if self.op == '>=' else '≤'} {self.bound:g}"


@dataclass
class Row:
    """One line of the results table."""

    name: str
    figure: str
    rps: float | None = None
    p50: float | None = None
    p99: float | None = None
    errors: int | None = None
    ratio: float | None = None
    reference: str = ""
    target: Target | None = None

    @classmethod
    def of_run(cls, name: str, figure: str, run: wrk.WrkResult, **rest: Any) -> Row:
        """A row for a wrk run: its requests/s, latencies and errors, and `rest`."""
        return cls(name, figure, rps=run.rps, p50=run.p50, p99=run.p99, errors=run.errors, **rest)

    @property
    def ok(self) -> bool | None:
        if self.target is None or self.ratio is None:
            return None
        return self.target.met(self.ratio)

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "MISS", None: ""}[self.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "figure": self.figure,
            "requests_per_s": self.rps,
            "p50_ms": self.p50,
            "p99_ms": self.p99,
            "errors": self.errors,
            "ratio": self.ratio,
            "reference": self.reference,
            "target": str(self.target) if self.target else None,
            "pass": self.ok,
        }


OTHERS_NOTED = 0.05  # a share of the machine's CPU that other processes may take unremarked
RETRY_PAUSE = 5.0  # seconds between a disturbed wrk run and the next attempt
UNEVEN = 0.25  # unevenly loaded: a worker did less than this share of the busiest one's work


def _own_cpu() -> float:
    """CPU time of this process and of its waited-for children (wrk, imports)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + waited.ru_utime + waited.ru_stime


def _uneven(shares: dict[str, Any]) -> bool:
    """Whether one worker did (nearly) all the work while another idled."""
    workers: list[float] = shares.get("workers_of_one_cpu", [])
    return len(workers) > 1 and min(workers) < UNEVEN * max(workers)


def _disturbance(shares: dict[str, Any]) -> str:
    """What made a wrk run unrepresentative, or ''."""
    found = []
    if shares["other_processes"] > OTHERS_NOTED:
        found.append(f"other processes took {shares['other_processes']:.0%} of the CPU")
    if _uneven(shares):
        loads = "/".join(f"{share:.0%}" for share in shares["workers_of_one_cpu"])
        found.append(f"the workers were unevenly loaded ({loads} of a CPU)")
    return "; ".join(found)


class BenchError(RuntimeError):
    """A measurement could not be made, or the server answered something unexpected."""


_STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def rate(value: float) -> str:
    return f"{value:,.0f}"


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def feeds_command() -> list[str]:
    script = Path(sys.executable).parent / "feeds"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from feeds.cli import main; main()"]


def feeds_env(database: Path, content: Path, port: int, workers: int) -> dict[str, str]:
    """The environment of every feeds process: this one's without FEEDS_*, plus the bench's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env |= {
        "FEEDS_DATABASE": f"sqlite:///{database}",
        "FEEDS_BASE_URL": f"http://127.0.0.1:{port}",
        "FEEDS_CONTENT": str(content),
        "FEEDS_WORKERS": str(workers),
    }
    return env


def fresh_database(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


_SUMMARY = re.compile(r"(\d+) added, (\d+) updated, (\d+) unchanged, (\d+) rejected")


@dataclass(frozen=True)
class ImportRun:
    seconds: float
    added: int
    updated: int
    unchanged: int
    rejected: int
    peak_rss_mb: float
    log: str


def run_import(env: dict[str, str], paths: Sequence[Path], log: Path) -> ImportRun:
    """`feeds import PATHS` in a subprocess: its wall time, summary and peak memory."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            [*feeds_command(), "import", *map(str, paths)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    found = _SUMMARY.search(text)
    if found is None:
        tail = "\n".join(text.splitlines()[-20:])
        raise BenchError(f"feeds import exited with {process.returncode}, no summary:\n{tail}")
    added, updated, unchanged, rejected = map(int, found.groups())
    if rejected:
        raise BenchError(f"feeds import rejected {rejected} generated files; see {log}")
    return ImportRun(
        seconds, added, updated, unchanged, rejected, usage.ru_maxrss * 1024 / 1e6, str(log)
    )


def gunzip(answer: Answer) -> bytes:
    if answer.header("Content-Encoding") == "gzip":
        return gzip.decompress(answer.body)
    return answer.body


_LINK_ELEMENT = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?link\b([^>]*?)/?>")
_ATTRIBUTE = re.compile(r'([\w:.-]+)="([^"]*)"')
_ITEM_LINK = re.compile(r"<link>[^<]*/articles/([^<]+)</link>")


def history_link(xml: str, rel: str) -> str | None:
    """The path of the RFC 5005 link `rel` (e.g. prev-archive) of an RSS document."""
    for element in _LINK_ELEMENT.finditer(xml):
        attributes: dict[str, str] = dict(_ATTRIBUTE.findall(element.group(1)))
        if attributes.get("rel") == rel and "href" in attributes:
            return urlsplit(attributes["href"].replace("&amp;", "&")).path
    return None


def item_ids(xml: str) -> list[str]:
    """The article ids of an RSS document's items, in document order."""
    return _ITEM_LINK.findall(xml)


def expect(answer: Answer, status: int, what: str, gzipped: bool | None = None) -> Answer:
    if answer.status != status:
        raise BenchError(f"{what}: expected {status}, got {answer.status}")
    encoding = answer.header("Content-Encoding")
    if gzipped is True and encoding != "gzip":
        raise BenchError(f"{what}: expected Content-Encoding: gzip, got {encoding!r}")
    if gzipped is False and encoding is not None:
        raise BenchError(f"{what}: expected no Content-Encoding, got {encoding!r}")
    return answer


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def corpus_root(spec: Spec) -> Path:
    kind = "full" if spec.full >= spec.count else f"mixed{spec.full}"
    return DATA / "corpus" / f"{kind}-{spec.count}{'-nested' if spec.nested else ''}"


def make_corpus(spec: Spec) -> Path:
    root = corpus_root(spec)
    start = time.perf_counter()
    if corpus.write_corpus(root, spec, workers=os.cpu_count() or 1):
        say(f"generated {spec.count:,} articles in {root} ({time.perf_counter() - start:.0f} s)")
    else:
        say(f"reusing {root} ({spec.count:,} articles)")
    return root


def newest_articles(root: Path, spec: Spec, zone: ZoneInfo, count: int) -> list[ParsedArticle]:
    """The `count` newest articles of a corpus, parsed by the project's parser, in the order
    of the site feed (published time descending, then id)."""
    parsed = []
    for generated in corpus.articles(spec):
        relative = generated.relative_path(spec.nested)
        data = (root / relative).read_bytes()
        parsed.append(parse_article(data, str(relative), generated.id, generated.section, zone))
    parsed.sort(key=lambda a: a.id)
    parsed.sort(key=lambda a: a.published, reverse=True)
    return parsed[:count]


def feedgen_rss(entries: Sequence[ParsedArticle], base_url: str) -> bytes:
    """The reference render: feedgen alone, 50 entries with id, title, link, published,
    updated, description and content:encoded (full HTML)."""
    fg = FeedGenerator()
    fg.id(base_url + "/")
    fg.title("Newsroom")
    fg.link(href=base_url + FEED, rel="self", type="application/rss+xml")
    fg.link(href=base_url + "/", rel="alternate")
    fg.description("The latest articles from the newsroom.")
    fg.language("en-GB")
    fg.updated(max(a.updated for a in entries))
    for article in entries:
        fe = fg.add_entry(order="append")
        fe.id(f"tag:127.0.0.1,2026-01-01:{article.id}")
        fe.title(article.title)
        fe.link(href=f"{base_url}/articles/{article.id}", rel="alternate", type="text/html")
        fe.published(article.published)
        fe.updated(article.updated)
        fe.description(escape(article.paragraphs[0], quote=False))
        html = "\n".join(f"<p>{escape(p, quote=False)}</p>" for p in article.paragraphs)
        fe.content(html, type="html")
        if article.section:
            fe.category(term=article.section)
    data: bytes = fg.rss_str(pretty=True, encoding="UTF-8")
    return data


class Bench:
    def __init__(
        self, plan: Plan, load: wrk.Load, wrk_bin: str, nginx_bin: str | None, procs: Processes
    ) -> None:
        self.plan = plan
        self.load = load
        self.wrk_bin = wrk_bin
        self.nginx_bin = nginx_bin
        self.procs = procs
        self.rows: list[Row] = []
        self.promised: list[str] = []  # rows with a target that this run set out to measure
        self.errors: list[str] = []
        self.notes: list[str] = []
        self.measured: dict[str, Any] = {}
        self.settings: dict[str, Any] = {}
        self.store_spec = Spec(plan.store, plan.store)

    # -- helpers -------------------------------------------------------------------------

    def phase(self, name: str, action: Callable[[], None]) -> None:
        """Run one phase; a failure is recorded and the run goes on with the next phase."""
        say(f"== {name}")
        try:
            action()
        except (BenchError, servers.ServerError, wrk.WrkError, OSError, RuntimeError) as e:
            message = f"{name}: {e}"
            self.errors.append(message)
            say(f"FAILED {message}")

    def drive(
        self,
        key: str,
        server: Running,
        path: str,
        headers: dict[str, str] | None = None,
        port: int | None = None,
    ) -> wrk.WrkResult:
        """Warm up, then measure `path` on `server` (at `port`, default its own) with wrk;
        keeps the report under bench/data/logs/.

        A run is disturbed when other processes of the machine took CPU meanwhile, or when
        the server's workers did not share the load (one worker took every connection); such
        a run is made again, up to `retries` times, and the least disturbed one counts. Every
        attempt is kept in the results, and what disturbed the kept one is noted."""
        url = f"http://127.0.0.1:{port or server.port}{path}"
        if self.plan.warmup > 0:
            wrk.run(self.wrk_bin, url, self.load, headers, seconds=self.plan.warmup)
        say(f"wrk {key}: {url} {headers or ''}")
        pids = servers.tree(server.pid)
        runs = [self._wrk_once(url, headers, pids)]
        while _disturbance(runs[-1][2]) and len(runs) <= self.plan.retries:
            say(f"   again: {_disturbance(runs[-1][2])} (req/s {rate(runs[-1][0].rps)})")
            time.sleep(RETRY_PAUSE)
            runs.append(self._wrk_once(url, headers, pids))
        result, report, shares = min(
            runs, key=lambda run: (_uneven(run[2]), run[2]["other_processes"])
        )
        LOGS.mkdir(parents=True, exist_ok=True)
        (LOGS / f"wrk-{key}.txt").write_text(report)
        self.measured.setdefault("wrk", {})[key] = result.to_json() | {
            "url": url,
            "headers": headers or {},
            "cpu_share": shares,
            "attempts": [
                {"rps": run[0].rps, "p50_ms": run[0].p50, "cpu_share": run[2]} for run in runs
            ],
        }
        say(
            f"   {rate(result.rps)} req/s, p50 {ms(result.p50)}, p99 {ms(result.p99)}, "
            f"{result.errors} errors; CPU: server {shares['server']:.0%}, "
            f"wrk {shares['wrk_and_bench']:.0%}, other processes "
            f"{shares['other_processes']:.0%}; workers "
            + "/".join(f"{share:.0%}" for share in shares["workers_of_one_cpu"])
            + " of a CPU"
        )
        if result.errors:
            self.notes.append(f"{key}: wrk counted {result.errors} errors")
        uneven = sum(_uneven(run[2]) for run in runs)
        if uneven:
            self.notes.append(
                f"{key}: in {uneven} of {len(runs)} wrk runs one gunicorn worker took (nearly) "
                "every connection while another idled"
            )
        disturbance = _disturbance(shares)
        if disturbance:
            self.notes.append(f"{key}: the figures kept are of a disturbed run: {disturbance}")
        return result

    def _wrk_once(
        self, url: str, headers: dict[str, str] | None, pids: list[int]
    ) -> tuple[wrk.WrkResult, str, dict[str, Any]]:
        """One wrk run, and the shares of the machine's CPU that the server, wrk (with this
        process) and every other process took meanwhile."""
        busy, each, own, start = (
            servers.busy_seconds(),
            servers.cpu_seconds(pids),
            _own_cpu(),
            time.monotonic(),
        )
        result, report = wrk.run(self.wrk_bin, url, self.load, headers)
        wall = time.monotonic() - start
        own = _own_cpu() - own
        busy = servers.busy_seconds() - busy
        used = {
            pid: seconds - each.get(pid, 0.0) for pid, seconds in servers.cpu_seconds(pids).items()
        }
        ours = sum(used.values())
        capacity = max(wall * len(os.sched_getaffinity(0)), 1e-9)
        shares = {
            "server": ours / capacity,
            "wrk_and_bench": own / capacity,
            "other_processes": max(0.0, busy - ours - own) / capacity,
            # Each worker's share of one CPU: uneven shares mean the connections were not
            # spread evenly over the workers.
            "workers_of_one_cpu": [used[pid] / wall for pid in pids[1:] if pid in used],
        }
        return result, report, shares

    def wrk_row(
        self,
        name: str,
        result: wrk.WrkResult,
        reference: wrk.WrkResult | None,
        reference_name: str,
        target: Target | None = None,
    ) -> Row:
        ratio = result.rps / reference.rps if reference and reference.rps else None
        row = Row.of_run(
            name,
            f"{rate(result.rps)} req/s",
            result,
            ratio=ratio,
            reference=f"{reference_name} {rate(reference.rps)} req/s" if reference else "",
            target=target,
        )
        self.rows.append(row)
        return row

    def serve_feeds(
        self, label: str, database: Path, content: Path, port: int, env: dict[str, str]
    ) -> Running:
        bind = f"127.0.0.1:{port}"
        server = self.procs.start(
            f"feeds serve ({label})",
            [*feeds_command(), "serve", "--bind", bind],
            env=env,
            port=port,
            log=LOGS / f"serve-{label}.log",
            ready_path="/healthz",
            cwd=ROOT,
        )
        say(f"feeds serve ({label}) on {bind}, master pid {server.pid}")
        return server

    def import_store(
        self, label: str, spec: Spec, port: int, reuse: bool = False
    ) -> tuple[Path, Path, dict[str, str]]:
        """A fresh store of the corpus `spec`, imported with the CLI, for a server on `port`;
        with `reuse`, the store an earlier run imported, if it is there (and that run's
        import figures)."""
        root = make_corpus(spec)
        database = DATA / "db" / f"{label}.sqlite"
        marker = database.with_suffix(".json")
        env = feeds_env(database, root, port, self.plan.workers)
        if reuse and database.exists():
            try:
                earlier = json.loads(marker.read_text())
            except (OSError, ValueError):
                earlier = None
            if isinstance(earlier, dict) and earlier.get("spec") == asdict(spec):
                say(f"reusing the store {database} imported {earlier['import']['date']}")
                self.measured.setdefault("imports", {})[label] = earlier["import"] | {
                    "reused": True
                }
                return root, database, env
        marker.unlink(missing_ok=True)
        fresh_database(database)
        os.sync()  # what earlier phases wrote is not this import's to flush
        run = run_import(env, [root], LOGS / f"import-{label}.log")
        if run.added != spec.count:
            raise BenchError(f"feeds import of {root} added {run.added} of {spec.count} articles")
        per_second = spec.count / run.seconds
        say(f"imported {spec.count:,} articles in {run.seconds:.1f} s ({rate(per_second)}/s)")
        record = asdict(run) | {
            "articles": spec.count,
            "articles_per_s": per_second,
            "corpus": str(root),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.measured.setdefault("imports", {})[label] = record
        marker.write_text(json.dumps({"spec": asdict(spec), "import": record}, indent=2) + "\n")
        return root, database, env

    # -- phases --------------------------------------------------------------------------

    def store_1k(self) -> None:
        plan = self.plan
        self.promised += [WARM_GZIP, REVALIDATE, COLD_1K]
        port = servers.free_port()
        root, database, env = self.import_store("store-1k", self.store_spec, port)
        settings = load_settings(env)
        self.settings = {
            "feeds": asdict(settings),
            "gunicorn": gunicorn_options(settings, f"127.0.0.1:{port}"),
            "wrk": asdict(self.load) | {"warmup_seconds": plan.warmup},
            "plan": asdict(plan),
        }
        ceiling = self.start_ceiling(env)
        try:
            first = self.drive("ceiling", ceiling, "/")
            feeds = self.serve_feeds("store-1k", database, root, port, env)
        except BaseException:
            self.procs.stop(ceiling)
            raise
        try:
            try:
                paths = self.check_feeds(port, "1k")
                self.measured["paths"] = paths
                warm = self.drive("feed-gzip-1k", feeds, FEED, GZIP)
                plain = self.drive("feed-plain-1k", feeds, FEED)
                revalidate = self.drive(
                    "feed-304-1k", feeds, FEED, GZIP | {"If-None-Match": paths["etag"]}
                )
                section = self.drive("section-gzip-1k", feeds, paths["section"], GZIP)
                archive = self.drive("archive-gzip-1k", feeds, paths["archive"], GZIP)
                # The ceiling again, after the feeds: the higher of its two runs is the reference.
                again = self.drive("ceiling-again", ceiling, "/")
                self.ceiling_memory(ceiling)
            finally:
                self.procs.stop(ceiling)
            top = max(first, again, key=lambda result: result.rps)
            self.rows.append(
                replace(
                    Row.of_run(
                        "ceiling: Flask `hi`, same gunicorn",
                        f"{rate(first.rps)}, then {rate(again.rps)} req/s",
                        top,
                        ratio=1.0,
                        reference="the higher of its runs before and after the feeds'",
                    ),
                    errors=first.errors + again.errors,
                )
            )
            self.wrk_row(WARM_GZIP, warm, top, "ceiling", Target(">=", 0.8))
            self.wrk_row("site feed, warm, no gzip (1k)", plain, top, "ceiling")
            self.wrk_row(REVALIDATE, revalidate, top, "ceiling", Target(">=", 0.9))
            self.wrk_row(f"section feed ({SECTION}), warm, gzip", section, top, "ceiling")
            self.wrk_row("archive document, warm, gzip", archive, top, "ceiling")
            if plan.with_nginx:
                self.phase("nginx in front of the 1k store", lambda: self.nginx_pair(port))
            self.feedgen_reference(root)
            self.phase("cold render (1k)", lambda: self.cold_1k(port, root, env))
            largest = self.worker_memory("1k", feeds)
        finally:
            self.procs.stop(feeds)
        self.rows.append(
            Row(
                "largest worker's resident memory (1k)",
                f"{largest:.1f} MB",
                ratio=largest / RSS_REFERENCE_MB,
                reference=f"{RSS_REFERENCE_MB:.0f} MB",
            )
        )

    def start_ceiling(self, env: dict[str, str]) -> Running:
        """The ceiling: `hi` under the feeds server's gunicorn options (and FEEDS_* settings)."""
        port = servers.free_port()
        server = self.procs.start(
            "ceiling",
            [sys.executable, str(HERE / "ceiling.py"), "--bind", f"127.0.0.1:{port}"],
            env=env,
            port=port,
            log=LOGS / "serve-ceiling.log",
            ready_path="/",
            cwd=ROOT,
        )
        say(f"ceiling on 127.0.0.1:{port}, master pid {server.pid}")
        try:
            answer = expect(servers.get(port, "/"), 200, "ceiling /")
            if answer.body != b"hi":
                raise BenchError(f"the ceiling answered {answer.body[:40]!r}, not b'hi'")
        except BaseException:
            self.procs.stop(server)
            raise
        return server

    def ceiling_memory(self, server: Running) -> None:
        workers = servers.workers_resident_mb(server.pid)
        self.measured.setdefault("worker_rss_mb", {})["ceiling"] = {
            "workers": {str(pid): rss for pid, rss in workers.items()},
            "largest": max(workers.values(), default=None),
        }

    def cold_1k(self, port: int, root: Path, env: dict[str, str]) -> None:
        cold = self.cold_renders("1k", port, root, self.store_spec, env)
        reference = self.measured["feedgen"]["median_ms"]
        self.rows.append(
            Row(
                COLD_1K,
                ms(cold),
                ratio=cold / reference,
                reference=f"feedgen alone, in-process {ms(reference)}",
                target=Target("<=", 3),
            )
        )

    def check_feeds(self, port: int, label: str) -> dict[str, str]:
        """Check what wrk will ask for, and find the archive and the validators to use."""
        first = expect(servers.get(port, FEED, GZIP), 200, f"{FEED} with gzip", gzipped=True)
        etag = first.header("ETag")
        if not etag:
            raise BenchError(f"{FEED} has no ETag")
        xml = gunzip(first).decode()
        ids = item_ids(xml)
        say(f"{FEED}: {len(first.body):,} bytes gzipped, {len(xml):,} plain, {len(ids)} items")
        plain = expect(servers.get(port, FEED), 200, f"{FEED} without gzip", gzipped=False)
        if plain.body.decode() != xml:
            self.notes.append(f"{label}: the plain and gzipped site feeds differ (a change?)")
        not_modified = servers.get(port, FEED, GZIP | {"If-None-Match": etag})
        expect(not_modified, 304, f"{FEED} with If-None-Match: {etag}")
        section = f"/feeds/{SECTION}/rss.xml"
        expect(servers.get(port, section, GZIP), 200, section, gzipped=True)
        archive = history_link(xml, "prev-archive")
        if archive is None:
            raise BenchError(f"{FEED} has no atom:link rel=prev-archive")
        expect(servers.get(port, archive, GZIP), 200, archive, gzipped=True)
        return {
            "etag": etag,
            "section": section,
            "archive": archive,
            "feed_ids": ",".join(ids),
            "gzip_bytes": str(len(first.body)),
            "plain_bytes": str(len(xml.encode())),
        }

    def feedgen_reference(self, root: Path) -> None:
        zone = ZoneInfo("Europe/London")
        entries = newest_articles(root, self.store_spec, zone, 50)
        timings = []
        size = 0
        for _ in range(self.plan.feedgen_runs):
            start = time.perf_counter()
            size = len(feedgen_rss(entries, "http://127.0.0.1:8000"))
            timings.append((time.perf_counter() - start) * 1e3)
        self.measured["feedgen"] = {
            "runs_ms": timings,
            "median_ms": median(timings),
            "entries": len(entries),
            "bytes": size,
        }
        say(f"feedgen alone: median {ms(median(timings))} for {len(entries)} entries, {size:,} B")
        self.rows.append(
            Row(
                "feedgen alone, in-process (50 entries)",
                ms(median(timings)),
                reference="reference of cold render",
            )
        )

    def cold_renders(
        self, label: str, port: int, root: Path, spec: Spec, env: dict[str, str]
    ) -> float:
        """Median time of the first site-feed request after `feeds import` changed one of
        its articles; the article files are restored afterwards."""
        previous = expect(servers.get(port, FEED, GZIP), 200, FEED, gzipped=True)
        newest = item_ids(gunzip(previous).decode())
        if not newest:
            raise BenchError(f"{FEED} has no items")
        etag = previous.header("ETag")
        runs: list[dict[str, Any]] = []
        try:
            for number in range(self.plan.cold_runs):
                article_id = newest[number % len(newest)]
                generated = corpus.spec_article(spec, int(article_id[1:]))
                relative = generated.relative_path(spec.nested)
                path = root / relative
                corpus.note_edit(root, relative)
                lines = path.read_text(encoding="utf-8").split("\n")
                stamp = datetime.now(UTC).strftime("%H:%M:%S.%f")
                lines[3] += f" This report was revised at {stamp} (edit {number + 1})."
                path.write_text("\n".join(lines), encoding="utf-8")
                done = run_import(env, [path], LOGS / f"import-cold-{label}.log")
                imported = time.monotonic()
                if done.updated != 1:
                    raise BenchError(f"importing the edited {path} updated {done.updated} articles")
                time.sleep(self.plan.settle)
                answer = expect(servers.get(port, FEED, GZIP), 200, FEED, gzipped=True)
                first_changed = answer.header("ETag") != etag
                # A server that has not noticed the change yet: ask again until it does (the
                # first answer with the new ETag is the cold one), for at most stale_wait s.
                deadline = time.monotonic() + self.plan.stale_wait
                while answer.header("ETag") == etag and time.monotonic() < deadline:
                    time.sleep(0.25)
                    answer = expect(servers.get(port, FEED, GZIP), 200, FEED, gzipped=True)
                changed = answer.header("ETag") != etag
                runs.append(
                    {
                        "article": article_id,
                        "import_s": done.seconds,
                        "request_ms": answer.seconds * 1e3 if changed else None,
                        "etag_changed": changed,
                        "changed_at_first_request": first_changed,
                        "seen_after_s": time.monotonic() - imported if changed else None,
                    }
                )
                if changed:
                    etag = answer.header("ETag")
                if not first_changed:
                    seen = (
                        f"it did after {runs[-1]['seen_after_s']:.1f} s"
                        if changed
                        else f"nor within {self.plan.settle + self.plan.stale_wait:g} s"
                    )
                    self.notes.append(
                        f"cold {label}: the site feed's ETag had not changed {self.plan.settle} s "
                        f"after `feeds import` changed its entry {article_id}; {seen}"
                    )
        finally:
            corpus.restore_edits(root, spec)
        timings = [run["request_ms"] for run in runs if run["request_ms"] is not None]
        self.measured.setdefault("cold", {})[label] = {
            "runs": runs,
            "median_ms": median(timings),
            "settle_s": self.plan.settle,
            "stale_wait_s": self.plan.stale_wait,
        }
        if not timings:
            raise BenchError(
                f"after every one of {len(runs)} imports the server kept the old site feed "
                f"(the same ETag) for {self.plan.settle + self.plan.stale_wait:g} s: "
                "no cold render to measure"
            )
        say(
            f"cold render ({label}): median {ms(median(timings))} over {len(timings)} of "
            f"{len(runs)} edits (min {ms(min(timings))}, max {ms(max(timings))}); "
            f"single-file import {median([r['import_s'] for r in runs]):.2f} s"
        )
        return median(timings)

    def worker_memory(self, label: str, server: Running) -> float:
        workers = servers.workers_resident_mb(server.pid)
        if not workers:
            raise BenchError(f"no gunicorn workers found below pid {server.pid}")
        largest = max(workers.values())
        self.measured.setdefault("worker_rss_mb", {})[label] = {
            "workers": {str(pid): rss for pid, rss in workers.items()},
            "master": servers.resident_mb(server.pid),
            "largest": largest,
        }
        sizes = ", ".join(f"{rss:.1f}" for rss in workers.values())
        say(f"worker resident memory ({label}): {sizes} MB")
        return largest

    def nginx_pair(self, upstream_port: int) -> None:
        assert self.nginx_bin is not None
        feed = expect(servers.get(upstream_port, FEED, GZIP), 200, FEED, gzipped=True)
        layout = nginx.Layout(DATA / "nginx")
        proxy_port, static_port = servers.free_port(), servers.free_port()
        nginx.write_config(
            ROOT / "deploy" / "nginx.conf",
            layout,
            upstream=f"127.0.0.1:{upstream_port}",
            proxy_port=proxy_port,
            static_port=static_port,
            gzipped_feed=feed.body,
            media_type=feed.header("Content-Type") or "application/rss+xml; charset=utf-8",
        )
        nginx.check(self.nginx_bin, layout)
        server = self.procs.start(
            "nginx",
            nginx.command(self.nginx_bin, layout),
            env=dict(os.environ),
            port=proxy_port,
            log=LOGS / "nginx.log",
            ready_path="/healthz",
        )
        try:
            statuses = []
            for _ in range(3):
                answer = expect(
                    servers.get(proxy_port, FEED, GZIP), 200, "nginx proxy", gzipped=True
                )
                statuses.append(answer.header("X-Cache-Status"))
            if statuses[-1] != "HIT":
                self.notes.append(f"nginx proxy: X-Cache-Status {statuses}, not a cache HIT")
            static = expect(servers.get(static_port, FEED, GZIP), 200, "nginx static", gzipped=True)
            if static.body != feed.body:
                raise BenchError("nginx's static copy differs from the feed")
            proxied = self.drive("nginx-proxy-gzip", server, FEED, GZIP)
            direct = self.drive("nginx-static-gzip", server, FEED, GZIP, port=static_port)
        finally:
            self.procs.stop(server)
        self.measured["nginx"] = {
            "version": nginx.version(self.nginx_bin),
            "cache_status": statuses,
            "config": str(layout.config),
        }
        self.wrk_row("site feed through nginx proxy_cache", proxied, direct, "nginx static")
        self.rows.append(
            Row.of_run(
                "same bytes, nginx static file",
                f"{rate(direct.rps)} req/s",
                direct,
                reference="reference of nginx proxy",
            )
        )

    def ingest(self) -> None:
        """Bulk imports of the same corpus, each into a fresh store; the median counts (one
        import is at the mercy of whatever else the machine does meanwhile)."""
        spec = Spec(self.plan.ingest, self.plan.ingest)
        self.promised.append(ingest_name(spec.count))
        label = f"ingest-{spec.count}"
        runs = []
        for _ in range(self.plan.ingest_runs):
            self.import_store(label, spec, servers.free_port())
            runs.append(self.measured["imports"][label])
            for name in (f"{label}.sqlite", f"{label}.json"):
                DATA.joinpath("db", name).unlink(missing_ok=True)  # only the figures are kept
        self.measured["imports"][label] = {"runs": runs}
        per_second = median([run["articles_per_s"] for run in runs])
        self.measured["imports"][label]["articles_per_s"] = per_second
        every = ", ".join(rate(run["articles_per_s"]) for run in runs)
        self.rows.append(
            Row(
                ingest_name(spec.count),
                f"{rate(per_second)} articles/s"
                + (f" (median of {every})" if len(runs) > 1 else ""),
                ratio=per_second / INGEST_REFERENCE,
                reference=f"{rate(INGEST_REFERENCE)} articles/s",
                target=Target(">=", 1),
            )
        )

    def million(self) -> None:
        spec = Spec(self.plan.million, self.plan.store, nested=True)
        label = f"store-{spec.count}"
        self.promised += [scale_p50_name(spec.count), scale_rss_name(spec.count)]
        port = servers.free_port()
        root, database, env = self.import_store(label, spec, port, self.plan.reuse_million)
        found = self.measured["imports"][label]
        self.rows.append(
            Row(
                f"import of the {spec.count:,}-article store (short articles)"
                + (" (an earlier run's)" if found.get("reused") else ""),
                f"{rate(found['articles_per_s'])} articles/s",
                ratio=found["articles_per_s"] / INGEST_REFERENCE,
                reference=f"{rate(INGEST_REFERENCE)} articles/s",
            )
        )
        feeds = self.serve_feeds(label, database, root, port, env)
        try:
            paths = self.check_feeds(port, label)
            small = self.measured.get("paths", {})
            if small and small.get("feed_ids") != paths["feed_ids"]:
                self.notes.append(f"{label}: the site feed's entries differ from the 1k store's")
            warm = self.drive(f"feed-gzip-{label}", feeds, FEED, GZIP)
            base = self.measured.get("wrk", {}).get("feed-gzip-1k")
            base_p50 = base["latency_ms"]["p50"] if base else None
            self.rows.append(
                Row.of_run(
                    scale_p50_name(spec.count),
                    f"p50 {ms(warm.p50)}",
                    warm,
                    ratio=warm.p50 / base_p50 if base_p50 else None,
                    reference=f"p50 at 1k {ms(base_p50)}",
                    target=Target("<=", 1.2),
                )
            )
            self.tour(port, paths)
            self.phase(
                f"cold render ({spec.count:,})", lambda: self.cold_big(label, port, root, spec, env)
            )
            largest = self.worker_memory(label, feeds)
        finally:
            self.procs.stop(feeds)
        self.rows.append(
            Row(
                scale_rss_name(spec.count),
                f"{largest:.1f} MB",
                ratio=largest / RSS_REFERENCE_MB,
                reference=f"{RSS_REFERENCE_MB:.0f} MB",
                target=Target("<=", 1),
            )
        )

    def cold_big(self, label: str, port: int, root: Path, spec: Spec, env: dict[str, str]) -> None:
        cold = self.cold_renders(label, port, root, spec, env)
        cold_1k = self.measured.get("cold", {}).get("1k", {}).get("median_ms")
        self.rows.append(
            Row(
                f"cold render: first request after an import ({spec.count:,})",
                ms(cold),
                ratio=cold / cold_1k if cold_1k else None,
                reference=f"cold render at 1k {ms(cold_1k)}",
            )
        )

    def tour(self, port: int, paths: dict[str, str]) -> None:
        """Ask for section feeds, archives, pages and the other formats, each a few times so
        that every worker gets some; keeps each answer's time."""
        xml = gunzip(expect(servers.get(port, FEED, GZIP), 200, FEED)).decode()
        archives: list[str] = []
        for first in (FEED, paths["section"]):
            found = gunzip(expect(servers.get(port, first, GZIP), 200, first)).decode()
            archive = history_link(found, "prev-archive")
            while archive is not None and len(archives) < (8 if first == FEED else 11):
                archives.append(archive)
                answer = expect(servers.get(port, archive, GZIP), 200, archive, gzipped=True)
                archive = history_link(gunzip(answer).decode(), "prev-archive")
        ids = item_ids(xml)
        wanted = [
            "/",
            "/feeds/atom.xml",
            "/feeds/feed.json",
            "/feeds.opml",
            *(f"/feeds/{section}/rss.xml" for section in corpus.SECTIONS),
            *(f"/feeds/{section}/atom.xml" for section in corpus.SECTIONS[:3]),
            *(f"/sections/{section}" for section in corpus.SECTIONS[:3]),
            *(f"/articles/{article_id}" for article_id in ids[:5]),
            *archives,
        ]
        timings: dict[str, list[float]] = {path: [] for path in wanted}
        start = time.perf_counter()
        for _ in range(4):
            for path in wanted:
                answer = expect(servers.get(port, path, GZIP), 200, path)
                timings[path].append(answer.seconds * 1e3)
        slowest = sorted(wanted, key=lambda path: max(timings[path]), reverse=True)[:3]
        say(
            f"asked for {len(wanted)} documents 4 times ({time.perf_counter() - start:.1f} s); "
            "slowest: " + ", ".join(f"{path} {ms(max(timings[path]))}" for path in slowest)
        )
        self.measured["tour"] = timings


# -- the run ---------------------------------------------------------------------------------


def machine(wrk_bin: str, nginx_bin: str | None) -> dict[str, Any]:
    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "unknown"

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    git = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=False,
    )
    memory = first("/proc/meminfo", "MemTotal")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": first("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "ram_gb": round(int(memory.split()[0]) / 1024**2, 1) if memory[:1].isdigit() else memory,
        "kernel": platform.release(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "versions": {
            name: version(name)
            for name in ("feeds", "flask", "werkzeug", "gunicorn", "feedgen", "lxml", "sqlalchemy")
        },
        "wrk": wrk.version(wrk_bin),
        "nginx": nginx.version(nginx_bin) if nginx_bin else None,
        "git": {"commit": git.stdout.strip(), "changed_files": len(dirty.stdout.splitlines())},
    }


def table(rows: Sequence[Row]) -> str:
    header = ("name", "req/s", "p50", "p99", "errors", "figure", "ratio", "reference", "target", "")
    lines = [
        (
            row.name,
            rate(row.rps) if row.rps is not None else "—",
            ms(row.p50),
            ms(row.p99),
            str(row.errors) if row.errors is not None else "—",
            row.figure,
            f"{row.ratio:.2f}" if row.ratio is not None else "—",
            row.reference,
            str(row.target) if row.target else "—",
            row.verdict,
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
        for cells in [header, *lines]
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)


def markdown(rows: Sequence[Row], info: dict[str, Any], load: wrk.Load, plan: Plan) -> str:
    lines = [
        "| Measurement | Requests/s | p50 | p99 | Figure | Ratio | Reference | Target | |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for row in rows:
        cells = [
            row.name,
            rate(row.rps) if row.rps is not None else "",
            ms(row.p50) if row.p50 is not None else "",
            ms(row.p99) if row.p99 is not None else "",
            row.figure,
            f"{row.ratio:.2f}" if row.ratio is not None else "",
            row.reference,
            str(row.target) if row.target else "",
            {True: "✓", False: "✗", None: ""}[row.ok],
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    lines.append("")
    lines.append(
        f"Measured {info['date'][:10]} with `make bench` on {info['cpu']} "
        f"({info['usable_cores']} cores, {info['ram_gb']} GB RAM, Linux {info['kernel']}), "
        f"Python {info['python']}, gunicorn {info['versions']['gunicorn']} "
        f"({plan.workers} gthread workers), SQLite {info['sqlite']}; "
        f"wrk -t{load.threads} -c{load.connections} -d{load.seconds:g}s on the same machine. "
        "Every ratio is against a reference measured in the same run."
    )
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark feeds: ingest, warm and cold feeds, scale, memory.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and 3 s runs")
    parser.add_argument("--skip-million", action="store_true", help="no million-article store")
    parser.add_argument("--nginx", action="store_true", help="also measure nginx in front")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 10; 3 quick)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--ingest", type=int, help="articles in the ingest corpus (100,000)")
    parser.add_argument("--million", type=int, help="articles in the big store (1,000,000)")
    parser.add_argument(
        "--reuse-million",
        action="store_true",
        help="serve the big store an earlier run imported, when there is one (the import "
        "figures are then that run's)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        help="measure again, up to this many times, when other processes took more than 5%% "
        "of the CPU during a wrk run or one gunicorn worker took every connection; the least "
        "disturbed run counts (default 2; 0 with --quick)",
    )
    parser.add_argument("--cold-runs", type=int, help="edits for the cold render (15)")
    parser.add_argument(
        "--stale-wait",
        type=float,
        help="how long to keep asking for the feed after an import when the server still "
        "answers the old ETag 1.5 s later (default 5 s)",
    )
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    plan = Plan()
    if args.quick:
        plan = replace(
            plan,
            ingest=2000,
            million=20_000,
            seconds=3,
            warmup=1,
            cold_runs=5,
            feedgen_runs=5,
            ingest_runs=1,
            retries=0,
        )
    if args.duration is not None:
        plan = replace(plan, seconds=args.duration, warmup=min(plan.warmup, args.duration))
    if args.ingest is not None:
        plan = replace(plan, ingest=args.ingest)
    if args.million is not None:
        plan = replace(plan, million=args.million)
    if args.cold_runs is not None:
        plan = replace(plan, cold_runs=args.cold_runs)
    if args.retries is not None:
        plan = replace(plan, retries=args.retries)
    if args.stale_wait is not None:
        plan = replace(plan, stale_wait=args.stale_wait)
    plan = replace(
        plan,
        skip_million=args.skip_million,
        with_nginx=args.nginx,
        reuse_million=args.reuse_million,
    )
    if plan.million <= plan.store:
        raise SystemExit(
            f"--million must be more than the {plan.store} articles of the small store"
        )
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    wrk_bin = wrk.find()
    if wrk_bin is None:
        print(wrk.INSTALL_HINT, file=sys.stderr)
        return 2
    nginx_bin = nginx.find() if plan.with_nginx else None
    if plan.with_nginx and nginx_bin is None:
        print(nginx.INSTALL_HINT, file=sys.stderr)
        return 2
    load = wrk.Load(args.threads, args.connections, plan.seconds)
    info = machine(wrk_bin, nginx_bin)
    say(f"{info['cpu']}, {info['usable_cores']} cores, {info['ram_gb']} GB; {info['wrk']}")
    interrupted = False
    with Processes() as procs:
        bench = Bench(plan, load, wrk_bin, nginx_bin, procs)
        try:
            bench.phase("1,000-article store: ceiling, warm feeds, cold render", bench.store_1k)
            bench.phase(f"ingest of {plan.ingest:,} articles", bench.ingest)
            if not plan.skip_million:
                bench.phase(f"{plan.million:,}-article store", bench.million)
        except KeyboardInterrupt:
            interrupted = True
            bench.errors.append("interrupted")
            say("interrupted: stopping the servers")
    missed = [row.name for row in bench.rows if row.ok is False]
    measured = {row.name for row in bench.rows if row.ok is not None}
    unmeasured = [name for name in bench.promised if name not in measured]
    results = {
        "machine": info,
        "settings": bench.settings,
        "rows": [row.to_json() for row in bench.rows],
        "measured": bench.measured,
        "missed_targets": missed,
        "unmeasured_targets": unmeasured,
        "notes": bench.notes,
        "errors": bench.errors,
        "skipped": ["million"] if plan.skip_million else [],
    }
    RESULTS_JSON.write_text(json.dumps(results, indent=2, default=str) + "\n")
    md = markdown(bench.rows, info, load, plan)
    RESULTS_MD.write_text(md)
    print()
    print(table(bench.rows))
    print()
    print("Markdown, for the README's Performance section (also in bench/results.md):")
    print()
    print(md)
    for note in bench.notes:
        print(f"note: {note}")
    if missed:
        print(f"missed targets ({len(missed)}): " + "; ".join(missed))
    else:
        print("every target with a measurement was met")
    if unmeasured:
        print(f"targets not measured ({len(unmeasured)}): " + "; ".join(unmeasured))
    for error in bench.errors:
        print(f"error: {error}", file=sys.stderr)
    print(f"results: {RESULTS_JSON.relative_to(ROOT)}, {RESULTS_MD.relative_to(ROOT)}")
    if interrupted:
        return 130
    if bench.errors:
        return 1
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
