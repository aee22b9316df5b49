"""End to end: `feeds serve` as a real gunicorn process on a loopback port, read over real
HTTP by real clients (urllib, feedparser, the reader library)."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from reader import make_reader

from tests.support import SEED, Content, Served, fetch, start_server

PUBLISHED = datetime(2020, 1, 4, 18, 9, tzinfo=UTC)
UPDATED = datetime(2020, 1, 4, 20, 58, tzinfo=UTC)
TAG_PREFIX = "tag:127.0.0.1,"


@pytest.fixture(scope="module")
def content(tmp_path_factory: pytest.TempPathFactory) -> Content:
    root = tmp_path_factory.mktemp("clients") / "content"
    root.mkdir()
    return Content(root)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, content: Content) -> Iterator[Served]:
    """One real server for the module (max-age 0, so that readers revalidate at once), with
    the seed article imported; tests that change articles use articles of their own."""
    server = start_server(
        tmp_path_factory.mktemp("served"),
        {"FEEDS_MAX_AGE": "0", "FEEDS_CONTENT": str(content.root)},
    )
    content.write(SEED.name, SEED.read_bytes())
    result = server.feeds("import", str(content.root))
    assert result.returncode == 0, result.stderr
    yield server
    server.stop()


@pytest.mark.parametrize("path", ["/feeds/rss.xml", "/feeds/atom.xml"])
def test_feedparser_reads_rss_and_atom_with_true_instants(seeded: Served, path: str) -> None:
    parsed = feedparser.parse(seeded.url(path))
    assert parsed.status == 200
    assert not parsed.bozo, parsed.get("bozo_exception")
    (entry,) = parsed.entries
    assert entry.id.startswith(TAG_PREFIX) and entry.id.endswith(":" + SEED.stem)
    assert entry.link == seeded.url("/articles/" + SEED.stem)
    assert entry.title.startswith("Multiple US bases in Iraq")
    assert entry.published_parsed[:6] == PUBLISHED.timetuple()[:6]
    assert entry.updated_parsed[:6] == UPDATED.timetuple()[:6]
    # WebSub discovery, from the document and from the headers of its 200 and its 304.
    hub, self_url = seeded.url("/hub"), seeded.url(path)
    assert [x.href for x in parsed.feed.links if x.rel == "hub"] == [hub]
    link = f'<{hub}>; rel="hub", <{self_url}>; rel="self"'
    assert parsed.headers["link"] == link
    # feedparser revalidates with what it was given: a 304, no body.
    again = feedparser.parse(seeded.url(path), etag=parsed.etag, modified=parsed.modified)
    assert again.status == 304 and not again.entries
    assert again.headers["link"] == link


@pytest.mark.parametrize("path", ["/feeds/rss.xml", "/feeds/atom.xml", "/feeds/feed.json"])
def test_reader_reads_every_format_with_true_instants(
    seeded: Served, tmp_path: Path, path: str
) -> None:
    # feedparser 6 has no JSON Feed parser; reader has one of its own.
    reader = make_reader(str(tmp_path / "formats.sqlite"))
    reader.add_feed(seeded.url(path))
    (result,) = reader.update_feeds_iter()
    assert result.error is None, result.error
    (entry,) = reader.get_entries()
    assert entry.id.startswith(TAG_PREFIX) and entry.id.endswith(":" + SEED.stem)
    assert entry.link == seeded.url("/articles/" + SEED.stem)
    assert (entry.published, entry.updated) == (PUBLISHED, UPDATED)
    assert entry.title is not None and entry.title.startswith("Multiple US bases in Iraq")
    assert reader.get_feed(seeded.url(path)).title == "Newsroom"
    reader.close()


def test_conditional_get_head_and_gzip_over_http(seeded: Served) -> None:
    url = seeded.url("/feeds/atom.xml")
    status, headers, body = fetch(url, {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body).startswith(b"<?xml")
    assert headers["Last-Modified"] == "Sat, 04 Jan 2020 20:58:00 GMT"
    status, again, body = fetch(url, {"Accept-Encoding": "gzip", "If-None-Match": headers["ETag"]})
    assert (status, body) == (304, b"")
    assert all(again[n] == headers[n] for n in ("ETag", "Cache-Control", "Vary"))
    status, head, body = fetch(url, method="HEAD")
    assert status == 200 and body == b"" and int(head["Content-Length"]) > 1000
    assert fetch(seeded.url("/feeds/nope.xml"))[0] == 404
    assert fetch(url, method="POST")[0] == 405
    assert fetch(seeded.url("/healthz"))[0] == 200


def test_reader_subscribes_revalidates_and_sees_updates_not_duplicates(tmp_path: Path) -> None:
    content = Content(tmp_path / "content")
    content.write(SEED.name, SEED.read_bytes())
    seeded = start_server(tmp_path, {"FEEDS_MAX_AGE": "0", "FEEDS_CONTENT": str(content.root)})
    try:
        _see_updates(seeded, content, tmp_path)
    finally:
        seeded.stop()


def _see_updates(seeded: Served, content: Content, tmp_path: Path) -> None:
    assert "1 added" in seeded.feeds("import").stdout
    url = seeded.url("/feeds/atom.xml")
    reader = make_reader(str(tmp_path / "reader.sqlite"))
    reader.add_feed(url)
    (first,) = reader.update_feeds_iter()
    assert first.error is None and first.updated_feed is not None
    (entry,) = reader.get_entries()
    assert entry.updated == UPDATED and entry.published == PUBLISHED

    # scheduled=False: update now, as a reader polling every few minutes would.
    (second,) = reader.update_feeds_iter(scheduled=False)
    assert second.error is None and second.not_modified
    logged = '"GET /feeds/atom.xml HTTP/1.1" 304'
    deadline = time.monotonic() + 10  # a worker logs a request once it has answered it
    while not any(logged in line for line in seeded.access_log()):
        assert time.monotonic() < deadline, seeded.access_log()
        time.sleep(0.05)

    content.write(SEED.name, SEED.read_text().replace("Two rockets", "Two more rockets"))
    result = seeded.feeds("import", str(content.root))
    assert "1 updated" in result.stdout, result.stderr
    (third,) = reader.update_feeds_iter(scheduled=False)
    assert third.error is None and third.updated_feed is not None
    assert third.updated_feed.modified == 1 and third.updated_feed.new == 0
    (entry,) = reader.get_entries()
    assert entry.updated is not None and entry.updated > UPDATED
    assert entry.id.endswith(":" + SEED.stem)
    assert "Two more rockets" in entry.content[0].value
    reader.close()


def test_unchanged_reimport_keeps_bytes_and_etag_over_http(
    seeded: Served, content: Content
) -> None:
    before = {p: fetch(seeded.url(p)) for p in ("/feeds/rss.xml", "/feeds/feed.json", "/")}
    assert "1 unchanged" in seeded.feeds("import", str(content.root)).stdout
    for path, (_, headers, body) in before.items():
        _, again, again_body = fetch(seeded.url(path))
        assert again_body == body and again["ETag"] == headers["ETag"]


def test_host_header_does_not_leak_into_feeds(seeded: Served) -> None:
    _, _, plain = fetch(seeded.url("/feeds/rss.xml"))
    _, _, spoofed = fetch(
        seeded.url("/feeds/rss.xml"), {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    )
    assert spoofed == plain
