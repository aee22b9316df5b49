"""Promise 1, over HTTP from a real gunicorn process: feeds built from hostile articles keep
to the rules the W3C Feed Validation Service checks at level AA (besides the RSS 2.0 and
Atom 1.0 structure): plausible dates, no C1 controls or U+FFFD, no undeclared HTML in text,
embedded HTML a strict HTML parser accepts, unique ids and `updated` values, a self link that
is the document's own URL, tag: ids; and JSON Feed 1.1 by its schema."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from html.entities import name2codepoint
from pathlib import Path

import html5lib
import jsonschema
import pytest
from lxml import etree

from .conftest import SEED, Content, Served, article_text

pytestmark = pytest.mark.e2e
ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
TAG_URI = re.compile(r"^tag:[A-Za-z0-9.-]+,\d{4}-\d{2}-\d{2}:[A-Za-z0-9._~-]+$")
END_TAG = re.compile(r"</(\w+)>")
ENTITY = re.compile(r"&(#?\w+)")
SCHEMA = json.loads((Path(__file__).parent / "jsonfeed-1.1.schema.json").read_text())
ALL_CHARACTERS = "".join(chr(c) for c in range(0x3000) if not 0xD800 <= c < 0xE000) + (
    "\ufdd0\ufeff\ufffd\ufffe\uffff\U0001f600]]>"
)


@pytest.fixture
def hostile(served: Served, content: Content) -> Served:
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
    result = served.feeds("import", str(content.root))
    assert "6 added" in result.stdout, result.stderr
    return served


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        data: bytes = response.read()
        return data


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
    return raw.splitlines()[element.sourceline - 1]


def test_rss_keeps_the_validator_rules(hostile: Served) -> None:
    url = hostile.url("/feeds/rss.xml")
    data = get(url)
    raw = data.decode()
    channel = etree.fromstring(data).find("channel")
    assert channel.find(f"{ATOM}link[@rel='self']").get("href") == url
    assert plausible(parsedate_to_datetime(channel.findtext("lastBuildDate")))
    items = channel.findall("item")
    assert len(items) == 6
    guids = [item.findtext("guid") for item in items]
    assert len(set(guids)) == 6 and all(TAG_URI.match(g) for g in guids)
    updated = [item.findtext(f"{ATOM}updated") for item in items]
    assert len(set(updated)) == 6
    for item in items:
        title = item.find("title")
        assert no_undeclared_html(title.text, raw_line_of(raw, title)), title.text
        assert plausible(parsedate_to_datetime(item.findtext("pubDate")))
        assert plausible(datetime.fromisoformat(item.findtext(f"{ATOM}updated")))
        for element in (title, item.find("description"), item.find(CONTENT)):
            assert clean_characters(element.text)
        strict_html(item.findtext("description"))
        strict_html(item.findtext(CONTENT))


def test_atom_keeps_the_validator_rules(hostile: Served) -> None:
    url = hostile.url("/feeds/atom.xml")
    feed = etree.fromstring(get(url))
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == url
    assert feed.findtext(f"{ATOM}author/{ATOM}name")
    assert plausible(datetime.fromisoformat(feed.findtext(f"{ATOM}updated")))
    entries = feed.findall(f"{ATOM}entry")
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    updated = [e.findtext(f"{ATOM}updated") for e in entries]
    assert len(set(ids)) == len(set(updated)) == len(entries) == 6
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


def test_json_feed_keeps_version_1_1(hostile: Served) -> None:
    feed = json.loads(get(hostile.url("/feeds/feed.json")))
    jsonschema.validate(feed, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert feed["feed_url"] == hostile.url("/feeds/feed.json")
    assert len({item["id"] for item in feed["items"]}) == 6
    for item in feed["items"]:
        strict_html(item["content_html"])
        assert clean_characters(item["title"] + item["content_text"])


def test_a_feed_with_no_entries_has_a_plausible_fixed_updated_time(served: Served) -> None:
    rss = etree.fromstring(get(served.url("/feeds/rss.xml"))).find("channel")
    atom = etree.fromstring(get(served.url("/feeds/atom.xml")))
    build_date = parsedate_to_datetime(rss.findtext("lastBuildDate"))
    assert plausible(build_date)
    assert datetime.fromisoformat(atom.findtext(f"{ATOM}updated")) == build_date
    assert get(served.url("/feeds/atom.xml")) == get(served.url("/feeds/atom.xml"))
