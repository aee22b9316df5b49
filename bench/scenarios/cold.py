"""Cold renders: the first request of the site feed after `feeds import` changed one of its
articles, against feedgen alone building the same 50 entries in-process."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from feedgen.feed import FeedGenerator

from feeds.ingest.textfile import parse_article
from feeds.model import ParsedArticle

from .. import corpus, servers
from ..corpus import Spec
from ..plan import LOGS
from ..results import Row, Target, median, ms
from .answers import FEED, GZIP, expect, gunzip, item_ids
from .run import Bench, BenchError, say
from .store import run_import

# The row that carries a target, by name.
COLD_1K = "cold render: first request after an import (1k)"


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


def feedgen_reference(bench: Bench, root: Path) -> None:
    zone = ZoneInfo("Europe/London")
    entries = newest_articles(root, bench.store_spec, zone, 50)
    timings = []
    size = 0
    for _ in range(bench.plan.feedgen_runs):
        start = time.perf_counter()
        size = len(feedgen_rss(entries, "http://127.0.0.1:8000"))
        timings.append((time.perf_counter() - start) * 1e3)
    bench.measured["feedgen"] = {
        "runs_ms": timings,
        "median_ms": median(timings),
        "entries": len(entries),
        "bytes": size,
    }
    say(f"feedgen alone: median {ms(median(timings))} for {len(entries)} entries, {size:,} B")
    bench.rows.append(
        Row(
            "feedgen alone, in-process (50 entries)",
            ms(median(timings)),
            reference="reference of cold render",
        )
    )


def cold_renders(
    bench: Bench, label: str, port: int, root: Path, spec: Spec, env: dict[str, str]
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
        for number in range(bench.plan.cold_runs):
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
            time.sleep(bench.plan.settle)
            answer = expect(servers.get(port, FEED, GZIP), 200, FEED, gzipped=True)
            first_changed = answer.header("ETag") != etag
            # A server that has not noticed the change yet: ask again until it does (the
            # first answer with the new ETag is the cold one), for at most stale_wait s.
            deadline = time.monotonic() + bench.plan.stale_wait
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
                    else f"nor within {bench.plan.settle + bench.plan.stale_wait:g} s"
                )
                bench.notes.append(
                    f"cold {label}: the site feed's ETag had not changed {bench.plan.settle} s "
                    f"after `feeds import` changed its entry {article_id}; {seen}"
                )
    finally:
        corpus.restore_edits(root, spec)
    timings = [run["request_ms"] for run in runs if run["request_ms"] is not None]
    bench.measured.setdefault("cold", {})[label] = {
        "runs": runs,
        "median_ms": median(timings),
        "settle_s": bench.plan.settle,
        "stale_wait_s": bench.plan.stale_wait,
    }
    if not timings:
        raise BenchError(
            f"after every one of {len(runs)} imports the server kept the old site feed "
            f"(the same ETag) for {bench.plan.settle + bench.plan.stale_wait:g} s: "
            "no cold render to measure"
        )
    say(
        f"cold render ({label}): median {ms(median(timings))} over {len(timings)} of "
        f"{len(runs)} edits (min {ms(min(timings))}, max {ms(max(timings))}); "
        f"single-file import {median([r['import_s'] for r in runs]):.2f} s"
    )
    return median(timings)


def cold_1k(bench: Bench, port: int, root: Path, env: dict[str, str]) -> None:
    cold = cold_renders(bench, "1k", port, root, bench.store_spec, env)
    reference = bench.measured["feedgen"]["median_ms"]
    bench.rows.append(
        Row(
            COLD_1K,
            ms(cold),
            ratio=cold / reference,
            reference=f"feedgen alone, in-process {ms(reference)}",
            target=Target("<=", 3),
        )
    )
