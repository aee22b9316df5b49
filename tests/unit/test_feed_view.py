"""The page a browser is shown for a feed (web/feed_view.py), through the Flask test client:
only a navigation gets it, every other client the feed byte for byte, each with its own
validators, Vary on both, and a partner's token nowhere new."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from feeds.web.feed_view import READERS
from tests.conftest import ImportFn, service
from tests.support import SEED, Content, InProcess, article_text, counted_rebuilds

NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
VARY = "Accept-Encoding, Sec-Fetch-Mode, Sec-Fetch-Dest"
BASE = "https://news.example.com"
FEEDS = [
    f"/feeds{where}/{name}"
    for where in ("", "/world", "/archive/2020/01/1", "/world/archive/2020/01/1")
    for name in ("rss.xml", "atom.xml", "feed.json")
]


@pytest.fixture
def seeded(content: Content, run_import: ImportFn) -> Content:
    content.write(SEED.name, SEED.read_bytes())
    content.write("world/w1.txt", article_text("A world story"))
    run_import()
    return content


class Page(HTMLParser):
    """What a test reads of a page: its title, links by rel, anchors and inputs."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.title = ""
        self.links: list[dict[str, str | None]] = []
        self.anchors: list[str] = []
        self.inputs: list[dict[str, str | None]] = []
        self._in_title = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "title":
            self._in_title = True
        elif tag == "link":
            self.links.append(named)
        elif tag == "a":
            self.anchors.append(named.get("href") or "")
        elif tag == "input":
            self.inputs.append(named)

    def handle_endtag(self, tag: str) -> None:
        self._in_title = self._in_title and tag != "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


@pytest.mark.parametrize("path", FEEDS)
def test_a_navigation_gets_the_page_and_everyone_else_the_same_feed(
    seeded: Content, client: FlaskClient, path: str
) -> None:
    before = client.get(path)
    page = client.get(path, headers=NAVIGATE)
    after = client.get(path)
    assert (after.data, after.headers["ETag"]) == (before.data, before.headers["ETag"])
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["ETag"] != before.headers["ETag"]
    assert page.headers["Cache-Control"].startswith("private, max-age=")
    assert page.headers["Vary"] == before.headers["Vary"] == VARY
    # The feed as rel="alternate" only: the page is no WebSub topic (WebSub §4.1).
    assert 'rel="self"' not in page.headers["Link"] and 'rel="hub"' not in page.headers["Link"]
    assert f'<{BASE}{path}>; rel="alternate"' in page.headers["Link"]
    html = page.get_data(as_text=True)
    parsed = Page(html)
    assert "feed" in parsed.title
    assert {link["rel"] for link in parsed.links} <= {"alternate", "outline"}
    assert f"{BASE}{path}" in [link["href"] for link in parsed.links if link["rel"] == "alternate"]
    (field,) = parsed.inputs
    assert field["value"] == BASE + path and "readonly" in field and field["id"] == "feed-url"
    others = [p for p in FEEDS if p.rsplit("/", 1)[0] == path.rsplit("/", 1)[0] and p != path]
    assert all(BASE + other in parsed.anchors for other in others)
    assert BASE + "/articles/w1" in parsed.anchors  # the newest entries, linked
    assert "A world story" in html
    if "/archive/" in path:  # an archive sends a person on to the feed to follow
        current = re.sub(r"/archive/\d{4}/\d\d/\d+", "", path)
        assert BASE + current in parsed.anchors
    else:
        for reader in READERS:
            assert reader.link(BASE + path) in parsed.anchors
        assert f"https://feedly.com/i/subscription/feed/{quote(BASE + path, safe='')}" in (
            parsed.anchors
        )


def test_only_both_fetch_metadata_headers_make_a_navigation(
    seeded: Content, client: FlaskClient
) -> None:
    feed = client.get("/feeds/atom.xml")
    for headers in (
        {"Sec-Fetch-Mode": "navigate"},
        {"Sec-Fetch-Dest": "document"},
        {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"},
        {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "document"},
        {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    ):
        answer = client.get("/feeds/atom.xml", headers=headers)
        assert (answer.data, answer.headers["ETag"]) == (feed.data, feed.headers["ETag"])


def test_the_page_is_kept_and_answered_by_the_fast_path_with_its_own_304(
    seeded: Content, app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    rebuilds = counted_rebuilds(service(app).cache, monkeypatch)
    client.get("/feeds/rss.xml")  # the feed, warm
    page = client.get("/feeds/rss.xml", headers=NAVIGATE)
    assert rebuilds == ["/feeds/rss.xml", "view:/feeds/rss.xml"]
    for _ in range(3):
        again = client.get("/feeds/rss.xml", headers=NAVIGATE)
        assert (again.data, again.headers["ETag"]) == (page.data, page.headers["ETag"])
        kept = client.get(
            "/feeds/rss.xml", headers=NAVIGATE | {"If-None-Match": page.headers["ETag"]}
        )
        assert kept.status_code == 304 and kept.headers["Vary"] == VARY
        # The feed's ETag is no validator of the page, nor the page's of the feed.
        feed_etag = client.get("/feeds/rss.xml").headers["ETag"]
        assert (
            client.get("/feeds/rss.xml", headers=NAVIGATE | {"If-None-Match": feed_etag})
            .headers["Content-Type"]
            .startswith("text/html")
        )
        assert (
            client.get(
                "/feeds/rss.xml", headers={"If-None-Match": page.headers["ETag"]}
            ).status_code
            == 200
        )
    assert rebuilds == ["/feeds/rss.xml", "view:/feeds/rss.xml"]
    # Pages that are no feed are the same for a browser: still answered from the cache.
    home = client.get("/")
    assert client.get("/", headers=NAVIGATE).data == home.data
    assert home.headers["Vary"] == "Accept-Encoding"


@pytest.fixture
def partner(site: InProcess, content: Content) -> str:
    content.write("world/w1.txt", article_text("A world story"))
    site.feeds("import")
    return site.add_partner()


def test_a_partners_page_shows_its_own_url_and_its_token_nowhere_else(
    site: InProcess, partner: str
) -> None:
    path = "/partners/globe/atom.xml"
    assert site.fetch(site.url(path), NAVIGATE)[0] == 401
    status, headers, body = site.fetch(site.url(f"{path}?token={partner}"), NAVIGATE)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Cache-Control"].startswith("private,")
    assert partner not in headers["Link"] and f'<{BASE}{path}>; rel="alternate"' in headers["Link"]
    parsed = Page(body.decode())
    assert parsed.inputs[0]["value"] == f"{BASE}{path}?token={partner}"
    assert not any("feedly" in a or "inoreader" in a for a in parsed.anchors)  # no reader
    assert b'<meta name="referrer" content="no-referrer">' in body
    # By Bearer, the page shows the URL without a token.
    bearer = {"Authorization": f"Bearer {partner}"} | NAVIGATE
    status, _, body = site.fetch(site.url(path), bearer)
    assert status == 200 and partner.encode() not in body
    feed = site.fetch(site.url(f"{path}?token={partner}"))
    assert feed[1]["Content-Type"].startswith("application/atom+xml")
    assert feed[1]["ETag"] != headers["ETag"]
