"""Partner feeds: sections bought, full text or summaries, rights in every format, token
authentication that reveals nothing, revocation and rotation, private caching, conditional
GET and the polling limit."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from feeds.web.service import Service
from tests.support import (
    GZIP,
    Content,
    InProcess,
    article_text,
    check_case,
    representation_cases,
)

RIGHTS = "© Newsroom. Republished under licence."
ATOM = "{http://www.w3.org/2005/Atom}"


@dataclass
class Partners:
    """The site with four articles (world, uk, sport, none) and two partners: globe (world and
    uk, full text, with RIGHTS) and brief (sport, summaries); `tokens` holds their feed
    tokens as "full" and "summary"."""

    site: InProcess
    clock: Path
    tokens: dict[str, str]

    def url(self, name: str, fmt: str, token: str | None = None) -> str:
        address = self.site.url(f"/partners/{name}/{fmt}")
        return address + (f"?token={token}" if token else "")


def add_partner(site: InProcess, name: str, *options: str) -> str:
    """The feed token of a new partner."""
    result = site.feeds("partner", "add", name, *options)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def site_env(site_env: dict[str, str], clock: Path) -> dict[str, str]:
    return site_env | {"FEEDS_CLOCK": str(clock)}


@pytest.fixture
def partners(site: InProcess, content: Content, clock: Path) -> Partners:
    for name, folder, day in (
        ("w1", "world", 1),
        ("u1", "uk", 2),
        ("s1", "sport", 3),
        ("t1", "", 4),
    ):
        content.write(
            f"{folder}/{name}.txt" if folder else f"{name}.txt",
            article_text(
                title=f"Story {name}",
                dateline=f"{day} May 2020, 10:00",
                paragraphs=(f"Summary of {name}.", "The rest of it."),
            ),
        )
    assert "4 added" in site.feeds("import").stdout
    tokens = {
        "full": add_partner(
            site, "globe", "--sections", "world,uk", "--content", "full", "--rights", RIGHTS
        ),
        "summary": add_partner(site, "brief", "--sections", "sport", "--content", "summary"),
    }
    return Partners(site, clock, tokens)


def test_a_partner_gets_only_its_sections_with_rights_in_every_format(
    partners: Partners,
) -> None:
    site, token = partners.site, partners.tokens["full"]
    parsed = feedparser.parse(site.fetch(partners.url("globe", "atom.xml", token))[2])
    assert sorted(e.title for e in parsed.entries) == ["Story u1", "Story w1"]
    assert parsed.feed.rights == RIGHTS
    assert "The rest of it." in parsed.entries[0].content[0].value
    rss = etree.fromstring(site.fetch(partners.url("globe", "rss.xml", token))[2])
    assert rss.findtext("channel/copyright") == RIGHTS
    feed = json.loads(site.fetch(partners.url("globe", "feed.json", token))[2])
    assert feed["_rights"]["statement"] == RIGHTS
    assert {i["title"] for i in feed["items"]} == {"Story u1", "Story w1"}


@pytest.mark.parametrize("fmt", ["rss.xml", "atom.xml", "feed.json"])
def test_summary_partners_get_no_full_text(partners: Partners, fmt: str) -> None:
    status, _, body = partners.site.fetch(partners.url("brief", fmt, partners.tokens["summary"]))
    assert status == 200 and b"Summary of s1." in body
    assert b"The rest of it." not in body and b"Story w1" not in body


def test_bearer_and_basic_work_too(partners: Partners) -> None:
    site, token = partners.site, partners.tokens["full"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert site.fetch(partners.url("globe", "rss.xml"), bearer)[0] == 200
    basic = base64.b64encode(f"globe:{token}".encode()).decode()
    # Another document: a second full answer for rss.xml within a minute would be a 429.
    answer = site.fetch(partners.url("globe", "atom.xml"), {"Authorization": f"Basic {basic}"})
    assert answer[0] == 200


def test_bad_tokens_get_401_that_never_reveals_a_partner(partners: Partners) -> None:
    site = partners.site
    answers = [
        site.fetch(partners.url("globe", "rss.xml")),
        site.fetch(partners.url("globe", "rss.xml", "wrong")),
        site.fetch(partners.url("nobody", "rss.xml", "wrong")),
        site.fetch(partners.url("nobody", "rss.xml", partners.tokens["full"])),
        site.fetch(partners.url("brief", "rss.xml", partners.tokens["full"])),  # another's token
    ]
    for status, headers, body in answers:
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        assert body == answers[0][2]


def test_revoke_and_rotate(partners: Partners) -> None:
    site, old = partners.site, partners.tokens["full"]
    new = site.feeds("partner", "rotate", "globe").stdout.strip()
    assert new and new != old
    assert site.fetch(partners.url("globe", "rss.xml", old))[0] == 401
    assert site.fetch(partners.url("globe", "rss.xml", new))[0] == 200
    assert site.feeds("partner", "revoke", "globe").returncode == 0
    assert site.fetch(partners.url("globe", "rss.xml", new))[0] == 401
    listing = site.feeds("partner", "list").stdout
    assert "globe\tuk,world\tfull\t-\trevoked" in listing and new not in listing


def test_private_caching_conditional_get_and_the_polling_limit(partners: Partners) -> None:
    site = partners.site
    address = partners.url("globe", "atom.xml", partners.tokens["full"])
    status, headers, _ = site.fetch(address)
    assert status == 200 and headers["Cache-Control"].startswith("private")
    for _ in range(3):  # revalidation is never limited
        again = site.fetch(address, {"If-None-Match": headers["ETag"]})
        assert again[0] == 304 and again[1]["Cache-Control"].startswith("private")
    limited = site.fetch(address)
    assert limited[0] == 429 and limited[1]["Retry-After"] == "60"
    assert limited[1]["Cache-Control"] == "private, no-store"
    partners.clock.write_text("2026-01-15T12:00:45Z")
    assert site.fetch(address)[1]["Retry-After"] == "15"
    partners.clock.write_text("2026-01-15T12:01:00Z")
    assert site.fetch(address)[0] == 200


def test_if_none_match_is_compared_with_the_selected_representation_alone(
    partners: Partners,
) -> None:
    site = partners.site
    address = partners.url("globe", "atom.xml", partners.tokens["full"])
    # Workers that never limit full answers, so that every case can have one.
    unlimited = site.env | {"FEEDS_PARTNER_MIN_INTERVAL": "0"}
    first = InProcess(unlimited)
    identity, gzipped = first.fetch(address), first.fetch(address, GZIP)
    first.close()
    assert identity[0] == gzipped[0] == 200 and gzipped[1]["Content-Encoding"] == "gzip"
    for case in representation_cases(
        identity[1]["ETag"], gzipped[1]["ETag"], identity[1]["Last-Modified"]
    ):
        worker = InProcess(unlimited)  # its first request builds, its second finds it kept
        full = gzipped if case.gzip else identity
        check_case(case, worker.fetch(address, case.headers, case.method), full)
        built = Service.of(worker.app).cache.documents.misses
        check_case(case, worker.fetch(address, case.headers, case.method), full)
        assert Service.of(worker.app).cache.documents.misses == built
        worker.close()
    # With the limit (on a document the workers above did not ask for): the other
    # representation's ETag asks for a full answer, not a 304.
    limited = partners.url("globe", "rss.xml", partners.tokens["full"])
    etag = site.fetch(limited)[1]["ETag"]
    assert site.fetch(limited, {"If-None-Match": etag})[0] == 304
    assert site.fetch(limited, {**GZIP, "If-None-Match": etag})[0] == 429


def test_the_self_link_is_the_url_the_reader_subscribed_with(partners: Partners) -> None:
    site, token = partners.site, partners.tokens["full"]
    by_query = partners.url("globe", "atom.xml", token)
    atom = etree.fromstring(site.fetch(by_query)[2])
    self_link = atom.find(f"{ATOM}link[@rel='self']").get("href")
    assert self_link == by_query  # readers that follow the self link keep their access
    plain = etree.fromstring(
        site.fetch(partners.url("globe", "rss.xml"), {"Authorization": f"Bearer {token}"})[2]
    )
    rss_self = plain.find(f"channel/{ATOM}link[@rel='self']")
    assert rss_self.get("href") == partners.url("globe", "rss.xml")


def test_rights_must_be_clean_text(partners: Partners) -> None:
    bad = partners.site.feeds(
        "partner",
        "add",
        "ctl",
        "--sections",
        "world",
        "--content",
        "full",
        "--rights",
        "Rights \x0b here",
    )
    assert bad.returncode != 0 and "--rights" in bad.stderr


def test_head_requests_do_not_use_up_the_full_answer(partners: Partners) -> None:
    site = partners.site
    address = partners.url("globe", "feed.json", partners.tokens["full"])
    assert site.fetch(address, method="HEAD")[0] == 200
    assert site.fetch(address)[0] == 200
    assert site.fetch(address)[0] == 429


@pytest.mark.parametrize("fmt", ["rss.xml", "atom.xml", "feed.json"])
def test_a_partner_feed_is_kept_rendered_but_never_served_without_its_token(
    partners: Partners, fmt: str
) -> None:
    site, token = partners.site, partners.tokens["full"]
    gzip = {"Accept-Encoding": "gzip", "Authorization": f"Bearer {token}"}
    status, first, body = site.fetch(partners.url("globe", fmt), gzip)
    assert status == 200 and first["Content-Encoding"] == "gzip"
    cache = Service.of(site.app).cache
    built, compressed = cache.documents.misses, cache.compressed.kept.misses
    partners.clock.write_text("2026-01-15T12:05:00Z")  # past the polling interval
    status, again, same = site.fetch(partners.url("globe", fmt), gzip)
    assert status == 200 and same == body and again["ETag"] == first["ETag"]
    # Answered from the render cache: nothing built or compressed again.
    assert (cache.documents.misses, cache.compressed.kept.misses) == (built, compressed)
    # Kept, but never answered from the cache to a request without the token.
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Accept-Encoding": "gzip"}):
        status, refused, body = site.fetch(partners.url("globe", fmt), headers)
        assert status == 401 and refused["Cache-Control"] == "no-store" and b"<" not in body


def test_a_partner_catches_up_through_archives_of_its_own(partners: Partners) -> None:
    site, token = partners.site, partners.tokens["full"]
    content = Content(Path(site.env["FEEDS_CONTENT"]))
    for day in range(10, 16):  # more changes than a page of 3 holds
        content.write(f"world/n{day}.txt", article_text(f"New {day}", f"{day} May 2020, 10:00"))
    partners.clock.write_text("2026-01-15T13:00:00Z")
    content.write("uk/u1.txt", article_text("Story u1, corrected", "2 May 2020, 10:00"))
    assert "6 added, 1 updated" in site.feeds("import").stdout
    site_env = dict(site.env, FEEDS_PAGE_SIZE="3", FEEDS_ARCHIVE_SIZE="2")
    paged = InProcess(site_env)
    address = paged.url(f"/partners/globe/atom.xml?token={token}")
    feed = feedparser.parse(paged.fetch(address)[2])
    assert feed.entries[0].title == "Story u1, corrected"  # the latest change first
    seen: dict[str, str] = {}
    url = next(link.href for link in feed.feed.links if link.rel == "prev-archive")
    while url:
        assert url.startswith(paged.url("/partners/globe/archive/")) and f"token={token}" in url
        status, headers, body = paged.fetch(url)
        assert status == 200 and headers["Cache-Control"].startswith("private")
        archive = feedparser.parse(body)
        seen |= {e.link.rsplit("/", 1)[1]: e.title for e in archive.entries}
        url = next((link.href for link in archive.feed.links if link.rel == "prev-archive"), "")
    assert sorted(seen) == ["n10", "n11", "n12", "n13", "n14", "n15", "u1", "w1"]
    assert seen["u1"] == "Story u1, corrected"
    assert paged.fetch(paged.url("/partners/globe/archive/2020/05/1/atom.xml"))[0] == 401
