"""Promise 1: feeds built from hostile articles keep to the rules the W3C Feed Validation
Service checks at level AA (besides the RSS 2.0 and Atom 1.0 structure): plausible dates, no C1
controls or U+FFFD, no undeclared HTML in text, embedded HTML a strict HTML parser accepts,
unique ids and `updated` values, a self link that is the document's own URL, tag: ids; and
JSON Feed 1.1 by its schema."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html.entities import name2codepoint
from pathlib import Path

import html5lib
import jsonschema
import pytest
from lxml import etree

from tests.support import SEED, Content, InProcess, Site, article_text

ATOM = "{http://www.w3.org/2005/Atom}"
FH = "{http://purl.org/syndication/history/1.0}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
TAG_URI = re.compile(r"^tag:[A-Za-z0-9.-]+,\d{4}-\d{2}-\d{2}:[A-Za-z0-9._~-]+$")
END_TAG = re.compile(r"</(\w+)>")
ENTITY = re.compile(r"&(#?\w+)")
SCHEMA = json.loads((Path(__file__).parents[1] / "jsonfeed-1.1.schema.json").read_text())
ALL_CHARACTERS = "".join(chr(c) for c in range(0x3000) if not 0xD800 <= c < 0xE000) + (
    "\ufdd0\ufeff\ufffd\ufffe\uffff\U0001f600]]>"
)


def write_hostile(content: Content) -> None:
    content.write(SEED.name, SEED.read_bytes())
    for n in range(3):  # one dateline three times: three different update markers
        content.write(f"same{n}.txt", article_text(title=f"Same minute {n}"))
    content.write(
        "world/markup.txt",
        article_text(
            title="Use </b> & &amp; <script>alert(1)</script> &copy; &#169;",
            dateline="1 July 2020, 10:00 | Updated: 1 July 2020, 11:00",
            paragraphs=('<p onclick="x">Para</p> ]]> &nbsp; </div>', "a < b && c > d"),
        ),
    )
    lines = [ALL_CHARACTERS[i : i + 250] for i in range(0, len(ALL_CHARACTERS), 250)]
    content.write(
        "uk/all.txt",
        "\n".join(["Banner", "Every " + ALL_CHARACTERS[:120], "2 July 2020, 09:00", *lines]),
    )


@pytest.fixture
def hostile(site: InProcess, content: Content) -> InProcess:
    write_hostile(content)
    result = site.feeds("import", str(content.root))
    assert "6 added" in result.stdout, result.stderr
    return site


@pytest.fixture
def paged(site_env: dict[str, str], content: Content) -> Iterator[InProcess]:
    """The hostile articles on a site whose documents hold two entries, and each archive
    document one, so every document sits in a chain of archives."""
    running = InProcess(site_env | {"FEEDS_PAGE_SIZE": "2", "FEEDS_ARCHIVE_SIZE": "1"})
    write_hostile(content)
    result = running.feeds("import")
    assert "6 added" in result.stdout, result.stderr
    yield running
    running.close()


def get(site: Site, url: str) -> bytes:
    status, _, body = site.fetch(url)
    assert status == 200, url
    return body


def plausible(moment: datetime) -> bool:
    return datetime(1990, 1, 1, tzinfo=UTC) <= moment <= datetime.now(UTC) + timedelta(minutes=10)


def clean_characters(text: str) -> bool:
    return not any(0x80 <= ord(c) <= 0x9F or c == "\ufffd" for c in text)


def no_undeclared_html(value: str, raw_lines: str) -> bool:
    """The validator's rule for plain-text elements: no HTML end tag; a character reference
    only where the raw XML marks its escaping with a hexadecimal reference (RSS Profile)."""
    if END_TAG.search(value):
        return False
    names = [
        n for n in ENTITY.findall(value) if n in name2codepoint or n == "apos" or not n.isalpha()
    ]
    return not names or "&#x" in raw_lines


def strict_html(fragment: str) -> None:
    html5lib.HTMLParser(strict=True).parseFragment(fragment)


def raw_line_of(raw: str, element: etree._Element) -> str:
    line: str = raw.splitlines()[element.sourceline - 1]
    return line


def check_rss(site: Site, url: str) -> tuple[list[str], str | None]:
    """Check one RSS document; return its guids and its prev-archive URL."""
    data = get(site, url)
    raw = data.decode()
    channel = etree.fromstring(data).find("channel")
    assert channel.find(f"{ATOM}link[@rel='self']").get("href") == url
    assert plausible(parsedate_to_datetime(channel.findtext("lastBuildDate")))
    items = channel.findall("item")
    guids = [item.findtext("guid") for item in items]
    assert len(set(guids)) == len(items) and all(TAG_URI.match(g) for g in guids)
    updated = [item.findtext(f"{ATOM}updated") for item in items]
    assert len(set(updated)) == len(items)
    for item in items:
        title = item.find("title")
        assert no_undeclared_html(title.text, raw_line_of(raw, title)), title.text
        assert plausible(parsedate_to_datetime(item.findtext("pubDate")))
        assert plausible(datetime.fromisoformat(item.findtext(f"{ATOM}updated")))
        for element in (title, item.find("description"), item.find(CONTENT)):
            assert clean_characters(element.text)
        strict_html(item.findtext("description"))
        strict_html(item.findtext(CONTENT))
    prev = channel.find(f"{ATOM}link[@rel='prev-archive']")
    return guids, None if prev is None else prev.get("href")


def check_atom(site: Site, url: str) -> tuple[list[str], str | None]:
    """Check one Atom document; return its entry ids and its prev-archive URL."""
    feed = etree.fromstring(get(site, url))
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links["self"] == url
    if feed.find(f"{FH}archive") is not None:  # an archive names the subscription document
        assert "current" in links and "/archive/" not in links["current"]
        # and its neighbours, which are archives too (RFC 5005 §4); the newest has no next
        assert all("/archive/" in links[r] for r in ("prev-archive", "next-archive") if r in links)
    assert feed.findtext(f"{ATOM}author/{ATOM}name")
    assert plausible(datetime.fromisoformat(feed.findtext(f"{ATOM}updated")))
    entries = feed.findall(f"{ATOM}entry")
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    updated = [e.findtext(f"{ATOM}updated") for e in entries]
    assert len(set(ids)) == len(set(updated)) == len(entries)
    for entry in entries:
        assert TAG_URI.match(entry.findtext(f"{ATOM}id"))
        published = datetime.fromisoformat(entry.findtext(f"{ATOM}published"))
        changed = datetime.fromisoformat(entry.findtext(f"{ATOM}updated"))
        assert plausible(published) and plausible(changed) and published <= changed
        for name in ("title", "summary"):
            element = entry.find(f"{ATOM}{name}")
            assert clean_characters(element.text)
            if element.get("type", "text") == "text":
                assert no_undeclared_html(element.text, ""), element.text
            else:
                strict_html(element.text)
        content = entry.find(f"{ATOM}content")
        assert content.get("type") == "html"
        strict_html(content.text)
    return ids, links.get("prev-archive")


def check_json(site: Site, url: str) -> tuple[list[str], str | None]:
    feed = json.loads(get(site, url))
    jsonschema.validate(feed, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert feed["feed_url"] == url
    for item in feed["items"]:
        strict_html(item["content_html"])
        assert clean_characters(item["title"] + item["content_text"])
    return [item["id"] for item in feed["items"]], feed.get("next_url")


CHECKS = {"rss.xml": check_rss, "atom.xml": check_atom, "feed.json": check_json}


@pytest.mark.parametrize("filename", sorted(CHECKS))
def test_every_subscription_document_keeps_the_rules(hostile: InProcess, filename: str) -> None:
    ids, prev = CHECKS[filename](hostile, hostile.url(f"/feeds/{filename}"))
    assert len(set(ids)) == 6 and prev is not None and "/archive/" in prev


@pytest.mark.parametrize("filename", sorted(CHECKS))
def test_every_archive_and_section_document_keeps_the_rules(
    paged: InProcess, filename: str
) -> None:
    for section, count in (("", 6), ("world/", 1), ("uk/", 1)):
        url: str | None = paged.url(f"/feeds/{section}{filename}")
        seen: list[str] = []  # in the archives: the subscription document repeats some
        while url:
            archive = "/archive/" in url
            ids, url = CHECKS[filename](paged, url)
            seen += ids if archive else []
        assert len(seen) == len(set(seen)) == count


def test_a_feed_with_no_entries_has_a_plausible_fixed_updated_time(site: InProcess) -> None:
    assert site.feeds("migrate").returncode == 0
    rss = etree.fromstring(get(site, site.url("/feeds/rss.xml"))).find("channel")
    atom = etree.fromstring(get(site, site.url("/feeds/atom.xml")))
    build_date = parsedate_to_datetime(rss.findtext("lastBuildDate"))
    assert plausible(build_date)
    assert datetime.fromisoformat(atom.findtext(f"{ATOM}updated")) == build_date
    assert get(site, site.url("/feeds/atom.xml")) == get(site, site.url("/feeds/atom.xml"))
