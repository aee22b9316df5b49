"""Promise 1: feeds built from hostile articles keep to the rules the W3C Feed Validation
Service checks at level AA (besides the RSS 2.0 and Atom 1.0 structure): plausible dates, no C1
controls or U+FFFD, no undeclared HTML in text, embedded HTML a strict HTML parser accepts,
unique ids and `updated` values, a self link that is the document's own URL, tag: ids; and
JSON Feed 1.1 by its schema. Every RSS title is the article's text escaped once by XML; the one
warning accepted is the validator's for an RSS title whose own text holds an HTML end tag."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html.entities import name2codepoint
from pathlib import Path
from zoneinfo import ZoneInfo

import html5lib
import jsonschema
import pytest
from lxml import etree

from feeds.ingest.textfile import parse_article
from feeds.text import SUMMARY_LENGTH
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


# Titles that look like markup, or hold what XML escapes, each an article of its own.
HOSTILE_TITLES = {
    "t-company": "AT&T buys a network",
    "t-end-tag": "Closing </p> in a headline",
    "t-reference": "Written &amp; read",
    "t-break": "Line<br>break",
    "t-image": "Picture <img src=x> here",
    "t-italic": "AT&T, <i>x</i> and more",
    "t-unicode": "Caf\u00e9 \u201cd\u00e9j\u00e0 vu\u201d \u2013 \u6771\u4eac \U0001f600",
    "t-cdata": "CDATA ends ]]> here",
}


def hostile_files() -> dict[str, bytes]:
    """The hostile articles: file name (below the content root) -> bytes."""
    files = {SEED.name: SEED.read_bytes()}
    for n in range(3):  # one dateline three times: three different update markers
        files[f"same{n}.txt"] = article_text(title=f"Same minute {n}").encode()
    files["world/markup.txt"] = article_text(
        title="Use </b> & &amp; <script>alert(1)</script> &copy; &#169;",
        dateline="1 July 2020, 10:00 | Updated: 1 July 2020, 11:00",
        paragraphs=('<p onclick="x">Para</p> ]]> &nbsp; </div>', "a < b && c > d"),
    ).encode()
    lines = [ALL_CHARACTERS[i : i + 250] for i in range(0, len(ALL_CHARACTERS), 250)]
    files["uk/all.txt"] = "\n".join(
        ["Banner", "Every " + ALL_CHARACTERS[:120], "2 July 2020, 09:00", *lines]
    ).encode()
    # A first paragraph of every character, twelve thousand long (as long as a body may be:
    # feeds/ingest/limits.py): a summary cut short.
    files["long.txt"] = article_text(
        title="A long first paragraph",
        dateline="2 July 2020, 12:00",
        paragraphs=(ALL_CHARACTERS.replace("\n", " "), "Second paragraph."),
    ).encode()
    for day, (name, title) in enumerate(HOSTILE_TITLES.items(), start=3):
        files[f"titles/{name}.txt"] = article_text(title, f"{day} July 2020, 10:00").encode()
    return files


FILES = hostile_files()
COUNTS = {"": len(FILES), "world/": 1, "uk/": 1, "titles/": len(HOSTILE_TITLES)}
# Each article's title as the import reads it, by id.
TITLES = {
    Path(name).stem: parse_article(
        data, name, Path(name).stem, None, ZoneInfo("Europe/London")
    ).title
    for name, data in FILES.items()
}


def write_hostile(content: Content) -> None:
    for name, data in FILES.items():
        content.write(name, data)


@pytest.fixture
def hostile(site: InProcess, content: Content) -> InProcess:
    write_hostile(content)
    result = site.feeds("import", str(content.root))
    assert f"{len(FILES)} added" in result.stdout, result.stderr
    return site


@pytest.fixture
def paged(site_env: dict[str, str], content: Content) -> Iterator[InProcess]:
    """The hostile articles on a site whose documents hold two entries, and each archive
    document one, so every document sits in a chain of archives."""
    running = InProcess(site_env | {"FEEDS_PAGE_SIZE": "2", "FEEDS_ARCHIVE_SIZE": "1"})
    write_hostile(content)
    result = running.feeds("import")
    assert f"{len(FILES)} added" in result.stdout, result.stderr
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


# The validator's messages for plain text that looks like HTML (its ContainsHTML and
# CharacterData), and the one of them accepted for an RSS title whose own text has an end tag.
CONTAINS_HTML = "{element} should not contain HTML"
CHARACTER_DATA = 'Encode "&" and "<" in plain text using hexadecimal character references.'
ACCEPTED = CONTAINS_HTML.format(element="title")


def plain_text_warning(element: str, value: str, raw_lines: str, rss: bool) -> str | None:
    """What the validator says of a plain-text element: an HTML end tag is a warning; so is a
    character reference, or in RSS a '<' before a letter or '/', unless the raw XML marks its
    escaping with a hexadecimal reference (RSS Profile)."""
    marked = "&#x" in raw_lines
    if END_TAG.search(value):
        return CONTAINS_HTML.format(element=element)
    if ENTITY.search(value):
        names = [
            n
            for n in ENTITY.findall(value)
            if n in name2codepoint or n == "apos" or not n.isalpha()
        ]
        return CONTAINS_HTML.format(element=element) if names and not marked else None
    if rss and re.search(r"&#[x0-9]|<[/a-zA-Z]", value) and not marked:
        return CHARACTER_DATA
    return None


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
    title = channel.find("title")
    assert plain_text_warning("title", title.text, raw_line_of(raw, title), rss=True) is None
    for item in items:
        title = item.find("title")
        article_id = item.findtext("guid").rsplit(":", 1)[1]
        # One rule for every title: the article's text, escaped once by XML.
        assert title.text == TITLES[article_id]
        warning = plain_text_warning("title", title.text, raw_line_of(raw, title), rss=True)
        assert warning == (ACCEPTED if END_TAG.search(TITLES[article_id]) else None), title.text
        assert plausible(parsedate_to_datetime(item.findtext("pubDate")))
        assert plausible(datetime.fromisoformat(item.findtext(f"{ATOM}updated")))
        for element in (title, item.find("description"), item.find(CONTENT)):
            assert clean_characters(element.text)
        assert len(html.unescape(item.findtext("description"))) <= SUMMARY_LENGTH
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
                assert plain_text_warning(name, element.text, "", rss=False) is None, element.text
                text = element.text
            else:
                strict_html(element.text)
                text = html.unescape(element.text)
            assert name == "title" or len(text) <= SUMMARY_LENGTH
        content = entry.find(f"{ATOM}content")
        assert content.get("type") == "html"
        strict_html(content.text)
    return ids, links.get("prev-archive")


def check_json(site: Site, url: str) -> tuple[list[str], str | None]:
    feed = json.loads(get(site, url))
    jsonschema.validate(feed, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert feed["feed_url"] == url
    for item in feed["items"]:
        assert item["title"] == TITLES[item["id"].rsplit(":", 1)[1]]
        assert len(item["summary"]) <= SUMMARY_LENGTH
        strict_html(item["content_html"])
        assert clean_characters(item["title"] + item["content_text"])
    return [item["id"] for item in feed["items"]], feed.get("next_url")


CHECKS = {"rss.xml": check_rss, "atom.xml": check_atom, "feed.json": check_json}


@pytest.mark.parametrize("filename", sorted(CHECKS))
def test_every_subscription_document_keeps_the_rules(hostile: InProcess, filename: str) -> None:
    ids, prev = CHECKS[filename](hostile, hostile.url(f"/feeds/{filename}"))
    assert len(set(ids)) == len(FILES) and prev is not None and "/archive/" in prev


@pytest.mark.parametrize("filename", sorted(CHECKS))
def test_every_archive_and_section_document_keeps_the_rules(
    paged: InProcess, filename: str
) -> None:
    for section, count in COUNTS.items():
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
