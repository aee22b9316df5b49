"""HTTP behaviour through the Flask test client: media types, validators, conditional GET,
HEAD, gzip, caching headers, canonical URLs and errors."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from flask import Flask, Response
from flask.testing import FlaskClient
from werkzeug.http import http_date
from werkzeug.test import TestResponse

from feeds.config import Settings
from feeds.formats import FORMATS
from feeds.web import create_app
from tests.conftest import ImportFn
from tests.support import (
    GZIP,
    IMPORT_TIME,
    SEED,
    Answer,
    Content,
    article_text,
    check_case,
    new_database,
    on_sqlite_only,
    representation_cases,
)

FEEDS = {
    "/feeds/rss.xml": "application/rss+xml; charset=utf-8",
    "/feeds/atom.xml": "application/atom+xml; charset=utf-8",
    "/feeds/feed.json": "application/feed+json; charset=utf-8",
}


@pytest.fixture
def seeded(content: Content, run_import: ImportFn) -> Content:
    content.write(SEED.name, SEED.read_bytes())
    run_import()
    return content


@pytest.mark.parametrize(("path", "media_type"), FEEDS.items())
def test_feed_media_types_and_caching_headers(
    seeded: Content, client: FlaskClient, path: str, media_type: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == media_type
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["Vary"] == "Accept-Encoding, Sec-Fetch-Mode, Sec-Fetch-Dest"
    assert response.headers["ETag"].startswith('"') and not response.headers["ETag"].startswith(
        "W/"
    )
    # The update marker: the seed article's Updated: time, 20:58 GMT.
    assert response.headers["Last-Modified"] == "Sat, 04 Jan 2020 20:58:00 GMT"


@pytest.mark.parametrize("path", FEEDS)
def test_if_none_match_gets_304_with_the_same_headers_and_no_body(
    seeded: Content, client: FlaskClient, path: str
) -> None:
    first = client.get(path)
    etag = first.headers["ETag"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*", '"x", *'):
        again = client.get(path, headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.data == b""
        for name in ("ETag", "Cache-Control", "Vary"):
            assert again.headers[name] == first.headers[name]
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_if_modified_since(seeded: Content, client: FlaskClient) -> None:
    last_modified = client.get("/feeds/atom.xml").headers["Last-Modified"]
    assert (
        client.get("/feeds/atom.xml", headers={"If-Modified-Since": last_modified}).status_code
        == 304
    )
    earlier = "Sat, 04 Jan 2020 20:57:59 GMT"
    assert client.get("/feeds/atom.xml", headers={"If-Modified-Since": earlier}).status_code == 200
    assert (
        client.get("/feeds/atom.xml", headers={"If-Modified-Since": "not a date"}).status_code
        == 200
    )


def test_if_none_match_wins_over_if_modified_since(seeded: Content, client: FlaskClient) -> None:
    first = client.get("/feeds/rss.xml")
    stale = client.get(
        "/feeds/rss.xml",
        headers={"If-None-Match": '"stale"', "If-Modified-Since": first.headers["Last-Modified"]},
    )
    assert stale.status_code == 200
    fresh = client.get(
        "/feeds/rss.xml",
        headers={
            "If-None-Match": first.headers["ETag"],
            "If-Modified-Since": "Mon, 01 Jan 1990 00:00:00 GMT",
        },
    )
    assert fresh.status_code == 304


def test_answering_304_never_renders(
    seeded: Content, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    etag = client.get("/feeds/rss.xml").headers["ETag"]

    def refuse(*args: object) -> bytes:
        raise AssertionError("rendered while answering a conditional request")

    for module in FORMATS.values():
        monkeypatch.setattr(module, "render", refuse)
        monkeypatch.setattr(module, "parts", refuse)
    assert client.get("/feeds/rss.xml", headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("path", FEEDS)
def test_head_is_get_without_a_body(seeded: Content, client: FlaskClient, path: str) -> None:
    get = client.get(path)
    head = client.head(path)
    assert head.status_code == 200 and head.data == b""
    for name in ("ETag", "Last-Modified", "Content-Type", "Content-Length", "Cache-Control"):
        assert head.headers[name] == get.headers[name]


@pytest.mark.parametrize("path", FEEDS)
def test_gzip_when_accepted(seeded: Content, client: FlaskClient, path: str) -> None:
    plain = client.get(path)
    packed = client.get(path, headers={"Accept-Encoding": "br;q=1, gzip;q=0.8"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.headers["Vary"] == "Accept-Encoding, Sec-Fetch-Mode, Sec-Fetch-Dest"
    assert gzip.decompress(packed.data) == plain.data
    assert packed.headers["ETag"] != plain.headers["ETag"]
    refused = client.get(path, headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers
    revalidated = client.get(
        path, headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]}
    )
    assert revalidated.status_code == 304
    assert revalidated.headers["ETag"] == packed.headers["ETag"]


@pytest.fixture
def worker(content: Content, run_import: ImportFn, settings: Settings) -> Callable[[], Flask]:
    """A new worker (an app with nothing cached) at each call, of a site whose subscription
    documents hold one article: the later one, while the seed is in the archive of its
    month."""
    content.write(SEED.name, SEED.read_bytes())
    content.write("world/later.txt", article_text("Later", "6 January 2020, 09:00"))
    run_import()
    overrides = {"database": settings.database, "base_url": settings.base_url, "page_size": 1}
    return lambda: create_app(overrides, {})


def _answer(response: TestResponse) -> Answer:
    return response.status_code, dict(response.headers), response.get_data()


@contextmanager
def views_refused(app: Flask) -> Iterator[None]:
    """Every request that reaches a view fails: what is answered is answered before Flask."""
    views = dict(app.view_functions)

    def refuse(**_: object) -> Response:
        raise AssertionError("routed to a view although the document was up to date")

    app.view_functions.update({name: refuse for name in views})
    app.testing = True  # a view's exception reaches the test
    try:
        yield
    finally:
        app.view_functions.update(views)
        app.testing = False


@pytest.mark.parametrize("path", ["/feeds/atom.xml", "/feeds/archive/2020/01/1/rss.xml"])
def test_if_none_match_is_compared_with_the_selected_representation_alone(
    worker: Callable[[], Flask], path: str
) -> None:
    first = worker().test_client()
    identity, gzipped = _answer(first.get(path)), _answer(first.get(path, headers=GZIP))
    assert identity[0] == gzipped[0] == 200
    assert gzipped[1]["Content-Encoding"] == "gzip" and gzip.decompress(gzipped[2]) == identity[2]
    cases = representation_cases(
        identity[1]["ETag"], gzipped[1]["ETag"], identity[1]["Last-Modified"]
    )
    for case in cases:
        app = worker()  # the first request of a worker goes through Flask and builds
        full = gzipped if case.gzip else identity
        client = app.test_client()
        check_case(case, _answer(client.open(path, method=case.method, headers=case.headers)), full)
        with views_refused(app):  # the same again is answered before Flask
            again = client.open(path, method=case.method, headers=case.headers)
        check_case(case, _answer(again), full)
    # One worker asked everything in turn: a document kept unrendered after 304s renders
    # when a request selects a representation whose ETag the client does not hold.
    client = worker().test_client()
    for case in sorted(cases, key=lambda case: case.status == 200):
        full = gzipped if case.gzip else identity
        check_case(case, _answer(client.open(path, method=case.method, headers=case.headers)), full)


def test_same_data_same_bytes_and_etag(
    seeded: Content, client: FlaskClient, run_import: ImportFn, settings: Settings
) -> None:
    before = {path: client.get(path) for path in FEEDS}
    report = run_import(now=IMPORT_TIME + timedelta(days=30))
    assert report.unchanged == 1
    # A second app (as another worker or server would) renders everything afresh.
    other = create_app({"database": settings.database, "base_url": settings.base_url}, {})
    for path, response in before.items():
        again = other.test_client().get(path)
        assert again.data == response.data
        assert again.headers["ETag"] == response.headers["ETag"]
        assert again.headers["Last-Modified"] == response.headers["Last-Modified"]


def test_a_change_moves_etag_and_last_modified_at_once(
    seeded: Content, client: FlaskClient, run_import: ImportFn
) -> None:
    first = client.get("/feeds/atom.xml")
    seeded.write(SEED.name, SEED.read_text().replace("Two rockets", "Three rockets"))
    later = IMPORT_TIME + timedelta(days=1)
    assert run_import(now=later).updated == 1
    second = client.get("/feeds/atom.xml", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200
    assert second.headers["ETag"] != first.headers["ETag"]
    assert second.headers["Last-Modified"] == http_date(later)
    by_date = client.get(
        "/feeds/atom.xml", headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    assert by_date.status_code == 200


def test_back_dated_change_still_moves_last_modified(
    content: Content, client: FlaskClient, run_import: ImportFn
) -> None:
    # Article a is updated to a time before b's marker: the feed's newest marker stays b's,
    # yet a client revalidating by date alone must see the change.
    content.write("a.txt", article_text(dateline="1 May 2020, 10:00"))
    content.write("b.txt", article_text(dateline="2 May 2020, 10:00 | Updated: 9 May 2020, 10:00"))
    run_import()
    first = client.get("/feeds/rss.xml")
    content.write("a.txt", article_text(dateline="1 May 2020, 10:00 | Updated: 3 May 2020, 10:00"))
    run_import(now=IMPORT_TIME + timedelta(hours=1))
    again = client.get(
        "/feeds/rss.xml", headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    assert again.status_code == 200


def test_host_and_forwarded_headers_never_change_a_feed(
    seeded: Content, client: FlaskClient
) -> None:
    for path in FEEDS:
        plain = client.get(path)
        spoofed = client.get(
            path,
            headers={
                "Host": "evil.example",
                "X-Forwarded-Host": "evil.example",
                "X-Forwarded-Proto": "gopher",
                "X-Forwarded-Prefix": "/x",
            },
        )
        assert spoofed.data == plain.data
        assert spoofed.headers["ETag"] == plain.headers["ETag"]
        assert b"evil" not in spoofed.data
        assert b"https://news.example.com/" in plain.data


def test_unknown_paths_404_and_other_methods_405(seeded: Content, client: FlaskClient) -> None:
    assert client.get("/feeds/rss.json").status_code == 404
    assert client.get("/nope").status_code == 404
    assert client.get("/articles/unknown").status_code == 404
    for method in ("post", "put", "delete", "patch", "options"):
        response = getattr(client, method)("/feeds/rss.xml")
        assert response.status_code == 405
        assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD"}


def test_index_links_feeds_with_autodiscovery(seeded: Content, client: FlaskClient) -> None:
    page = client.get("/", headers={"Host": "evil.example"})
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    text = page.get_data(as_text=True)
    for path, media_type in FEEDS.items():
        link = f'<link rel="alternate" type="{media_type.split(";")[0]}"'
        assert link in text
        assert f'href="https://news.example.com{path}"' in text
    assert "https://news.example.com/articles/000_c3ce8669dcb39210" in text
    assert "<script" not in text and "evil" not in text


def test_article_page(seeded: Content, client: FlaskClient) -> None:
    page = client.get("/articles/000_c3ce8669dcb39210")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Multiple US bases in Iraq hit with rockets" in text
    assert 'datetime="2020-01-04T18:09:00Z"' in text and "Vanessa Feltz" not in text
    assert page.headers["ETag"]
    assert (
        client.get(
            "/articles/000_c3ce8669dcb39210", headers={"If-None-Match": page.headers["ETag"]}
        ).status_code
        == 304
    )


def test_markup_in_articles_is_escaped_on_pages(
    content: Content, run_import: ImportFn, client: FlaskClient
) -> None:
    content.write(
        "x.txt",
        article_text(
            title="<script>alert(1)</script>", paragraphs=("<img src=x onerror=alert(1)>",)
        ),
    )
    run_import()
    text = client.get("/articles/x").get_data(as_text=True)
    assert "<script>alert" not in text and "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_empty_store_serves_valid_empty_feeds(client: FlaskClient) -> None:
    for path in FEEDS:
        response = client.get(path)
        assert response.status_code == 200
        # What the feed says it was updated: the store's creation (here, the import's
        # time), never 1970.
        assert response.headers["Last-Modified"] == "Thu, 15 Jan 2026 12:00:00 GMT", path


@on_sqlite_only
def test_healthz(client: FlaskClient, tmp_path: Path) -> None:
    assert client.get("/healthz").status_code == 200
    # A database path that is a folder: the store cannot answer.
    broken_app = create_app({"database": f"sqlite:///{tmp_path}"}, environ={})
    broken = broken_app.test_client().get("/healthz")
    assert broken.status_code == 503
    assert broken.headers["Retry-After"]
    feed = broken_app.test_client().get("/feeds/rss.xml")
    assert feed.status_code == 503 and feed.headers["Retry-After"]


def test_last_modified_is_never_in_the_future(
    content: Content, run_import: ImportFn, client: FlaskClient
) -> None:
    content.write(
        "x.txt", article_text(dateline="1 January 2020, 10:00 | Updated: 1 January 2099, 10:00")
    )
    run_import()
    response = client.get("/feeds/rss.xml")
    assert parsedate_to_datetime(response.headers["Last-Modified"]) <= datetime.now(UTC)


def test_an_article_leaving_a_full_feed_moves_last_modified(
    content: Content, run_import: ImportFn, settings: Settings
) -> None:
    app = create_app(
        {"database": settings.database, "base_url": settings.base_url, "page_size": 2}, environ={}
    )
    client = app.test_client()
    for day, name in ((3, "c"), (2, "b"), (1, "a")):
        content.write(f"{name}.txt", article_text(dateline=f"{day} May 2020, 10:00"))
    run_import()
    first = client.get("/feeds/atom.xml")
    assert b":c</id>" in first.data and b":a</id>" not in first.data
    # c is put under embargo again: it leaves the feed, a comes back with its old time.
    content.write("c.txt", article_text(dateline="1 June 2099, 10:00"))
    run_import(now=IMPORT_TIME + timedelta(hours=2))
    again = client.get(
        "/feeds/atom.xml", headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )
    assert again.status_code == 200
    assert b":a</id>" in again.data and b":c</id>" not in again.data
    assert again.headers["Last-Modified"] == http_date(IMPORT_TIME + timedelta(hours=2))
    updated = re.search(rb"<updated>([^<]+)</updated>", again.data)
    assert updated is not None
    assert datetime.fromisoformat(updated.group(1).decode()) == IMPORT_TIME + timedelta(hours=2)


def test_an_unparsable_if_none_match_still_overrides_if_modified_since(
    seeded: Content, client: FlaskClient
) -> None:
    last_modified = client.get("/feeds/rss.xml").headers["Last-Modified"]
    for header in ('""', ",", '"unterminated'):
        response = client.get(
            "/feeds/rss.xml", headers={"If-None-Match": header, "If-Modified-Since": last_modified}
        )
        assert response.status_code == 200, header


def test_pages_show_numeric_offsets_never_zone_abbreviations(
    content: Content, run_import: ImportFn, client: FlaskClient
) -> None:
    content.write(
        "s.txt", article_text(dateline="1 July 2020, 10:00 | Updated: 1 July 2020, 11:00")
    )
    run_import()
    text = client.get("/articles/s").get_data(as_text=True)
    assert "1 July 2020, 10:00 +01:00" in text and "11:00 +01:00" in text
    assert "BST" not in text and "GMT" not in text


def test_every_setting_that_shapes_a_page_is_in_its_etag(
    seeded: Content, settings: Settings
) -> None:
    etags = set()
    for zone in ("Europe/London", "America/New_York"):
        app = create_app(
            {"database": settings.database, "base_url": settings.base_url, "timezone": zone},
            environ={},
        )
        etags.add(app.test_client().get(f"/articles/{SEED.stem}").headers["ETag"])
    assert len(etags) == 2


def test_a_store_without_its_schema_is_an_error_that_names_feeds_migrate(
    tmp_path: Path,
) -> None:
    app = create_app({"database": new_database(tmp_path, "empty")}, environ={})
    client = app.test_client()
    for path in ("/feeds/rss.xml", "/", "/articles/x", "/healthz"):
        response = client.get(path)
        assert response.status_code == 500, path
        assert "feeds migrate" in response.text and "Retry-After" not in response.headers
    response = client.get("/api/v1/articles/x", headers={"Authorization": "Bearer t"})
    assert response.status_code == 500 and response.mimetype == "application/problem+json"
    assert "feeds migrate" in response.json["detail"]  # type: ignore[index]


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/archive/0000/01/1/atom.xml",
        "/feeds/archive/9999/12/1/atom.xml",
        "/feeds/world/archive/0000/12/1/rss.xml",
        "/feeds/authors/someone/archive/9999/12/1/feed.json",
        "/feeds/archive/2020/13/1/atom.xml",
        "/feeds/archive/2020/01/0/atom.xml",
    ],
)
def test_archives_of_months_no_calendar_has_are_not_found(
    seeded: Content, client: FlaskClient, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 404 and "YYYY/MM/PART" in response.text
