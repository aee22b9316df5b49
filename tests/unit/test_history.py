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

from tests.support import IMPORT_TIME as NOW
from tests.support import Answer, Content, InProcess, Ran, article_text

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
def test_the_archives_hold_every_article_once(
    history: History, fmt: str, section: str, expected: list[str]
) -> None:
    documents = walk(history, feed_url(history, fmt, section), fmt)
    archived = [i for _, ids in documents[1:] for i in ids]
    assert tag_ids(archived) == expected  # every article, none twice
    assert len(documents[0][1]) == min(3, len(expected))  # FEEDS_PAGE_SIZE
    assert set(documents[0][1]) <= set(archived)
    assert all(len(ids) <= 2 for _, ids in documents[1:])  # FEEDS_ARCHIVE_SIZE
    assert all("/archive/2020/" in url for url, _ in documents[1:])


def test_the_archives_list_articles_by_the_month_they_entered_in_order(history: History) -> None:
    documents = walk(history, feed_url(history, "atom"), "atom")
    layout = [
        (url.split("/archive/")[1].rsplit("/", 1)[0], tag_ids(ids)) for url, ids in documents[1:]
    ]
    assert layout == [
        ("2020/03/2", ["t2"]),
        ("2020/03/1", ["u4", "w5"]),
        ("2020/02/2", ["w4"]),
        ("2020/02/1", ["u3", "w3"]),
        ("2020/01/3", ["w2"]),
        ("2020/01/2", ["u1", "u2"]),
        ("2020/01/1", ["t1", "w1"]),
    ]


def test_archive_documents_are_marked_linked_and_cached_long_when_closed(history: History) -> None:
    documents = walk(history, feed_url(history, "atom"), "atom")
    subscription = history.fetch(documents[0][0])[1]
    assert subscription["Cache-Control"] == "public, max-age=300"
    hub = history.url("/hub")
    assert subscription["Link"] == f'<{hub}>; rel="hub", <{documents[0][0]}>; rel="self"'
    for index, (url, _) in enumerate(documents[1:], start=1):
        status, headers, body = history.fetch(url)
        assert headers["Link"] == f'<{url}>; rel="self"'  # an archive is no WebSub topic
        root = etree.fromstring(body)
        assert root.find(f"{FH}archive") is not None
        links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
        assert links["current"] == documents[0][0] and links["self"] == url
        max_age = int(headers["Cache-Control"].rsplit("=", 1)[1])
        if index == 1:  # the newest archive: RFC 5005 gives it no next-archive
            assert "next-archive" not in links
            assert max_age == 300
        else:  # each names the next newer archive, and can no longer change its links
            assert links["next-archive"] == documents[index - 1][0]
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
    seen = [i for _, ids in walk(history, feed_url(history, "atom"), "atom")[1:] for i in ids]
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
    archives = [url for url, _ in walk(history, feed_url(history, "atom", "uk"), "atom")]
    for path in (history.content.root / "uk").glob("*.txt"):
        path.unlink()
    (history.content.root / "uk").rmdir()
    result = history.feeds("import", "--sync", str(history.content.root / "uk"))
    assert result.returncode == 0, result.stderr
    assert "4 withdrawn" in result.stdout
    # The section's feeds and archives stay, empty, with their links; Atom's with
    # tombstones.
    status, _, body = history.fetch(history.url("/feeds/uk/rss.xml"))
    assert status == 200 and b"<item>" not in body
    atom = etree.fromstring(history.fetch(history.url("/feeds/uk/atom.xml"))[2])
    assert len(atom.findall(f"{AT}deleted-entry")) == 3  # FEEDS_PAGE_SIZE, like entries
    for url in archives[1:]:
        status, _, body = history.fetch(url)
        root = etree.fromstring(body)
        assert status == 200 and root.findall(f"{ATOM}entry") == [], url
        assert root.find(f"{ATOM}link[@rel='current']") is not None


def test_a_late_article_enters_the_newest_archive_and_moves_no_other(history: History) -> None:
    before = {
        url: history.fetch(url) for url, _ in walk(history, feed_url(history, "atom"), "atom")[1:]
    }
    history.set_clock(NOW + timedelta(hours=1))
    history.write("x1", "", "1 February 2020, 09:00", title="Filed late")
    assert "1 added" in history.run("import")
    history.set_clock(NOW + timedelta(hours=2))
    documents = walk(history, feed_url(history, "atom"), "atom")
    assert tag_ids(documents[0][1][:1]) == ["x1"]  # the subscription document shows it first
    newest, *older = documents[1:]
    assert "/archive/2026/01/1/" in newest[0] and tag_ids(newest[1]) == ["x1"]
    for url, (_, headers, body) in before.items():
        _, again, again_body = history.fetch(url)
        if url == older[0][0]:  # the archive before it now leads on to it
            assert again["ETag"] != headers["ETag"]
            assert b'rel="next-archive"' in again_body
            continue
        assert again_body == body and again["ETag"] == headers["ETag"], url


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
    uk = feed_url(history, "json", "uk")
    assert history.fetch(uk)[1]["Link"] == f'<{history.url("/hub")}>; rel="hub", <{uk}>; rel="self"'
    opml = history.url("/feeds.opml")
    assert history.fetch(opml)[1]["Link"] == f'<{opml}>; rel="self"'


def archive_layout(history: History, section: str = "") -> dict[str, list[str]]:
    """Archive URL -> the ids it shows, along the prev-archive chain of the Atom feed."""
    documents = walk(history, feed_url(history, "atom", section), "atom")[1:]
    return {url: tag_ids(ids) for url, ids in documents}


def feed_updated(history: History, section: str = "") -> tuple[datetime, datetime]:
    """The Atom feed's updated time and the RSS channel's lastBuildDate."""
    atom = etree.fromstring(history.fetch(feed_url(history, "atom", section))[2])
    rss = etree.fromstring(history.fetch(feed_url(history, "rss", section))[2])
    return (
        datetime.fromisoformat(atom.findtext(f"{ATOM}updated")),
        parsedate_to_datetime(rss.findtext("channel/lastBuildDate")),
    )


@pytest.mark.parametrize("section", ["", "world"])
def test_a_correction_to_an_article_long_out_of_the_feed_reaches_its_subscribers(
    history: History, section: str
) -> None:
    oldest = tag_ids(
        [i for _, ids in walk(history, feed_url(history, "atom"), "atom")[-1:] for i in ids]
    )
    assert "w1" in oldest and b"Corrected" not in history.fetch(feed_url(history, "rss"))[2]
    history.set_clock(NOW + timedelta(hours=1))
    history.write("w1", "world", "5 January 2020, 10:00", title="Corrected headline")
    assert "1 updated" in history.run("import")
    rss = feedparser.parse(history.fetch(feed_url(history, "rss", section))[2])
    atom = feedparser.parse(history.fetch(feed_url(history, "atom", section))[2])
    items = json.loads(history.fetch(feed_url(history, "json", section))[2])["items"]
    for first in (rss.entries[0].title, atom.entries[0].title, items[0]["title"]):
        assert first == "Corrected headline"
    assert len(rss.entries) == len(atom.entries) == len(items) == 3  # still one page
    assert atom.entries[0].updated_parsed[:6] == (NOW + timedelta(hours=1)).timetuple()[:6]
    assert feed_updated(history, section) == (NOW + timedelta(hours=1),) * 2


def test_the_archives_show_the_latest_version_and_no_article_moves(history: History) -> None:
    before = archive_layout(history)
    history.set_clock(NOW + timedelta(hours=1))
    history.write("w1", "world", "5 January 2020, 10:00", title="Corrected headline")
    history.write("x1", "", "2 January 2020, 09:00", title="Filed late")
    history.write("x2", "uk", "11 March 2020, 09:00", title="Also late")
    history.run("import")
    history.run("delete", "w2")
    history.run("delete", "u3")
    history.set_clock(NOW + timedelta(hours=2))
    after = archive_layout(history)
    # Every archive served before still answers, with the same articles but the withdrawn.
    for url, ids in before.items():
        assert after[url] == [i for i in ids if i not in ("w2", "u3")], url
    (newest,) = set(after) - set(before)
    assert after[newest] == ["x1", "x2"] and "/archive/2026/01/1/" in newest
    body = history.fetch(history.url("/feeds/archive/2020/01/1/atom.xml"))[2]
    assert b"Corrected headline" in body


def test_an_archive_whose_articles_are_all_withdrawn_still_answers(history: History) -> None:
    url = history.url("/feeds/archive/2020/01/1/atom.xml")
    history.set_clock(NOW + timedelta(hours=1))
    history.run("delete", "t1")
    history.run("delete", "w1")
    for fmt in ("atom.xml", "rss.xml", "feed.json"):
        status, headers, body = history.fetch(url.replace("atom.xml", fmt))
        assert status == 200 and b":t1" not in body and b":w1" not in body, fmt
    root = etree.fromstring(history.fetch(url)[2])
    links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert links["next-archive"] == history.url("/feeds/archive/2020/01/2/atom.xml")
    assert links["current"] == feed_url(history, "atom")
    assert datetime.fromisoformat(root.findtext(f"{ATOM}updated")) == NOW + timedelta(hours=1)


def test_a_feeds_updated_time_moves_with_every_change_and_never_back(
    history: History, site_env: dict[str, str]
) -> None:
    times = [feed_updated(history, "uk")]
    steps: list[tuple[str, ...]] = [
        ("delete", "u4"),  # the newest leaves
        ("u1", "6 January 2020, 10:00", "Corrected"),
        ("u9", "3 January 2020, 10:00", "Late"),
        ("delete", "u9"),
    ]
    for hours, step in enumerate(steps, start=1):
        history.set_clock(NOW + timedelta(hours=hours))
        if step[0] == "delete":
            history.run(*step)
        else:
            history.write(step[0], "uk", step[1], title=step[2])
        history.run("import")
        history.set_clock(NOW + timedelta(hours=hours, minutes=30))
        times.append(feed_updated(history, "uk"))
        # The latest change: the one this step made, to the second, in both formats.
        assert times[-1] == (NOW + timedelta(hours=hours),) * 2, hours
    # After the tombstones expire, nothing in the store changed: the times stay.
    history.set_clock(NOW + timedelta(days=40))
    assert feed_updated(history, "uk") == times[-1]
    # Another worker, with nothing kept, makes the same document.
    other = InProcess(site_env)
    for fmt in ("atom", "rss"):
        assert (
            other.fetch(feed_url(history, fmt, "uk"))[2]
            == history.fetch(feed_url(history, fmt, "uk"))[2]
        )


def test_an_article_moved_to_another_section_leaves_a_gap_and_enters_at_the_end(
    history: History,
) -> None:
    for minutes, article_id in ((10, "w6"), (20, "w7"), (30, "w8")):  # filed late, in turn
        history.set_clock(NOW + timedelta(minutes=minutes))
        history.write(article_id, "world", "21 January 2020, 10:00")
        assert "1 added" in history.run("import")
    site, world = archive_layout(history), archive_layout(history, "world")
    assert world[history.url("/feeds/world/archive/2026/01/1/atom.xml")] == ["w6", "w7"]
    history.set_clock(NOW + timedelta(hours=1))
    for article_id in ("w1", "w6"):
        (history.content.root / "world" / f"{article_id}.txt").unlink()
    history.write("w1", "uk", "5 January 2020, 10:00")
    history.write("w6", "uk", "21 January 2020, 10:00")
    assert "2 updated" in history.run("import")
    history.set_clock(NOW + timedelta(hours=2))
    assert archive_layout(history) == site  # the site's archives: where it was
    moved = archive_layout(history, "world")
    assert moved == {url: [i for i in ids if i not in ("w1", "w6")] for url, ids in world.items()}
    uk = walk(history, feed_url(history, "atom", "uk"), "atom")
    assert tag_ids(uk[0][1][:2]) == ["w1", "w6"]  # first in the uk feed
    assert "/uk/archive/2026/01/1/" in uk[1][0] and tag_ids(uk[1][1]) == ["w1", "w6"]
    world_feed = history.fetch(feed_url(history, "rss", "world"))
    assert b":w1<" not in world_feed[2]
    assert parsedate_to_datetime(world_feed[1]["Last-Modified"]) == NOW + timedelta(hours=1)


def test_articles_entering_in_one_second_keep_the_order_they_came_in(
    history: History,
) -> None:
    token = history.run("token", "create", "--name", "cms", "--scope", "publish").strip()

    def put(article_id: str, published: str) -> None:
        body = {"title": article_id, "published": published, "text": "A paragraph."}
        answer = history.site.client.put(
            f"/api/v1/articles/{article_id}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 201, answer.data

    history.set_clock(datetime(2026, 1, 15, 12, 0, 6, tzinfo=UTC))
    put("b", "2026-01-15T12:00:05Z")  # newer than anything: enters at its published time
    put("c", "2026-01-15T12:00:06Z")
    url = history.url("/feeds/archive/2026/01/1/atom.xml")
    before = feedparser.parse(history.fetch(url)[2])
    assert tag_ids([e.id for e in before.entries]) == ["b", "c"]
    put("a", "2020-01-01T10:00:00Z")  # filed late, in the second c entered
    after = feedparser.parse(history.fetch(url)[2])
    assert tag_ids([e.id for e in after.entries]) == ["b", "c"]  # a comes after them
    assert b":a</id>" in history.fetch(history.url("/feeds/archive/2026/01/2/atom.xml"))[2]
