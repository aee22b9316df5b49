"""History over real HTTP from a real gunicorn process: feedparser walking RFC 5005 archives
by fetching their URLs itself, listparser reading the OPML directory whose every feed a
reader can then fetch, and a crawler walking from robots.txt through the sitemaps."""

from __future__ import annotations

import json
import urllib.robotparser
from collections.abc import Iterator
from pathlib import Path

import feedparser
import listparser
import pytest
from lxml import etree

from tests.support import Content, Served, article_text, fetch, start_server

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
CORPUS = {  # id -> (folder, dateline)
    "w1": ("world", "5 January 2020, 10:00"),
    "w2": ("world", "20 January 2020, 10:00"),
    "w3": ("world", "3 February 2020, 10:00"),
    "u1": ("uk", "6 January 2020, 10:00"),
    "u2": ("uk", "15 February 2020, 10:00"),
    "u3": ("uk", "12 March 2020, 10:00"),
    "t1": ("", "1 January 2020, 10:00"),
    "t2": ("", "14 March 2020, 10:00"),
}


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One real server for the module (pages of 3, archive parts of 2) with CORPUS imported;
    the tests only read."""
    folder = tmp_path_factory.mktemp("history")
    content = Content(folder / "content")
    for article_id, (section, dateline) in CORPUS.items():
        name = f"{section}/{article_id}.txt" if section else f"{article_id}.txt"
        content.write(name, article_text(title=f"Article {article_id}", dateline=dateline))
    server = start_server(
        folder,
        {"FEEDS_PAGE_SIZE": "3", "FEEDS_ARCHIVE_SIZE": "2", "FEEDS_CONTENT": str(content.root)},
    )
    try:
        result = server.feeds("import")
        assert result.returncode == 0 and "8 added" in result.stdout, result.stderr
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("name", ["rss.xml", "atom.xml"])
def test_feedparser_walking_prev_archive_over_http_finds_every_article_archived_once(
    newsroom: Served, name: str
) -> None:
    url, documents = newsroom.url(f"/feeds/{name}"), 0
    seen: list[str] = []
    while url:
        assert documents < 50, "the chain does not end"
        parsed = feedparser.parse(url)
        assert parsed.status == 200 and not parsed.bozo, (url, parsed.get("bozo_exception"))
        assert documents == 0 or "/feeds/archive/2020/" in url
        if documents:  # the archives: the subscription document repeats some of them
            seen += [entry.id.rsplit(":", 1)[1] for entry in parsed.entries]
        documents += 1
        url = next(
            (link.href for link in parsed.feed.get("links", []) if link.rel == "prev-archive"), ""
        )
    assert sorted(seen) == sorted(CORPUS)  # every article, none twice
    assert documents > 2  # the subscription document and archives of more than one month


def test_every_feed_the_opml_directory_lists_can_be_read_over_http(newsroom: Served) -> None:
    directory = listparser.parse(newsroom.url("/feeds.opml"))
    assert not directory.bozo, directory.get("bozo_exception")
    urls = sorted(feed.url for feed in directory.feeds)
    assert len(urls) == 9  # three formats of the whole site, world and uk
    for url in urls:
        assert url.startswith(newsroom.url("/feeds/")), url
        if url.endswith("feed.json"):  # feedparser has no JSON Feed parser
            status, _, body = fetch(url)
            assert status == 200 and json.loads(body)["items"], url
            continue
        parsed = feedparser.parse(url)
        assert parsed.status == 200 and not parsed.bozo, (url, parsed.get("bozo_exception"))
        assert parsed.entries, url


def test_a_crawler_finds_every_article_from_robots_txt_through_the_sitemaps(
    newsroom: Served,
) -> None:
    robots = urllib.robotparser.RobotFileParser(newsroom.url("/robots.txt"))
    robots.read()  # over real HTTP
    assert robots.site_maps() == [newsroom.url("/sitemap.xml"), newsroom.url("/sitemaps/news.xml")]
    index = sitemap(newsroom.url("/sitemap.xml"), "siteindex.xsd")
    pages: list[str] = []
    for url in [loc.text or "" for loc in index.iter(f"{SITEMAP}loc")]:
        pages += [loc.text or "" for loc in sitemap(url, "sitemap.xsd").iter(f"{SITEMAP}loc")]
    articles = sorted(url.rsplit("/", 1)[1] for url in pages if "/articles/" in url)
    assert articles == sorted(CORPUS)  # every article, once
    assert newsroom.url("/sections/world") in pages
    for url in pages:
        assert robots.can_fetch("Googlebot", url) and fetch(url)[0] == 200, url
    status, headers, _ = fetch(newsroom.url("/sitemaps/news.xml"))
    assert status == 200  # nothing from the last two days: no URL, still a sitemap
    again = fetch(newsroom.url("/sitemaps/news.xml"), {"If-None-Match": headers["ETag"]})
    assert again[0] == 304


def sitemap(url: str, schema: str) -> etree._Element:
    """The sitemap at `url`, fetched over HTTP, once the published `schema` has passed it."""
    status, headers, body = fetch(url)
    assert status == 200 and headers["Content-Type"] == "application/xml; charset=utf-8", url
    document = etree.fromstring(body)
    checker = etree.XMLSchema(etree.parse(str(SCHEMAS / schema)))
    assert checker.validate(document), (url, checker.error_log)
    return document
