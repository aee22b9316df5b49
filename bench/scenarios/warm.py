"""The 1,000-article store: the ceiling (Flask `hi` under the same gunicorn), warm feeds with
wrk (the site feed gzipped and plain, a 304 revalidation, a section feed, an archive), then
nginx, the cold render and the workers' memory of the same store."""

from __future__ import annotations

import sys
from dataclasses import asdict, replace

from feeds.config import load_settings
from feeds.server import gunicorn_options

from .. import servers
from ..plan import LOGS, ROOT
from ..results import Row, Target, rate
from ..servers import Running
from . import cold, nginx
from .answers import FEED, GZIP, SECTION, check_feeds, expect
from .cold import COLD_1K
from .run import Bench, BenchError, say
from .store import RSS_REFERENCE_MB, import_store, serve_feeds, worker_memory

# The rows that carry a target, by name; the cold render's is cold.COLD_1K.
WARM_GZIP = "site feed, warm, gzip (1k)"
REVALIDATE = "site feed, 304 revalidation"


def store_1k(bench: Bench) -> None:
    plan = bench.plan
    bench.promised += [WARM_GZIP, REVALIDATE, COLD_1K]
    port = servers.free_port()
    root, database, env = import_store(bench, "store-1k", bench.store_spec, port)
    settings = load_settings(env)
    bench.settings = {
        "feeds": asdict(settings),
        "gunicorn": gunicorn_options(settings, f"127.0.0.1:{port}"),
        "wrk": asdict(bench.load) | {"warmup_seconds": plan.warmup},
        "plan": asdict(plan),
    }
    ceiling = start_ceiling(bench, env)
    try:
        first = bench.drive("ceiling", ceiling, "/")
        feeds = serve_feeds(bench, "store-1k", database, root, port, env)
    except BaseException:
        bench.procs.stop(ceiling)
        raise
    try:
        try:
            paths = check_feeds(bench, port, "1k")
            bench.measured["paths"] = paths
            warm = bench.drive("feed-gzip-1k", feeds, FEED, GZIP)
            plain = bench.drive("feed-plain-1k", feeds, FEED)
            revalidate = bench.drive(
                "feed-304-1k", feeds, FEED, GZIP | {"If-None-Match": paths["etag"]}
            )
            section = bench.drive("section-gzip-1k", feeds, paths["section"], GZIP)
            archive = bench.drive("archive-gzip-1k", feeds, paths["archive"], GZIP)
            # The ceiling again, after the feeds: the higher of its two runs is the reference.
            again = bench.drive("ceiling-again", ceiling, "/")
            ceiling_memory(bench, ceiling)
        finally:
            bench.procs.stop(ceiling)
        top = max(first, again, key=lambda result: result.rps)
        bench.rows.append(
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
        bench.wrk_row(WARM_GZIP, warm, top, "ceiling", Target(">=", 0.8))
        bench.wrk_row("site feed, warm, no gzip (1k)", plain, top, "ceiling")
        bench.wrk_row(REVALIDATE, revalidate, top, "ceiling", Target(">=", 0.9))
        bench.wrk_row(f"section feed ({SECTION}), warm, gzip", section, top, "ceiling")
        bench.wrk_row("archive document, warm, gzip", archive, top, "ceiling")
        if plan.with_nginx:
            bench.phase("nginx in front of the 1k store", lambda: nginx.nginx_pair(bench, port))
        cold.feedgen_reference(bench, root)
        bench.phase("cold render (1k)", lambda: cold.cold_1k(bench, port, root, env))
        largest = worker_memory(bench, "1k", feeds)
    finally:
        bench.procs.stop(feeds)
    bench.rows.append(
        Row(
            "largest worker's resident memory (1k)",
            f"{largest:.1f} MB",
            ratio=largest / RSS_REFERENCE_MB,
            reference=f"{RSS_REFERENCE_MB:.0f} MB",
        )
    )


def start_ceiling(bench: Bench, env: dict[str, str]) -> Running:
    """The ceiling: `hi` under the feeds server's gunicorn options (and FEEDS_* settings)."""
    port = servers.free_port()
    # With -m from the repository root (cwd), as `python -m bench` itself runs.
    server = bench.procs.start(
        "ceiling",
        [sys.executable, "-m", "bench.ceiling", "--bind", f"127.0.0.1:{port}"],
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
        bench.procs.stop(server)
        raise
    return server


def ceiling_memory(bench: Bench, server: Running) -> None:
    workers = servers.workers_resident_mb(server.pid)
    bench.measured.setdefault("worker_rss_mb", {})["ceiling"] = {
        "workers": {str(pid): rss for pid, rss in workers.items()},
        "largest": max(workers.values(), default=None),
    }
