"""The benchmark's generated corpus (bench/corpus.py): articles the project's parser accepts,
shaped like the real seed file, the same on every run; and the reading of wrk's report."""

from __future__ import annotations

import re
import statistics
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench import corpus, wrk
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
