"""The render cache: each document rendered once per change of its data, 304s that never
render (even from a cold cache), entries bounded by bytes, and every server of one database
serving a change at once."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import timedelta

import pytest
from flask import Flask, Response
from flask.testing import FlaskClient

from feeds.config import Settings
from feeds.formats import FORMATS
from feeds.ingest.importer import import_paths
from feeds.store import Store
from feeds.web import create_app
from tests.conftest import ImportFn, service
from tests.support import (
    IMPORT_TIME,
    SEED,
    Content,
    article_text,
    counted_rebuilds,
)

GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each format has rendered a document."""
    calls: Counter[str] = Counter()
    for name, module in FORMATS.items():

        def counting(
            doc: object, kept: object = None, _name: str = name, _parts: object = module.parts
        ) -> list[bytes]:
            calls[_name] += 1
            return _parts(doc, kept)  # type: ignore[operator, no-any-return]

        monkeypatch.setattr(module, "parts", counting)
    return calls


@pytest.fixture
def seed(content: Content, run_import: ImportFn) -> None:
    """The seed article, imported."""
    content.write(SEED.name, SEED.read_bytes())
    run_import()


def sections(content: Content) -> None:
    for number in range(1, 4):
        day = f"{number} March 2020, 10:00"
        content.write(f"world/w{number}.txt", article_text(f"World {number}", day))
        content.write(f"uk/u{number}.txt", article_text(f"UK {number}", day))


def test_a_document_renders_once_until_its_data_changes(
    content: Content, run_import: ImportFn, seed: None, client: FlaskClient, renders: Counter[str]
) -> None:
    first = client.get("/feeds/rss.xml")
    for _ in range(5):
        again = client.get("/feeds/rss.xml")
        zipped = client.get("/feeds/rss.xml", headers=GZIP)
        assert again.data == first.data and again.headers["ETag"] == first.headers["ETag"]
        assert gzip.decompress(zipped.data) == first.data
    assert renders["rss"] == 1

    # Importing the same file again changes no data: nothing is rendered again.
    run_import(now=IMPORT_TIME + timedelta(hours=1))
    assert client.get("/feeds/rss.xml").data == first.data and renders["rss"] == 1

    content.write(SEED.name, SEED.read_text().replace("Two rockets", "Two more rockets"))
    run_import(now=IMPORT_TIME + timedelta(hours=2))
    changed = client.get("/feeds/rss.xml")
    assert changed.headers["ETag"] != first.headers["ETag"]
    assert b"Two more rockets" in changed.data and renders["rss"] == 2


def test_a_change_elsewhere_keeps_the_bytes_already_rendered(
    content: Content, run_import: ImportFn, client: FlaskClient, renders: Counter[str]
) -> None:
    sections(content)
    run_import()
    world = client.get("/feeds/world/atom.xml")
    uk = client.get("/feeds/uk/atom.xml")
    assert renders["atom"] == 2
    content.write("uk/u1.txt", article_text("UK 1, corrected", "1 March 2020, 10:00"))
    run_import(now=IMPORT_TIME + timedelta(hours=1))
    assert client.get("/feeds/world/atom.xml").headers["ETag"] == world.headers["ETag"]
    assert renders["atom"] == 2  # the world feed's bytes are kept
    assert client.get("/feeds/uk/atom.xml").headers["ETag"] != uk.headers["ETag"]
    assert renders["atom"] == 3


def test_after_one_article_changes_only_its_entry_is_rendered_and_compressed_again(
    content: Content, run_import: ImportFn, app: Flask, client: FlaskClient
) -> None:
    for number in range(1, 21):
        day = f"{number} March 2020, 10:00"
        content.write(f"a{number}.txt", article_text(f"Story {number}", day))
    run_import()
    cache = service(app).cache
    # Misses count what had to be made: articles read (and their HTML made), entries
    # rendered, parts compressed.
    articles, entries, pieces = cache.articles.kept, cache.entry_parts, cache.compressed.kept
    for path in ("/feeds/rss.xml", "/feeds/atom.xml", "/feeds/feed.json"):
        start = (entries.misses, pieces.misses)
        client.get(path, headers=GZIP)
        assert entries.misses - start[0] == 20, path  # every entry, rendered once
        before = pieces.misses
        assert before - start[1] == 21, path  # the 20 entries and the tail (the head is not kept)
        content.write(
            "a10.txt", article_text(f"Story 10, corrected for {path}", "10 March 2020, 10:00")
        )
        run_import(now=IMPORT_TIME + timedelta(hours=1 + len(path)))
        read, rendered = articles.misses, entries.misses
        zipped = client.get(path, headers=GZIP)
        assert articles.misses - read == 1, path  # the article cache keeps the others
        assert entries.misses - rendered == 1, path  # the entry cache the other entries
        plain = client.get(path)
        assert zipped.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(zipped.data) == plain.data and b"corrected for" in plain.data
        # The changed entry moves to the top: at most it, the entry that was first before it
        # and the one that followed it are compressed again (and the head, which is never
        # kept); the other 17 entries are not.
        assert 1 <= pieces.misses - before <= 3, path


def test_a_304_never_renders_even_from_a_cold_cache(
    content: Content, run_import: ImportFn, seed: None, client: FlaskClient, settings: Settings
) -> None:
    answer = client.get("/feeds/atom.xml", headers=GZIP)
    etag, last_modified = answer.headers["ETag"], answer.headers["Last-Modified"]

    # A new worker (an empty cache) answers revalidations without rendering anything.
    cold = create_app({"database": settings.database, "base_url": settings.base_url}, {})
    counted = Counter[str]()
    with pytest.MonkeyPatch.context() as patch:
        for name, module in FORMATS.items():
            patch.setattr(module, "parts", lambda *_, _n=name: counted.update([_n]) or [b""])
        fresh = cold.test_client()
        for headers in ({"If-None-Match": etag}, {"If-Modified-Since": last_modified}):
            got = fresh.get("/feeds/atom.xml", headers={**GZIP, **headers})
            assert got.status_code == 304 and got.headers["ETag"] == etag
        assert counted["atom"] == 0
    # The first request that needs the bytes renders them.
    assert cold.test_client().get("/feeds/atom.xml", headers=GZIP).data == answer.data


def test_the_cache_is_bounded_by_bytes(
    content: Content, run_import: ImportFn, settings: Settings
) -> None:
    long = tuple(f"Paragraph {n} " + "words " * 150 for n in range(12))
    for number in range(1, 41):
        section = ("world", "uk", "politics", "business")[number % 4]
        dateline = f"{number % 28 + 1} March 2020, 10:{number:02d}"
        content.write(f"{section}/a{number}.txt", article_text(f"Story {number}", dateline, long))
    run_import()
    limit = 300_000
    small = create_app(
        {"database": settings.database, "base_url": settings.base_url, "cache_bytes": limit}, {}
    )
    roomy = create_app({"database": settings.database, "base_url": settings.base_url}, {})
    paths = [
        f"/feeds{section}/{name}"
        for section in ("", "/world", "/uk", "/politics", "/business")
        for name in ("rss.xml", "atom.xml", "feed.json")
    ] + [f"/articles/a{n}" for n in range(1, 41)]
    cache = service(small).cache
    for _ in range(2):
        for path in paths:
            got = small.test_client().get(path, headers=GZIP)
            assert got.status_code == 200 and got.data, path
            assert got.data == roomy.test_client().get(path, headers=GZIP).data, path
            assert cache.total <= limit
    assert 0 < len(cache) < len(paths)  # the oldest were let go


def test_only_changes_move_the_data_version(
    content: Content, run_import: ImportFn, store: Store, settings: Settings
) -> None:
    sections(content)
    run_import()
    first = store.data_version()
    assert first is not None and first > 0
    run_import(now=IMPORT_TIME + timedelta(hours=1))  # the same files: no change
    assert store.data_version() == first
    content.write("uk/u2.txt", article_text("UK 2, corrected", "2 March 2020, 10:00"))
    report = import_paths(store, settings, [content.root / "uk"], now=IMPORT_TIME)
    assert report.updated == 1 and store.data_version() == first + 1  # one import, one step
    with store.write() as writer:
        writer.withdraw("w1", IMPORT_TIME + timedelta(hours=2), "delete")
    assert store.data_version() == first + 2
    with store.read() as reader:  # a rollback or a read changes nothing
        reader.all_ids()
    assert store.data_version() == first + 2


def test_up_to_date_documents_are_answered_before_flask_alike(
    content: Content, run_import: ImportFn, seed: None, app: Flask
) -> None:
    client = app.test_client()
    paths = ["/feeds/rss.xml", "/feeds/atom.xml", "/feeds/feed.json", "/", "/feeds.opml"]
    first = {(p, gz): client.get(p, headers=GZIP if gz else {}) for p in paths for gz in (0, 1)}
    views = dict(app.view_functions)

    def refuse(**_: object) -> Response:
        raise AssertionError("routed to a view although the document was up to date")

    for name in views:
        app.view_functions[name] = refuse
    app.testing = True  # a view's exception reaches the test
    try:
        for (path, gz), before in first.items():
            headers = GZIP if gz else {}
            again = client.get(path, headers=headers)
            assert again.status_code == 200 and again.data == before.data
            assert sorted(again.headers.items()) == sorted(before.headers.items()), path
            head = client.head(path, headers=headers)
            assert head.data == b"" and head.headers == again.headers
            etag = before.headers["ETag"]
            revalidated = client.get(path, headers={**headers, "If-None-Match": etag})
            assert revalidated.status_code == 304 and revalidated.data == b""
            for name in ("ETag", "Cache-Control", "Vary", "Link"):
                assert revalidated.headers[name] == before.headers[name]
        content.write(SEED.name, SEED.read_text().replace("Two rockets", "Two more rockets"))
        run_import(now=IMPORT_TIME + timedelta(hours=1))
        with pytest.raises(AssertionError, match="routed to a view"):
            client.get("/feeds/rss.xml")  # the data changed: the app must build it again
    finally:
        app.view_functions.update(views)
    assert b"Two more rockets" in client.get("/feeds/rss.xml").data


def test_a_broken_version_connection_never_serves_a_stale_document(
    content: Content, run_import: ImportFn, seed: None, app: Flask
) -> None:
    client = app.test_client()
    before = client.get("/feeds/atom.xml")
    store = service(app).store
    for conn in store._version._kept:  # the kept connections break (a restart, a timeout)
        conn.close()
    content.write(SEED.name, SEED.read_text().replace("Two rockets", "Two more rockets"))
    run_import(now=IMPORT_TIME + timedelta(hours=1))
    after = client.get("/feeds/atom.xml", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and b"Two more rockets" in after.data


def test_articles_are_sized_by_the_memory_their_text_takes() -> None:
    """Python holds text at 1, 2 or 4 bytes a character: the article cache counts that, so
    non-Latin text cannot overrun its share of FEEDS_CACHE_BYTES."""
    import dataclasses
    import sys

    from feeds.web.cache import _article_size
    from tests.samples import ARTICLES

    latin = dataclasses.replace(ARTICLES[1], paragraphs=("a" * 5_000,) * 4)
    for wide, width in (("中", 2), ("😀", 4)):
        article = dataclasses.replace(latin, paragraphs=(wide * 5_000,) * 4)
        held = sum(map(sys.getsizeof, article.paragraphs))
        assert held >= 4 * 5_000 * width
        assert _article_size(article) - _article_size(latin) >= 2 * 4 * 5_000 * (width - 1)


def test_a_default_sized_archive_of_full_articles_is_kept(
    app: Flask, content: Content, run_import: ImportFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the default FEEDS_CACHE_BYTES a 100-entry JSON Feed archive of 10 KB articles
    (about 2.7 MB) is kept: the requests after the first are answered from memory."""
    import random

    rng = random.Random(1)
    words = [f"word{n}" for n in range(3000)]
    for n in range(150):  # 50 in the subscription document, 100 in the archive's first part
        paragraphs = tuple(" ".join(rng.choice(words) for _ in range(150)) for _ in range(10))
        dateline = f"{1 + n // 10} March 2020, {n % 10 + 8}:00"
        content.write(f"a{n}.txt", article_text(f"Story {n}", dateline, paragraphs))
    run_import()
    rebuilds = counted_rebuilds(service(app).cache, monkeypatch)
    path = "/feeds/archive/2020/03/1/feed.json"
    client = app.test_client()
    first = client.get(path)
    assert first.status_code == 200 and len(json.loads(first.data)["items"]) == 100
    assert len(first.data) > 2_500_000
    for _ in range(3):
        assert client.get(path, headers=GZIP).status_code == 200
        assert client.get(path).data == first.data
    assert rebuilds == [path]
