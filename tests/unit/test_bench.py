"""The benchmark's generated corpus (bench/corpus.py): articles the project's parser accepts,
shaped like the real seed file, the same on every run; the reading of wrk's report; and the
pieces of the push part: its percentiles, its timing of a change, its callback server."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import math
import re
import statistics
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bench import corpus, plan, servers, subscribers, wrk
from bench.results import percentile
from bench.scenarios import push
from feeds.config import Settings
from feeds.ingest.files import collect
from feeds.ingest.importer import import_paths
from feeds.ingest.textfile import parse_article
from feeds.store import Store
from tests.support import IMPORT_TIME, Content

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ufffd]")


def test_full_articles_parse_and_are_shaped_like_the_seed() -> None:
    generated = [corpus.generate_article(i) for i in range(400)]
    sizes, counts, years = [], [], set()
    for article in generated:
        assert not CONTROL.search(article.text)
        parsed = parse_article(
            article.text.encode(), f"{article.id}.txt", article.id, article.section, LONDON, NOW
        )
        lines = article.text.rstrip("\n").split("\n")
        assert parsed.title == lines[1]
        assert parsed.paragraphs == tuple(lines[3:])  # nothing for the parser to clean up
        assert parsed.published == article.published.replace(tzinfo=LONDON).astimezone(UTC)
        if article.updated is None:
            assert parsed.updated == parsed.published
            assert "Updated:" not in lines[2]
        else:
            assert parsed.updated > parsed.published
            assert article.updated.date() == article.published.date()
        assert 6 <= article.published.hour <= 23
        body = sum(len(p.encode()) for p in parsed.paragraphs)
        assert 4000 <= body <= 5500
        assert 20 <= len(parsed.paragraphs) <= 30
        sizes.append(len(article.text.encode()))
        counts.append(len(parsed.paragraphs))
        years.add(article.published.year)
    assert 4300 <= statistics.mean(sizes) <= 4900  # the seed file: 4,610 bytes
    assert 24 <= statistics.mean(counts) <= 26
    updated = sum(a.updated is not None for a in generated) / len(generated)
    assert 0.25 <= updated <= 0.42
    assert len(years) >= 10
    assert {a.section for a in generated} == set(corpus.SECTIONS)


def test_short_articles_are_short_and_older_than_the_newest_full_ones() -> None:
    for i in range(200):
        article = corpus.generate_article(i, short=True)
        parsed = parse_article(
            article.text.encode(), f"{article.id}.txt", article.id, article.section, LONDON, NOW
        )
        assert 2 <= len(parsed.paragraphs) <= 3
        assert len(article.text.encode()) < 1000
        assert article.published.date() <= corpus.LAST_SHORT_DAY
    # So a store of the 1,000 full articles plus short ones has the same 50 newest entries.
    full = corpus.Spec(1000, 1000)
    newest = sorted((a.published for a in corpus.articles(full)), reverse=True)[:50]
    assert min(newest).date() > corpus.LAST_SHORT_DAY


def test_generation_is_deterministic(tmp_path: Path) -> None:
    assert corpus.generate_article(7) == corpus.generate_article(7)
    assert corpus.generate_article(7).text != corpus.generate_article(7, seed=2).text
    small, large = corpus.Spec(30, 30), corpus.Spec(60, 60)
    assert list(corpus.articles(small)) == list(corpus.articles(large))[:30]

    spec = corpus.Spec(40, 10, nested=True)
    first, second = tmp_path / "first", tmp_path / "second"
    assert corpus.write_corpus(first, spec)
    assert corpus.write_corpus(second, spec, workers=2)
    assert not corpus.write_corpus(first, spec)  # the marker matches: used again
    files = sorted(p.relative_to(first) for p in first.rglob("*.txt"))
    assert len(files) == 40
    assert files == sorted(p.relative_to(second) for p in second.rglob("*.txt"))
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_edited_files_are_restored(tmp_path: Path) -> None:
    spec = corpus.Spec(5, 5)
    corpus.write_corpus(tmp_path, spec)
    relative = corpus.spec_article(spec, 3).relative_path(spec.nested)
    corpus.note_edit(tmp_path, relative)
    (tmp_path / relative).write_text("changed", encoding="utf-8")
    assert corpus.is_ready(tmp_path, spec)  # restores what an interrupted run left edited
    assert (tmp_path / relative).read_text(encoding="utf-8") == corpus.spec_article(spec, 3).text
    assert not (tmp_path / corpus.JOURNAL).exists()


def test_the_importer_takes_every_file_with_its_first_folder_as_section(
    content: Content, settings: Settings, store: Store
) -> None:
    spec = corpus.Spec(40, 10, nested=True)
    corpus.write_corpus(content.root, spec)
    sources, missing = collect([content.root], content.root)
    assert not missing
    assert {s.section for s in sources} <= set(corpus.SECTIONS)
    report = import_paths(store, settings, [content.root], now=IMPORT_TIME)
    assert (report.added, report.rejected) == (40, [])


WRK_REPORT = """Running 10s test @ http://127.0.0.1:8000/feeds/rss.xml
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.12ms    2.30ms  45.01ms   88.10%
    Req/Sec     3.10k   250.12     3.80k    70.00%
  Latency Distribution
     50%  850.00us
     75%    6.10ms
     90%    8.00ms
     99%    1.20s
  61234 requests in 10.01s, 4.37GB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   6117.28
Transfer/sec:    447.12MB
"""


def test_the_wrk_report_is_read_with_its_units() -> None:
    result = wrk.parse(WRK_REPORT)
    assert result.rps == 6117.28
    assert result.requests == 61234
    assert result.latency_ms["p50"] == 0.85
    assert result.latency_ms["p75"] == 6.1
    assert result.latency_ms["p99"] == 1200.0
    assert result.latency_ms["max"] == 45.01
    assert result.socket_errors == {"connect": 0, "read": 2, "write": 0, "timeout": 3}
    assert result.non_2xx_3xx == 7
    assert result.errors == 12


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(20, 0, -1)]  # 20 values, unsorted
    assert percentile(values, 0.5) == 10.0
    assert percentile(values, 0.99) == 20.0  # of fewer than 100 values: the largest
    assert percentile(values, 0.95) == 19.0
    assert percentile([3.0], 0.99) == 3.0
    assert math.isnan(percentile([], 0.5))


def test_a_change_is_timed_from_its_commit_to_each_subscribers_first_arrival() -> None:
    committed = 1_000_000_000
    arrivals = [
        [committed + 30_000_000, 0, 500],
        [committed + 90_000_000, 1, 500],
        [committed + 150_000_000, 1, 500],  # sent again: its first arrival counts
        [committed + 50_000_000, 2, 500],
    ]
    done = push.spans(7, 4, 12.5, committed, arrivals)
    assert (done.change, done.put_ms, done.received) == (7, 12.5, 3)
    assert (done.first_ms, done.last_ms) == (30.0, 90.0)
    assert not done.complete  # one of the four subscribers got nothing
    assert done.per_second == 2 / 0.06
    assert push.spans(8, 1, 1.0, committed, []).first_ms is None


def test_subscriber_counts_are_read_and_bad_ones_named() -> None:
    assert plan.subscriber_counts("1,100,1000") == (1, 100, 1000)
    for bad in ("", "1,,2", "0,10", "100,10", "5,5", "ten"):
        with pytest.raises(SystemExit, match="--push-subscribers"):
            plan.subscriber_counts(bad)


@pytest.fixture
def callbacks() -> Iterator[int]:
    """bench/subscribers.py's server on a loopback port, in a thread."""
    port = servers.free_port()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        server = asyncio.ensure_future(subscribers.main([port]))
        await stop.wait()
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server

    def run() -> None:
        try:
            loop.run_until_complete(serve())
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            servers.get(port, "/healthz", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield port
    loop.call_soon_threadsafe(stop.set)
    thread.join(5)


def test_the_callback_server_keeps_each_delivery_by_the_change_it_carries(callbacks: int) -> None:
    challenge = servers.get(callbacks, "/cb/3?hub.mode=subscribe&hub.challenge=abc")
    assert (challenge.status, challenge.body) == (200, b"abc")
    conn = http.client.HTTPConnection("127.0.0.1", callbacks, timeout=10)
    try:  # one connection kept alive, a body of several segments, then a chunked one
        document = b"<feed>" + b"x" * 300_000 + subscribers.MARKER + b"12</feed>"
        conn.request("POST", "/cb/3", body=document)
        answer = conn.getresponse()
        assert (answer.status, answer.read()) == (204, b"")
        chunks = [b"<feed>", subscribers.MARKER + b"12", b"/"]
        conn.request("POST", "/cb/4", body=iter(chunks))
        answer = conn.getresponse()
        assert (answer.status, answer.read()) == (204, b"")
        conn.request("POST", "/cb/5", body=b"<feed>no change named</feed>")
        answer = conn.getresponse()
        assert (answer.status, answer.read()) == (204, b"")
    finally:
        conn.close()
    waited = servers.get(callbacks, "/wait?change=12&count=2&timeout=5")
    found = json.loads(waited.body)
    assert [(callback, size) for _, callback, size in found] == [
        (3, len(document)),
        (4, len(b"".join(chunks))),
    ]
    summary = json.loads(servers.get(callbacks, "/arrivals").body)
    assert summary == {"total": 3, "unmarked": 1, "changes": {"12": 2}}
    # A wait for more than came ends at its timeout with what did.
    assert len(json.loads(servers.get(callbacks, "/wait?change=12&count=3&timeout=0.2").body)) == 2
