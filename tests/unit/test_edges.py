"""Edges of what subscribers see: bytes and ETags that agree on every worker, updated times
that move only with the document's own content, placements made under embargo, bounded
tombstones, bulk imports, date-only revalidation within one second, dates at the end of the
calendar and tombstones of articles embargoed again."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from feeds import credentials
from feeds.errors import PartnerError, TokenError
from tests.support import IMPORT_TIME as NOW
from tests.support import Content, InProcess, article_text

ATOM = "{http://www.w3.org/2005/Atom}"
AT = "{http://purl.org/atompub/tombstones/1.0}"


class Newsroom:
    """The site on a driven clock, with a publish token."""

    def __init__(self, site: InProcess, content: Content, clock: Path) -> None:
        self.site, self.content, self.clock = site, content, clock
        made = site.feeds("token", "create", "--name", "cms", "--scope", "publish")
        assert made.returncode == 0, made.stderr
        self.token = made.stdout.strip()

    def at(self, moment: datetime) -> None:
        self.clock.write_text(moment.isoformat())

    def get(self, path: str, site: InProcess | None = None) -> tuple[int, dict[str, str], bytes]:
        answer = (site or self.site).client.get(path)
        return answer.status_code, dict(answer.headers), answer.get_data()

    def put(self, article_id: str, **fields: Any) -> None:
        body = {"title": f"Article {article_id}", "text": "Body.", **fields}
        answer = self.site.client.put(
            f"/api/v1/articles/{article_id}",
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert answer.status_code in (200, 201), answer.get_data()

    def run(self, *args: str) -> str:
        done = self.site.feeds(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def walk(self, path: str) -> dict[str, list[str]]:
        """Archive path -> ids it shows, along prev-archive from the Atom document `path`."""
        found: dict[str, list[str]] = {}
        root = etree.fromstring(self.get(path)[2])
        while (href := _link(root, "prev-archive")) is not None:
            status, _, body = self.get(href)
            assert status == 200, href
            root = etree.fromstring(body)
            found[href] = ids(root)
        return found


def _link(root: Any, rel: str) -> str | None:
    for el in root.findall(f"{ATOM}link"):
        if el.get("rel") == rel:
            return str(el.get("href")).removeprefix("https://news.example.com")
    return None


def ids(root: Any) -> list[str]:
    return [e.findtext(f"{ATOM}id").rsplit(":", 1)[1] for e in root.findall(f"{ATOM}entry")]


def atom_updated(body: bytes) -> datetime:
    return datetime.fromisoformat(etree.fromstring(body).findtext(f"{ATOM}updated"))


def rss_updated(body: bytes) -> datetime:
    return parsedate_to_datetime(etree.fromstring(body).findtext("channel/lastBuildDate"))


@pytest.fixture
def site_env(site_env: dict[str, str], clock: Path) -> dict[str, str]:
    return site_env | {
        "FEEDS_PAGE_SIZE": "3",
        "FEEDS_ARCHIVE_SIZE": "2",
        "FEEDS_CLOCK": str(clock),
        "FEEDS_TIMEZONE": "UTC",
    }


@pytest.fixture
def newsroom(site: InProcess, content: Content, clock: Path) -> Iterator[Newsroom]:
    yield Newsroom(site, content, clock)


def seed(newsroom: Newsroom, count: int = 6, section: str = "world") -> None:
    for day in range(1, count + 1):
        newsroom.content.write(
            f"{section}/{section[0]}{day}.txt",
            article_text(title=f"{section} {day}", dateline=f"{day} January 2020, 10:00"),
        )
    assert f"{count} added" in newsroom.run("import")


# -- 1. The ETag covers the document's own updated time ------------------------------


def test_one_etag_means_one_set_of_bytes_on_every_worker(
    newsroom: Newsroom, site_env: dict[str, str]
) -> None:
    seed(newsroom)
    first = newsroom.get("/feeds/rss.xml")
    newsroom.at(NOW + timedelta(hours=1))
    newsroom.run("delete", "w1")  # the oldest: not on the 3-entry page
    kept = newsroom.get("/feeds/rss.xml")  # this worker keeps its bytes (same ETag)
    fresh = newsroom.get("/feeds/rss.xml", InProcess(site_env))  # a worker that kept nothing
    assert first[1]["ETag"] != kept[1]["ETag"] == fresh[1]["ETag"]  # its updated time moved
    assert rss_updated(kept[2]) == rss_updated(fresh[2]) == NOW + timedelta(hours=1)
    assert kept[2] == fresh[2]


def test_an_author_feed_keeps_its_time_when_another_article_is_withdrawn(
    newsroom: Newsroom, site_env: dict[str, str]
) -> None:
    newsroom.put("by-ann", published="2020-01-01T10:00:00Z", authors=["Ann Writer"])
    newsroom.put("other", published="2020-01-02T10:00:00Z", section="sport")
    newsroom.at(NOW + timedelta(hours=1))
    newsroom.run("delete", "other")  # not Ann's, not in her feed
    body = newsroom.get("/feeds/authors/ann-writer/atom.xml", InProcess(site_env))[2]
    # Ann's feed last changed when her article did (its own time, in a store filled at once).
    assert atom_updated(body) == datetime(2020, 1, 1, 10, 0, tzinfo=UTC)


def test_an_archive_keeps_its_time_when_an_article_that_left_it_changes(
    newsroom: Newsroom, site_env: dict[str, str]
) -> None:
    seed(newsroom, 2)
    archive = "/feeds/world/archive/2020/01/1/atom.xml"
    newsroom.at(NOW + timedelta(hours=1))
    (newsroom.content.root / "world" / "w1.txt").unlink()
    newsroom.content.write(
        "uk/w1.txt", article_text(title="moved", dateline="1 January 2020, 10:00")
    )
    newsroom.run("import")
    before = newsroom.get(archive)
    assert ids(etree.fromstring(before[2])) == ["w2"]
    newsroom.at(NOW + timedelta(hours=2))  # w1, now in uk, is corrected
    newsroom.content.write(
        "uk/w1.txt", article_text(title="fixed", dateline="1 January 2020, 10:00")
    )
    newsroom.run("import")
    after = newsroom.get(archive, InProcess(site_env))
    assert ids(etree.fromstring(after[2])) == ["w2"] and after[1]["ETag"] == before[1]["ETag"]
    # Nothing of this archive changed, so neither its bytes nor its updated time.
    assert atom_updated(after[2]) == atom_updated(before[2])


# -- 2. A placement made under embargo ----------------------------------


def _embargo_move_and_lift(newsroom: Newsroom) -> None:
    newsroom.put("a", published="2020-01-01T10:00:00Z", section="world")
    newsroom.at(NOW + timedelta(hours=1))
    newsroom.put("a", published="2027-06-01T00:00:00Z", section="world")  # embargoed again
    newsroom.put("a", published="2027-06-01T00:00:00Z", section="uk")  # moved meanwhile
    newsroom.put("a", published="2020-01-01T10:00:00Z", section="uk")  # embargo lifted
    newsroom.at(NOW + timedelta(hours=2))


def test_a_placement_made_under_embargo_enters_when_the_embargo_is_lifted(
    newsroom: Newsroom,
) -> None:
    newsroom.put("u", published="2020-01-05T10:00:00Z", section="uk")
    _embargo_move_and_lift(newsroom)
    assert "a" in ids(etree.fromstring(newsroom.get("/feeds/uk/atom.xml")[2]))  # visible
    walked = newsroom.walk("/feeds/uk/atom.xml")
    # Following prev-archive reaches every visible article, this one too.
    assert any("a" in shown for shown in walked.values()), walked


def test_the_feed_of_a_section_holding_a_visible_article_answers(newsroom: Newsroom) -> None:
    _embargo_move_and_lift(newsroom)
    site = etree.fromstring(newsroom.get("/feeds/atom.xml")[2])
    assert "a" in ids(site) and b'term="uk"' in newsroom.get("/feeds/atom.xml")[2]
    assert newsroom.get("/sections/uk")[0] == 200
    assert newsroom.get("/feeds/uk/atom.xml")[0] == 200


def test_a_file_moved_and_redated_twice_enters_its_new_sections_archive(newsroom: Newsroom) -> None:
    seed(newsroom, 2)  # w1, w2 in world
    newsroom.content.write("uk/u1.txt", article_text(dateline="3 January 2020, 10:00"))
    newsroom.run("import")
    newsroom.at(NOW + timedelta(hours=1))  # an editor moves w1 to uk with a wrong date
    (newsroom.content.root / "world" / "w1.txt").unlink()
    newsroom.content.write("uk/w1.txt", article_text(dateline="1 January 2027, 10:00"))
    newsroom.run("import")
    newsroom.at(NOW + timedelta(hours=2))  # and fixes the date
    newsroom.content.write("uk/w1.txt", article_text(dateline="1 January 2020, 10:00"))
    newsroom.run("import")
    assert "w1" in ids(etree.fromstring(newsroom.get("/feeds/uk/atom.xml")[2]))
    walked = newsroom.walk("/feeds/uk/atom.xml")
    assert any("w1" in shown for shown in walked.values()), walked


# -- 3. Tombstones are bounded ------------------------------------------------------------


def test_tombstones_are_bounded_like_entries(newsroom: Newsroom) -> None:
    seed(newsroom, 20)
    newsroom.at(NOW + timedelta(hours=1))
    newsroom.run("delete", *[f"w{day}" for day in range(1, 21)])
    root = etree.fromstring(newsroom.get("/feeds/atom.xml")[2])
    stones = root.findall(f"{AT}deleted-entry")
    # At most FEEDS_PAGE_SIZE (3) tombstones, the latest, however many were withdrawn.
    assert len(stones) == 3 and ids(root) == []


# -- 4. A bulk import keeps articles in their month of publication --------------------


def test_a_bulk_import_keeps_each_article_in_its_month(newsroom: Newsroom) -> None:
    # 2,001 files: more than one 2,000-file batch. Files are read in path order: a-* (2021)
    # first, then z-old (2020).
    for n in range(2000):
        newsroom.content.write(f"a-{n:04d}.txt", article_text(dateline="1 March 2021, 10:00"))
    newsroom.content.write("z-old.txt", article_text(dateline="1 January 2020, 10:00"))
    assert "2001 added" in newsroom.run("import")
    root = etree.fromstring(newsroom.get("/feeds/archive/2021/03/21/atom.xml")[2])
    # A store filled in one import keeps each article in its month of publication.
    assert "z-old" in ids(etree.fromstring(newsroom.get("/feeds/archive/2020/01/1/atom.xml")[2]))
    assert "z-old" not in ids(root)


# -- 5. Date-only revalidation of a change made in the second it last fetched --------------


def test_a_client_revalidating_by_date_sees_a_change_in_the_same_second(
    newsroom: Newsroom,
) -> None:
    seed(newsroom, 2)
    newsroom.at(NOW + timedelta(hours=1))
    newsroom.content.write("late1.txt", article_text(dateline="1 January 2020, 09:00"))
    newsroom.run("import")  # at 13:00:00
    first = newsroom.get("/feeds/atom.xml")  # at 13:00:00, Last-Modified 13:00:00
    newsroom.content.write("late2.txt", article_text(dateline="1 January 2020, 09:00"))
    newsroom.run("import")  # still 13:00:00
    statuses = {}
    for minutes in (0, 1, 60):  # polls by date, later and later
        newsroom.at(NOW + timedelta(hours=1, minutes=minutes))
        answer = newsroom.site.client.get(
            "/feeds/atom.xml", headers={"If-Modified-Since": first[1]["Last-Modified"]}
        )
        assert answer.headers.get("ETag") != first[1]["ETag"]  # the document did change
        full = newsroom.get("/feeds/atom.xml")[1].get("Last-Modified")
        statuses[minutes] = (answer.status_code, full)
    # Within the second, HTTP dates cannot tell the two apart: the new ETag goes out with no
    # date at all; after it, with a later one. A client revalidating by date alone always
    # sees the change.
    assert statuses[0] == (200, None), statuses
    assert statuses[1][0] == statuses[60][0] == 200, statuses
    assert statuses[1][1] == statuses[60][1] != first[1]["Last-Modified"], statuses


# -- 6. A dateline at the end of the calendar ---------------


def test_a_dateline_at_the_end_of_the_calendar_is_rejected(
    newsroom: Newsroom, content: Content
) -> None:
    content.write("ok.txt", article_text(dateline="4 January 2020, 18:09"))
    content.write("far.txt", article_text(dateline="31 December 9999, 23:55"))
    done = newsroom.site.feeds("import")
    assert done.returncode == 1 and "far.txt" in done.stderr and "8999" in done.stderr
    assert "1 added" in done.stdout and "Traceback" not in done.stderr


def test_an_api_put_at_the_end_of_the_calendar_is_422(newsroom: Newsroom) -> None:
    answer = newsroom.site.client.put(
        "/api/v1/articles/far",
        json={"title": "t", "published": "9999-12-31T23:59:00Z", "text": "b"},
        headers={"Authorization": f"Bearer {newsroom.token}"},
    )
    assert (answer.status_code, answer.get_json()["title"]) == (422, "Invalid article")


# -- 7. An article seen, embargoed again and withdrawn ----------------------


def test_a_seen_article_withdrawn_while_embargoed_again_leaves_a_tombstone(
    newsroom: Newsroom,
) -> None:
    newsroom.put("a", published="2020-01-01T10:00:00Z")
    assert "a" in ids(etree.fromstring(newsroom.get("/feeds/atom.xml")[2]))  # readers saw it
    newsroom.at(NOW + timedelta(hours=1))
    newsroom.put("a", published="2027-01-01T10:00:00Z")  # embargoed again
    newsroom.site.client.delete(
        "/api/v1/articles/a", headers={"Authorization": f"Bearer {newsroom.token}"}
    )
    root = etree.fromstring(newsroom.get("/feeds/atom.xml")[2])
    # Readers hold the entry: they get a tombstone.
    assert root.findall(f"{AT}deleted-entry")


# -- 8. Changes made in one second ----------------------------------------------------------


def test_changes_made_in_one_second_come_latest_first(newsroom: Newsroom) -> None:
    seed(newsroom, 4)  # a full page of older articles
    newsroom.at(NOW + timedelta(hours=1))  # every change below is made in this second
    for article_id in ("c", "a", "b"):
        newsroom.put(article_id, published="2020-01-01T09:00:00Z")  # filed late
    newsroom.content.write(
        "world/w1.txt", article_text(title="again", dateline="1 January 2020, 10:00")
    )
    newsroom.run("import")
    page = ids(etree.fromstring(newsroom.get("/feeds/atom.xml")[2]))
    assert page == ["w1", "b", "a"]  # the latest three changes, the latest first


# -- Names and settings that end in a line break ---------------


@pytest.mark.parametrize(
    "check",
    [
        lambda: credentials.check_token("cms\n", "publish"),
        lambda: credentials.check_partner("globe\n", ["world"], "full", ""),
    ],
    ids=["token", "partner"],
)
def test_a_name_ending_in_a_line_break_is_refused(check: Callable[[], object]) -> None:
    with pytest.raises((TokenError, PartnerError)):
        check()
