"""History over real HTTP from a real gunicorn process: feedparser walking RFC 5005 archives
by fetching their URLs itself, and listparser reading the OPML directory whose every feed a
reader can then fetch."""

from __future__ import annotations

import json
from collections.abc import Iterator

import feedparser
import listparser
import pytest

from tests.support import Content, Served, article_text, fetch, start_server

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
