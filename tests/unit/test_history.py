"""Navigation and history: section feeds, RFC 5005 archives walked with real parsers,
withdrawals and tombstones, `feeds import --sync`, embargo on a driven clock, the OPML
directory and Link headers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import listparser
import pytest
from lxml import etree

from tests.support import Answer, Content, InProcess, Ran, article_text

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"
AT = "{http://purl.org/atompub/tombstones/1.0}"
CORPUS = {  # id -> (folder, dateline)
    "w1": ("world", "5 January 2020, 10:00"),
    "w2": ("world", "20 January 2020, 10:00"),
    "w3": ("world", "3 February 2020, 10:00"),
    "w4": ("world", "25 February 2020, 10:00"),
    "w5": ("world", "10 March 2020, 10:00"),
    "u1": ("uk", "6 January 2020, 10:00"),
    "u2": ("uk", "7 January 2020, 10:00"),
    "u3": ("uk", "15 February 2020, 10:00"),
    "u4": ("uk", "12 March 2020, 10:00"),
    "t1": ("", "1 January 2020, 10:00"),
    "t2": ("", "14 March 2020, 10:00"),
}


@dataclass
class History:
    """The site with CORPUS imported, its content folder and its clock."""

    site: InProcess
    content: Content
    clock: Path

    def url(self, path: str) -> str:
        return self.site.url(path)

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> Answer:
        return self.site.fetch(url, headers)

    def feeds(self, *args: str) -> Ran:
        return self.site.feeds(*args)

    def run(self, *args: str) -> str:
        """The output of a `feeds` command that must succeed."""
        result = self.feeds(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def set_clock(self, moment: datetime) -> None:
        self.clock.write_text(moment.isoformat())

    def write(self, article_id: str, folder: str, dateline: str, title: str = "") -> Path:
        name = f"{folder}/{article_id}.txt" if folder else f"{article_id}.txt"
        return self.content.write(
            name, article_text(title=title or f"Article {article_id}", dateline=dateline)
        )


@pytest.fixture
def clock(tmp_path: Path) -> Path:
    path = tmp_path / "clock"
    path.write_text(NOW.isoformat())
    return path


@pytest.fixture
def site_env(site_env: dict[str, str], clock: Path) -> dict[str, str]:
    return site_env | {
        "FEEDS_PAGE_SIZE": "3",
        "FEEDS_ARCHIVE_SIZE": "2",
        "FEEDS_CLOCK": str(clock),
        "FEEDS_MAX_AGE": "300",
    }


@pytest.fixture
def history(site: InProcess, content: Content, clock: Path) -> History:
    newsroom = History(site, content, clock)
    for article_id, (folder, dateline) in CORPUS.items():
        newsroom.write(article_id, folder, dateline)
    assert "11 added" in newsroom.run("import")
    return newsroom


def feed_url(history: History, fmt: str, section: str = "") -> str:
    name = {"rss": "rss.xml", "atom": "atom.xml", "json": "feed.json"}[fmt]
    return history.url(f"/feeds/{section}/{name}" if section else f"/feeds/{name}")


def walk(history: History, url: str, fmt: str) -> list[tuple[str, list[str]]]:
    """(URL, entry ids) of every document from `url` back along prev-archive / next_url."""
    documents: list[tuple[str, list[str]]] = []
    while url:
        assert len(documents) < 50, "the chain does not end"
        body = history.fetch(url)[2]
        if fmt == "json":
            feed = json.loads(body)
            documents.append((url, [item["id"] for item in feed["items"]]))
            url = feed.get("next_url", "")
            continue
        parsed = feedparser.parse(body)
        assert not parsed.bozo, (url, parsed.get("bozo_exception"))
        documents.append((url, [entry.id for entry in parsed.entries]))
        url = next(
            (link.href for link in parsed.feed.get("links", []) if link.rel == "prev-archive"), ""
        )
    return documents


def tag_ids(ids: list[str]) -> list[str]:
    return sorted(i.rsplit(":", 1)[1] for i in ids)


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("", sorted(CORPUS)),
        ("world", ["w1", "w2", "w3", "w4", "w5"]),
        ("uk", ["u1", "u2", "u3", "u4"]),
    ],
)
def test_walking_prev_archive_reaches_every_article_once(
    history: History, fmt: str, section: str, expected: list[str]
) -> None:
    documents = walk(history, feed_url(history, fmt, section), fmt)
    seen = [i for _, ids in documents for i in ids]
    assert tag_ids(seen) == expected  # every article, none twice
    assert len(documents[0][1]) == min(3, len(expected))  # FEEDS_PAGE_SIZE
    assert all(len(ids) <= 2 for _, ids in documents[1:])  # FEEDS_ARCHIVE_SIZE
    assert all("/archive/2020/" in url for url, _ in documents[1:])


def test_archive_documents_are_marked_linked_and_cached_long_when_closed(history: History) -> None:
    documents = walk(history, feed_url(history, "atom"), "atom")
    subscription = history.fetch(documents[0][0])[1]
    assert subscription["Cache-Control"] == "public, max-age=300"
    assert subscription["Link"] == f'<{documents[0][0]}>; rel="self"'
    for url, _ in documents[1:]:
        status, headers, body = history.fetch(url)
        root = etree.fromstring(body)
        assert root.find(f"{FH}archive") is not None
        links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
        assert links["current"] == documents[0][0] and links["self"] == url
        assert "next-archive" in links
        max_age = int(headers["Cache-Control"].rsplit("=", 1)[1])
        if url == documents[1][0]:  # the newest archive: its links move as archives appear
            assert max_age == 300
        else:  # the other archives are of closed months
            assert max_age >= 86_400, url
    rss = etree.fromstring(history.fetch(documents[-1][0].replace("atom.xml", "rss.xml"))[2])
    assert rss.find(f"channel/{FH}archive") is not None
    assert rss.find(f"channel/{ATOM}link[@rel='current']").get("href") == feed_url(history, "rss")


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/archive/2020/04/1/atom.xml",  # a month with no articles
        "/feeds/archive/2020/1/1/atom.xml",  # a month not written with two digits
        "/feeds/archive/2020/01/9/atom.xml",  # a part past the month's last
    ],
)
def test_archives_that_do_not_exist_are_404(history: History, path: str) -> None:
    assert history.fetch(history.url(path))[0] == 404


def test_archives_are_byte_stable_across_unrelated_imports(history: History) -> None:
    world = walk(history, feed_url(history, "atom", "world"), "atom")
    whole = walk(history, feed_url(history, "atom"), "atom")
    before = {url: history.fetch(url) for url, _ in world + whole[-2:]}
    history.write("u5", "uk", "1 April 2020, 10:00")
    assert "1 added" in history.run("import")
    for url, (_, headers, body) in before.items():
        _, again, again_body = history.fetch(url)
        assert again_body == body and again["ETag"] == headers["ETag"], url


def test_section_feeds_pages_and_categories(history: History) -> None:
    parsed = feedparser.parse(history.fetch(feed_url(history, "atom", "world"))[2])
    assert parsed.feed.title == "Newsroom — World"
    assert parsed.feed.links[0].href == feed_url(history, "atom", "world")
    assert all(e.tags[0].term == "world" for e in parsed.entries)
    rss = feedparser.parse(history.fetch(feed_url(history, "rss", "uk"))[2])
    assert all(e.tags[0].term == "uk" for e in rss.entries)
    items = json.loads(history.fetch(feed_url(history, "json", "world"))[2])["items"]
    assert all(item["tags"] == ["world"] for item in items)
    assert history.fetch(history.url("/feeds/sport/rss.xml"))[0] == 404
    status, headers, page = history.fetch(history.url("/sections/world"))
    assert status == 200
    assert f'href="{feed_url(history, "rss", "world")}"'.encode() in page
    assert headers["Link"].count('rel="alternate"') == 3
    assert history.fetch(history.url("/sections/sport"))[0] == 404


def test_a_section_feed_changes_only_when_its_articles_do(history: History) -> None:
    world = history.fetch(feed_url(history, "rss", "world"))[1]
    uk = history.fetch(feed_url(history, "rss", "uk"))[1]
    history.write("u5", "uk", "1 April 2020, 10:00")
    history.run("import")
    assert history.fetch(feed_url(history, "rss", "world"))[1]["ETag"] == world["ETag"]
    assert history.fetch(feed_url(history, "rss", "uk"))[1]["ETag"] != uk["ETag"]


def test_withdrawal_leaves_a_tombstone_in_atom_and_410(history: History) -> None:
    urls = [
        feed_url(history, fmt, section)
        for fmt in ("rss", "atom", "json")
        for section in ("", "world")
    ]
    before = {url: history.fetch(url)[1] for url in urls}
    history.set_clock(NOW + timedelta(hours=1))
    assert "withdrawn: w5" in history.run("delete", "w5")
    for url in urls:
        status, headers, body = history.fetch(url)
        assert headers["ETag"] != before[url]["ETag"], url
        assert parsedate_to_datetime(headers["Last-Modified"]) == NOW + timedelta(hours=1)
        assert b":w5" not in body or url.endswith("atom.xml")
    atom = etree.fromstring(history.fetch(feed_url(history, "atom", "world"))[2])
    (stone,) = atom.findall(f"{AT}deleted-entry")
    assert stone.get("ref").endswith(":w5")
    assert stone.get("when") == "2026-01-15T13:00:00Z"
    assert history.fetch(history.url("/articles/w5"))[0] == 410
    seen = [i for _, ids in walk(history, feed_url(history, "atom"), "atom") for i in ids]
    assert tag_ids(seen) == sorted(set(CORPUS) - {"w5"})
    # The tombstone lasts FEEDS_TOMBSTONE_DAYS (30).
    history.set_clock(NOW + timedelta(days=31))
    atom = etree.fromstring(history.fetch(feed_url(history, "atom", "world"))[2])
    assert atom.findall(f"{AT}deleted-entry") == []


def test_a_deleted_article_stays_withdrawn_until_its_file_changes(history: History) -> None:
    tag = feedparser.parse(history.fetch(feed_url(history, "atom", "world"))[2]).entries[0].id
    history.run("delete", "w5")
    assert "0 updated" in history.run("import")  # the file is still there, unchanged
    assert history.fetch(history.url("/articles/w5"))[0] == 410
    history.write("w5", "world", "10 March 2020, 10:00", title="Corrected and back")
    assert "1 updated" in history.run("import")
    entry = feedparser.parse(history.fetch(feed_url(history, "atom", "world"))[2]).entries[0]
    assert entry.id == tag and entry.title == "Corrected and back"
    assert history.fetch(history.url("/articles/w5"))[0] == 200


def test_unknown_ids_make_delete_fail(history: History) -> None:
    result = history.feeds("delete", "nope")
    assert result.returncode == 1 and "nope: no such article" in result.stderr


def test_a_file_that_comes_back_after_sync_restores_its_article(history: History) -> None:
    path = history.content.root / "uk" / "u4.txt"
    text = path.read_bytes()
    path.unlink()
    assert "1 withdrawn" in history.run("import", "--sync")
    assert history.fetch(history.url("/articles/u4"))[0] == 410
    path.write_bytes(text)
    assert "1 updated" in history.run("import", "--sync")
    assert history.fetch(history.url("/articles/u4"))[0] == 200


def test_sync_withdraws_missing_files_and_guards_the_store(history: History) -> None:
    (history.content.root / "uk" / "u1.txt").unlink()
    out = history.feeds("import", "--sync")
    assert out.returncode == 0 and "1 withdrawn" in out.stdout
    assert "withdrawn: u1" in out.stderr
    assert history.fetch(history.url("/articles/u1"))[0] == 410
    for article_id in ("w1", "w2", "w3", "w4", "w5", "u2", "u3"):
        path = next(history.content.root.rglob(f"{article_id}.txt"))
        path.unlink()
    refused = history.feeds("import", "--sync")
    assert refused.returncode != 0
    assert "more than half" in refused.stderr and "--force" in refused.stderr
    assert history.fetch(history.url("/articles/w1"))[0] == 200  # nothing was withdrawn
    forced = history.feeds("import", "--sync", "--force")
    assert forced.returncode == 0 and "7 withdrawn" in forced.stdout
    assert history.fetch(history.url("/articles/w1"))[0] == 410


def test_sync_guard_counts_only_what_was_stored_before(history: History) -> None:
    for path in history.content.root.rglob("*.txt"):
        path.unlink()
    for n in range(12):  # more new files than the store had: still a wholesale replacement
        history.write(f"n{n}", "world", "1 April 2020, 10:00")
    refused = history.feeds("import", "--sync")
    assert refused.returncode != 0 and "11 stored articles" in refused.stderr
    assert history.fetch(history.url("/articles/n0"))[0] == 404  # nothing was imported either


def test_sync_of_a_removed_section_folder_withdraws_its_articles(history: History) -> None:
    for path in (history.content.root / "uk").glob("*.txt"):
        path.unlink()
    (history.content.root / "uk").rmdir()
    result = history.feeds("import", "--sync", str(history.content.root / "uk"))
    assert result.returncode == 0, result.stderr
    assert "4 withdrawn" in result.stdout
    assert history.fetch(history.url("/feeds/uk/rss.xml"))[0] == 404


def test_if_modified_since_alone_sees_an_archive_part_shift(history: History) -> None:
    url = history.url("/feeds/archive/2020/02/2/atom.xml")  # w4 alone
    first = history.fetch(url)[1]
    history.set_clock(NOW + timedelta(hours=1))
    history.write("x1", "", "1 February 2020, 09:00")  # shifts u3 into part 2
    history.run("import")
    history.set_clock(NOW + timedelta(hours=2))
    status, headers, _ = history.fetch(url, {"If-Modified-Since": first["Last-Modified"]})
    assert status == 200 and headers["ETag"] != first["ETag"]
    assert history.fetch(url, {"If-Modified-Since": headers["Last-Modified"]})[0] == 304


def test_withdrawing_from_an_archive_changes_that_archive(history: History) -> None:
    url = history.url("/feeds/archive/2020/01/1/atom.xml")
    status, before, body = history.fetch(url)
    assert status == 200 and b":t1</id>" in body
    history.set_clock(NOW + timedelta(hours=3))
    history.run("delete", "t1")
    status, after, body = history.fetch(url)
    assert after["ETag"] != before["ETag"] and b":t1</id>" not in body
    assert parsedate_to_datetime(after["Last-Modified"]) == NOW + timedelta(hours=3)
    assert history.fetch(url, {"If-Modified-Since": before["Last-Modified"]})[0] == 200


def test_embargoed_article_appears_at_its_instant(history: History) -> None:
    release = NOW + timedelta(hours=2)
    before = {url: history.fetch(url)[1] for url in (feed_url(history, "atom"), history.url("/"))}
    history.write("s1", "sport", f"{release:%-d %B %Y, %H:%M}", title="Scheduled")
    assert "1 added" in history.run("import")
    for url, headers in before.items():
        status, again, body = history.fetch(url)
        assert again["ETag"] == headers["ETag"] and b"Scheduled" not in body
        assert again["Last-Modified"] == headers["Last-Modified"]
        assert int(again["Cache-Control"].rsplit("=", 1)[1]) <= 300
    assert history.fetch(history.url("/articles/s1"))[0] == 404
    assert history.fetch(history.url("/feeds/sport/atom.xml"))[0] == 404
    history.set_clock(release - timedelta(seconds=90))
    headers = history.fetch(feed_url(history, "atom"))[1]
    assert headers["Cache-Control"] == "public, max-age=90"  # never past the release
    history.set_clock(release)
    status, headers, body = history.fetch(feed_url(history, "atom"))
    assert b"Scheduled" in body and headers["ETag"] != before[feed_url(history, "atom")]["ETag"]
    assert parsedate_to_datetime(headers["Last-Modified"]) == release
    assert history.fetch(history.url("/articles/s1"))[0] == 200
    assert history.fetch(history.url("/feeds/sport/atom.xml"))[0] == 200


def test_withdrawing_an_embargoed_article_changes_nothing_visible(history: History) -> None:
    release = NOW + timedelta(days=1)
    history.write("s2", "world", f"{release:%-d %B %Y, %H:%M}")
    history.run("import")
    before = {
        url: history.fetch(url)[1]
        for url in (feed_url(history, "rss"), feed_url(history, "rss", "world"))
    }
    history.set_clock(NOW + timedelta(hours=1))
    history.run("delete", "s2")
    for url, headers in before.items():
        again = history.fetch(url)[1]
        assert (again["ETag"], again["Last-Modified"]) == (
            headers["ETag"],
            headers["Last-Modified"],
        )


def test_opml_lists_every_feed(history: History) -> None:
    status, headers, body = history.fetch(history.url("/feeds.opml"))
    assert status == 200 and headers["Content-Type"] == "text/x-opml; charset=utf-8"
    parsed = listparser.parse(body.decode())
    assert not parsed.bozo, parsed.get("bozo_exception")
    urls = {feed.url for feed in parsed.feeds}
    expected = {
        feed_url(history, fmt, section)
        for fmt in ("rss", "atom", "json")
        for section in ("", "world", "uk")
    }
    assert urls == expected
    titles = {feed.title for feed in parsed.feeds}
    assert "Newsroom — World (Atom)" in titles and "Newsroom (RSS)" in titles
    for page in ("/", "/sections/uk", "/articles/w1"):
        opml = f'href="{history.url("/feeds.opml")}"'.encode()
        assert opml in history.fetch(history.url(page))[2]


def test_every_page_and_feed_names_its_feeds_in_a_link_header(history: History) -> None:
    article = history.fetch(history.url("/articles/w1"))[1]["Link"]
    assert f'<{feed_url(history, "atom")}>; rel="alternate"' in article
    assert f'<{feed_url(history, "atom", "world")}>; rel="alternate"' in article
    index = history.fetch(history.url("/"))[1]["Link"]
    assert index.count('rel="alternate"') == 3
    for url in (feed_url(history, "json", "uk"), history.url("/feeds.opml")):
        assert history.fetch(url)[1]["Link"] == f'<{url}>; rel="self"'
