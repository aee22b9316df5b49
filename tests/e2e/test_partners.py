"""Partner feeds over HTTP from a real gunicorn process: sections bought, full text or
summaries, rights in every format, token authentication that leaks nothing, private caching,
conditional GET and the polling limit."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from tests.support import Content, Served, article_text, fetch, start_server

RIGHTS = "© Newsroom. Republished under licence."


class Partners(Served):
    clock_file: Path
    tokens: dict[str, str]

    def add(self, name: str, *options: str) -> str:
        result = self.feeds("partner", "add", name, *options)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()


@pytest.fixture
def site(tmp_path: Path, content: Content) -> Iterator[Partners]:
    clock = tmp_path / "clock"
    clock.write_text("2026-01-15T12:00:00Z")
    server = start_server(tmp_path, {"FEEDS_CLOCK": str(clock), "FEEDS_CONTENT": str(content.root)})
    server.__class__ = Partners
    assert isinstance(server, Partners)
    server.clock_file = clock
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
    assert "4 added" in server.feeds("import").stdout
    server.tokens = {
        "full": server.add(
            "globe", "--sections", "world,uk", "--content", "full", "--rights", RIGHTS
        ),
        "summary": server.add("brief", "--sections", "sport", "--content", "summary"),
    }
    yield server
    server.stop()


def url(site: Partners, name: str, fmt: str, token: str | None = None) -> str:
    address = site.url(f"/partners/{name}/{fmt}")
    return address + (f"?token={token}" if token else "")


def test_a_partner_gets_only_its_sections_with_rights_in_every_format(site: Partners) -> None:
    token = site.tokens["full"]
    parsed = feedparser.parse(fetch(url(site, "globe", "atom.xml", token))[2])
    assert sorted(e.title for e in parsed.entries) == ["Story u1", "Story w1"]
    assert parsed.feed.rights == RIGHTS
    assert "The rest of it." in parsed.entries[0].content[0].value
    rss = etree.fromstring(fetch(url(site, "globe", "rss.xml", token))[2])
    assert rss.findtext("channel/copyright") == RIGHTS
    feed = json.loads(fetch(url(site, "globe", "feed.json", token))[2])
    assert feed["_rights"]["statement"] == RIGHTS
    assert {i["title"] for i in feed["items"]} == {"Story u1", "Story w1"}


def test_summary_partners_get_no_full_text(site: Partners) -> None:
    token = site.tokens["summary"]
    for fmt in ("rss.xml", "atom.xml", "feed.json"):
        status, _, body = fetch(url(site, "brief", fmt, token))
        assert status == 200 and b"Summary of s1." in body
        assert b"The rest of it." not in body and b"Story w1" not in body


def test_bearer_and_basic_work_too(site: Partners) -> None:
    token = site.tokens["full"]
    assert fetch(url(site, "globe", "rss.xml"), {"Authorization": f"Bearer {token}"})[0] == 200
    basic = base64.b64encode(f"globe:{token}".encode()).decode()
    # Another document: a second full answer for rss.xml within a minute would be a 429.
    assert fetch(url(site, "globe", "atom.xml"), {"Authorization": f"Basic {basic}"})[0] == 200


def test_bad_tokens_get_401_that_never_reveals_a_partner(site: Partners) -> None:
    answers = [
        fetch(url(site, "globe", "rss.xml")),
        fetch(url(site, "globe", "rss.xml", "wrong")),
        fetch(url(site, "nobody", "rss.xml", "wrong")),
        fetch(url(site, "nobody", "rss.xml", site.tokens["full"])),
        fetch(url(site, "brief", "rss.xml", site.tokens["full"])),  # another partner's token
    ]
    for status, headers, body in answers:
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
        assert body == answers[0][2]


def test_revoke_and_rotate(site: Partners) -> None:
    old = site.tokens["full"]
    new = site.feeds("partner", "rotate", "globe").stdout.strip()
    assert new and new != old
    assert fetch(url(site, "globe", "rss.xml", old))[0] == 401
    assert fetch(url(site, "globe", "rss.xml", new))[0] == 200
    assert site.feeds("partner", "revoke", "globe").returncode == 0
    assert fetch(url(site, "globe", "rss.xml", new))[0] == 401
    listing = site.feeds("partner", "list").stdout
    assert "globe\tuk,world\tfull\trevoked" in listing and new not in listing


def test_private_caching_conditional_get_and_the_polling_limit(site: Partners) -> None:
    address = url(site, "globe", "atom.xml", site.tokens["full"])
    status, headers, _ = fetch(address)
    assert status == 200 and headers["Cache-Control"].startswith("private")
    for _ in range(3):  # revalidation is never limited
        again = fetch(address, {"If-None-Match": headers["ETag"]})
        assert again[0] == 304 and again[1]["Cache-Control"].startswith("private")
    limited = fetch(address)
    assert limited[0] == 429 and limited[1]["Retry-After"] == "60"
    site.clock_file.write_text("2026-01-15T12:00:45Z")
    assert fetch(address)[1]["Retry-After"] == "15"
    site.clock_file.write_text("2026-01-15T12:01:00Z")
    assert fetch(address)[0] == 200


def test_feed_tokens_never_reach_the_log(site: Partners) -> None:
    fetch(url(site, "globe", "rss.xml", site.tokens["full"]))
    assert site.tokens["full"] not in site.log.read_text()


def test_the_self_link_is_the_url_the_reader_subscribed_with(site: Partners) -> None:
    token = site.tokens["full"]
    by_query = url(site, "globe", "atom.xml", token)
    atom = etree.fromstring(fetch(by_query)[2])
    self_link = atom.find("{http://www.w3.org/2005/Atom}link[@rel='self']").get("href")
    assert self_link == by_query  # readers that follow the self link keep their access
    plain = etree.fromstring(
        fetch(url(site, "globe", "rss.xml"), {"Authorization": f"Bearer {token}"})[2]
    )
    rss_self = plain.find("channel/{http://www.w3.org/2005/Atom}link[@rel='self']")
    assert rss_self.get("href") == url(site, "globe", "rss.xml")


def test_a_feed_reader_subscribed_with_the_token_url_sees_what_was_bought(
    site: Partners, tmp_path: Path
) -> None:
    from reader import make_reader

    reader = make_reader(str(tmp_path / "partner-reader.sqlite"))
    address = url(site, "globe", "rss.xml", site.tokens["full"])
    reader.add_feed(address)
    (result,) = reader.update_feeds_iter()
    assert result.error is None, result.error
    assert sorted(e.title or "" for e in reader.get_entries()) == ["Story u1", "Story w1"]
    assert reader.get_feed(address).title == "Newsroom"
    reader.close()


def test_rights_must_be_clean_text_and_head_requests_are_free(site: Partners) -> None:
    bad = site.feeds(
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
    address = url(site, "globe", "feed.json", site.tokens["full"])
    assert fetch(address, method="HEAD")[0] == 200
    assert fetch(address)[0] == 200  # the HEAD did not use up the full answer
    assert fetch(address)[0] == 429
