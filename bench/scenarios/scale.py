"""The scale: the 1,000-article store grown to a million articles whose site feed carries the
same 50 entries; its warm p50 and cold render against the small store's, a tour of its other
documents, and the largest worker's resident memory."""

from __future__ import annotations

import time
from pathlib import Path

from .. import corpus, servers
from ..corpus import Spec
from ..results import Row, Target, ms, rate
from .answers import FEED, GZIP, check_feeds, expect, gunzip, history_link, item_ids
from .cold import cold_renders
from .ingest import INGEST_REFERENCE
from .run import Bench, say
from .store import RSS_REFERENCE_MB, import_store, serve_feeds, worker_memory


# The rows that carry a target, by name.
def scale_p50_name(count: int) -> str:
    return f"site feed, warm, gzip, p50 ({count:,})"


def scale_rss_name(count: int) -> str:
    return f"largest worker's resident memory ({count:,})"


def million(bench: Bench) -> None:
    spec = Spec(bench.plan.million, bench.plan.store, nested=True)
    label = f"store-{spec.count}"
    bench.promised += [scale_p50_name(spec.count), scale_rss_name(spec.count)]
    port = servers.free_port()
    root, database, env = import_store(bench, label, spec, port, bench.plan.reuse_million)
    found = bench.measured["imports"][label]
    bench.rows.append(
        Row(
            f"import of the {spec.count:,}-article store (short articles)"
            + (" (an earlier run's)" if found.get("reused") else ""),
            f"{rate(found['articles_per_s'])} articles/s",
            ratio=found["articles_per_s"] / INGEST_REFERENCE,
            reference=f"{rate(INGEST_REFERENCE)} articles/s",
        )
    )
    feeds = serve_feeds(bench, label, database, root, port, env)
    try:
        paths = check_feeds(bench, port, label)
        small = bench.measured.get("paths", {})
        if small and small.get("feed_ids") != paths["feed_ids"]:
            bench.notes.append(f"{label}: the site feed's entries differ from the 1k store's")
        warm = bench.drive(f"feed-gzip-{label}", feeds, FEED, GZIP)
        base = bench.measured.get("wrk", {}).get("feed-gzip-1k")
        base_p50 = base["latency_ms"]["p50"] if base else None
        bench.rows.append(
            Row.of_run(
                scale_p50_name(spec.count),
                f"p50 {ms(warm.p50)}",
                warm,
                ratio=warm.p50 / base_p50 if base_p50 else None,
                reference=f"p50 at 1k {ms(base_p50)}",
                target=Target("<=", 1.2),
            )
        )
        tour(bench, port, paths)
        bench.phase(
            f"cold render ({spec.count:,})", lambda: cold_big(bench, label, port, root, spec, env)
        )
        largest = worker_memory(bench, label, feeds)
    finally:
        bench.procs.stop(feeds)
    bench.rows.append(
        Row(
            scale_rss_name(spec.count),
            f"{largest:.1f} MB",
            ratio=largest / RSS_REFERENCE_MB,
            reference=f"{RSS_REFERENCE_MB:.0f} MB",
            target=Target("<=", 1),
        )
    )


def cold_big(
    bench: Bench, label: str, port: int, root: Path, spec: Spec, env: dict[str, str]
) -> None:
    cold = cold_renders(bench, label, port, root, spec, env)
    cold_1k = bench.measured.get("cold", {}).get("1k", {}).get("median_ms")
    bench.rows.append(
        Row(
            f"cold render: first request after an import ({spec.count:,})",
            ms(cold),
            ratio=cold / cold_1k if cold_1k else None,
            reference=f"cold render at 1k {ms(cold_1k)}",
        )
    )


def tour(bench: Bench, port: int, paths: dict[str, str]) -> None:
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
    bench.measured["tour"] = timings
