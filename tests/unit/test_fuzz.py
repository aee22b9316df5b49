"""Promises 1, 2 and 10 under generated input: the text-layout parser, the API's JSON reader
and the HTML sanitiser raise nothing but the service's own errors (feeds.errors), and whatever
they accept renders into RSS, Atom, JSON Feed and an article page that parse and keep the
suite's validity rules (tests/unit/test_validity.py).

The strategies build plausible inputs (headers, datelines at the edges of the calendar and at
summer-time changes, hostile Unicode, nested and malformed HTML, deep JSON), not only random
text. Every run draws the same examples (the "fuzz" profile: derandomized, no example
database); FUZZ_EXAMPLES=N draws N examples a test instead of the short default.
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

import html5lib
import jsonschema
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from feeds.errors import InvalidArticle, InvalidFields
from feeds.formats import FORMATS
from feeds.ingest import apijson, limits, textfile
from feeds.ingest.sanitize import ATTRIBUTES, TAGS, BadURL, normal_url, sanitize, text_blocks
from feeds.ingest.textfile import EARLIEST, LATEST, parse_article
from feeds.model import Article, Entry, ParsedArticle
from feeds.text import ID_PATTERN, SUMMARY_LENGTH, XML_FORBIDDEN
from tests.samples import BASE, INVALID_URLS, NORMALISED_URLS, document
from tests.support import IMPORT_TIME, InProcess, new_database
from tests.unit.test_validity import (
    ACCEPTED,
    ATOM,
    CONTENT,
    END_TAG,
    SCHEMA,
    TAG_URI,
    clean_characters,
    plain_text_warning,
    strict_html,
)

settings.register_profile(
    "fuzz",
    derandomize=True,  # the same examples on every run: CI stays repeatable
    database=None,  # nothing written into the working tree
    deadline=None,  # a loaded machine is slow, not wrong
    print_blob=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # the autouse ones: FEEDS_* cleared, stores closed
    ],
)
FUZZ = settings.get_profile("fuzz")


def budget(default: int) -> settings:
    """The fuzz profile with `default` examples, or FUZZ_EXAMPLES of them when set."""
    return settings(FUZZ, max_examples=int(os.environ.get("FUZZ_EXAMPLES") or default))


LONDON = ZoneInfo("Europe/London")
NOW = IMPORT_TIME
# Zones with odd rules: half-hour summer time, a skipped day, +14, a west-of-UTC fixed zone.
ZONES = [
    LONDON,
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Lord_Howe"),
    ZoneInfo("Pacific/Apia"),
    ZoneInfo("Pacific/Kiritimati"),
    ZoneInfo("Etc/GMT+12"),
]
MONTHS = [name.capitalize() for name in textfile.MONTHS]  # as the newsroom writes them

# ---------------------------------------------------------------------------------------
# Text: what a newsroom export or a CMS might hold, and what an attacker would add.

HOSTILE_PIECES = [
    "<script>alert(1)</script>",
    "<b>bold</b>",
    "</p>",
    "<p onclick=x>",
    "]]>",
    "<![CDATA[",
    "&amp;",
    "&copy;",
    "&#169;",
    "&#x26;",
    "&#0;",
    "&",
    "<",
    ">",
    '"',
    "'",
    "javascript:alert(1)",
    "data:text/html,x",
    "\u202e",  # right-to-left override
    "\u200f",  # right-to-left mark
    "\u200b",  # zero-width space
    "\u0301",  # a combining acute accent
    "e\u0301\u0301\u0301",
    "\ufeff",  # a byte-order mark inside the text
    "\u00a0",
    "\u2028",  # line separator
    "\u3000",
    "\t",
    "\r",
    "\x00",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\x9f",
    "\ufffd",
    "\ufffe",
    "\uffff",
    "\ufdd0",
    "\U0001fffe",
    "\U0001f600",
    "\U0010ffff",
    "\u0645\u0631\u062d\u0628\u0627",  # Arabic
    "\u6771\u4eac",
    "Caf\u00e9",
]
# Any character at all, lone surrogates included (the JSON reader gets them from \ud800).
ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
PIECE = st.one_of(
    st.sampled_from(HOSTILE_PIECES),
    st.text(ANY_CHAR, min_size=1, max_size=8),
    st.text(st.characters(codec="ascii"), min_size=1, max_size=12),
    st.sampled_from(["News", "of", "the", "day", " ", "  ", "2020", "Updated:", "|", ","]),
)
TEXT = st.lists(PIECE, max_size=8).map("".join)


def without_surrogates(text: str) -> str:
    """`text` as a file can hold it: UTF-8 has no lone surrogates."""
    return text.encode("utf-8", "replace").decode("utf-8")


# ---------------------------------------------------------------------------------------
# Datelines: ordinary days, days at the edges of what is accepted, and summer-time changes.


def last_sunday(year: int, month: int) -> int:
    day = date(year, month + 1, 1) - timedelta(days=1)
    return (day - timedelta(days=(day.weekday() + 1) % 7)).day


@st.composite
def wall_clock(draw: st.DrawFn) -> tuple[int, int, int, int, int]:
    """(day, month, year, hour, minute), at times valid, at times impossible."""
    kind = draw(st.sampled_from(["any", "edge", "dst", "impossible"]))
    if kind == "dst":  # the European changes: last Sunday of March and October, 00:00-03:00
        year = draw(st.integers(1990, 2100))
        month = draw(st.sampled_from([3, 10]))
        return (
            last_sunday(year, month),
            month,
            year,
            draw(st.integers(0, 3)),
            draw(st.integers(0, 59)),
        )
    if kind == "edge":
        year = draw(st.sampled_from([1, 1000, 1969, 1970, 1989, 1990, 2038, 8999, 9000, 9999]))
        month, day = draw(st.sampled_from([(1, 1), (12, 31), (2, 29), (2, 28)]))
        return day, month, year, draw(st.sampled_from([0, 23])), draw(st.sampled_from([0, 59]))
    if kind == "impossible":
        return (
            draw(st.sampled_from([0, 29, 30, 31, 32, 99])),
            draw(st.integers(1, 12)),
            draw(st.integers(0, 9999)),
            draw(st.sampled_from([0, 12, 23, 24, 25, 99])),
            draw(st.sampled_from([0, 59, 60, 61, 99])),
        )
    return (
        draw(st.integers(1, 28)),
        draw(st.integers(1, 12)),
        draw(st.integers(1990, 2030)),
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
    )


SEP = st.sampled_from([" ", "\u00a0", "  ", " \u00a0", "\t"])


@st.composite
def stamp(draw: st.DrawFn) -> str:
    day, month, year, hour, minute = draw(wall_clock())
    month_name = draw(
        st.one_of(
            st.just(MONTHS[month - 1]),
            st.just(MONTHS[month - 1].upper()),
            st.just(MONTHS[month - 1].lower()),
            st.sampled_from(["Sept", "Febuary", "Mai", "J\u00e4nner", "March\u0301"]),
        )
    )
    day_text = draw(st.sampled_from([str(day), f"{day:02d}"]))
    hour_text = draw(st.sampled_from([str(hour), f"{hour:02d}"]))
    s = draw(SEP)
    return f"{day_text}{s}{month_name}{draw(SEP)}{year:04d},{s}{hour_text}:{minute:02d}"


def written(moment: datetime, separator: str = " ") -> str:
    """A wall-clock time as a dateline writes it: 4 January 2020, 18:09."""
    month = MONTHS[moment.month - 1]
    return f"{moment.day}{separator}{month} {moment.year},{separator}{moment:%H:%M}"


@st.composite
def good_dateline(draw: st.DrawFn) -> str:
    """A dateline that is right: 1990 to 2030, often on a summer-time change day."""
    moment = draw(st.datetimes(datetime(1990, 1, 1), datetime(2030, 12, 31)))
    if draw(st.booleans()):
        month = draw(st.sampled_from([3, 10]))
        moment = moment.replace(month=month, day=last_sunday(moment.year, month), hour=1)
    first = written(moment, draw(SEP))
    if draw(st.booleans()):
        return first
    later = moment + draw(st.timedeltas(timedelta(0), timedelta(days=30)))
    return f"{first} | Updated: {written(later)}"


@st.composite
def dateline(draw: st.DrawFn) -> str:
    """A dateline, right or wrong in every way the layout names."""
    if draw(st.booleans()):
        return draw(good_dateline())
    first = draw(stamp())
    shape = draw(st.sampled_from(["alone", "updated", "near-miss", "garbage"]))
    if shape == "updated":
        return f"{first}{draw(SEP)}|{draw(SEP)}Updated:{draw(SEP)}{draw(stamp())}"
    if shape == "near-miss":  # starts like a date, but is not a dateline
        return first + draw(st.sampled_from([" BST", " | Updated:", ",", " |", " | Updated: x"]))
    if shape == "garbage":
        return first + draw(TEXT)
    return first


# ---------------------------------------------------------------------------------------
# Article files.


@st.composite
def article_file(draw: st.DrawFn) -> bytes:
    """The bytes of an article file: preamble, title, dateline, body, in several encodings
    and line endings, sometimes broken."""
    line = TEXT.map(without_surrogates)
    title = st.lists(PIECE, min_size=1, max_size=8).map("".join).map(without_surrogates)
    lines = [*draw(st.lists(line, max_size=3)), draw(title), draw(dateline())]
    lines += draw(
        st.lists(
            st.one_of(title, dateline()), min_size=draw(st.sampled_from([1, 1, 1, 0])), max_size=6
        )
    )
    if draw(st.integers(0, 19)) == 0:  # now and then lines in another order
        lines = draw(st.permutations(lines))
    ending = draw(st.sampled_from(["\n", "\r\n", "\n", "\r\n", "\n\n", " \n", "\r"]))
    text = ending.join(lines) + draw(st.sampled_from(["", ending]))
    encoding = "utf-8"
    if draw(st.integers(0, 7)) == 7:
        encoding = draw(st.sampled_from(["utf-8-sig", "latin-1", "utf-16", "cp1252"]))
    data = text.encode(encoding, "replace")
    if draw(st.integers(0, 19)) == 0:  # stray bytes: bad UTF-8, overlong forms, CESU surrogates
        at = draw(st.integers(0, len(data)))
        junk = draw(st.sampled_from([b"\xff", b"\xc0\xae", b"\xed\xa0\x80", b"\xe2\x82", b"\x00"]))
        data = data[:at] + junk + data[at:]
    return data


GOOD_ID = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._~-]{0,30}\Z")
BAD_ID = st.sampled_from(["..", "../etc/passwd", "a/b", "a\x00b", "", "caf\u00e9", "-x", "~"])
# Mostly ids a file can have (one_of would draw as many bad ones as good ones).
ARTICLE_ID = st.sampled_from([GOOD_ID] * 7 + [BAD_ID]).flatmap(lambda ids: ids)


def parsed_to_article(parsed: ParsedArticle) -> Article:
    """What the store would hold for `parsed` when it is first imported."""
    return Article(
        id=parsed.id,
        tag=f"tag:news.example.com,2026-01-15:{parsed.id}",
        title=parsed.title,
        published=parsed.published,
        updated=parsed.updated,
        paragraphs=parsed.paragraphs,
        section=parsed.section,
        revision=1,
        modified=NOW,
        authors=parsed.authors,
        tags=parsed.tags,
        body_html=parsed.body_html,
    )


def check_parsed(parsed: ParsedArticle) -> None:
    """What every accepted article is, whichever way it came in."""
    for text in (parsed.title, *parsed.paragraphs, *parsed.authors, *parsed.tags):
        assert text and text == text.strip() and not XML_FORBIDDEN.search(text), repr(text)
        assert "\n" not in text, repr(text)
    assert parsed.paragraphs
    assert parsed.published.utcoffset() == timedelta(0) == parsed.updated.utcoffset()
    assert EARLIEST <= parsed.published <= parsed.updated < LATEST
    assert parsed.section is None or ID_PATTERN.match(parsed.section)
    # The text parser marks what it has folded already, so the digest skips folding again:
    # it must be the digest that folding gives (or re-imports would count as changes).
    assert parsed.content_hash == replace(parsed, folded=False).content_hash


@given(data=article_file(), article_id=ARTICLE_ID, zone=st.sampled_from(ZONES))
@budget(200)
def test_article_files_are_taken_or_refused_with_a_reason(
    data: bytes, article_id: str, zone: ZoneInfo
) -> None:
    try:
        parsed = parse_article(data, "content/x.txt", article_id, "world", zone, NOW)
        event("taken")
    except InvalidArticle as e:
        event("refused: " + re.sub(r"'.*'", "'…'", e.reason)[:40])
        assert str(e).startswith("content/x.txt: ") and e.reason
        return
    check_parsed(parsed)
    check_renders(parsed_to_article(parsed))


# ---------------------------------------------------------------------------------------
# HTML bodies: nested, malformed, and every trick that has got script past a sanitiser.

TAG_NAMES = sorted(TAGS) + [
    "h1", "h5", "h6", "div", "span", "script", "style", "iframe", "object", "embed", "svg",
    "math", "form", "input", "button", "base", "meta", "link", "table", "tr", "td", "template",
    "noscript", "textarea", "title", "xmp", "plaintext", "select", "option", "foreignObject",
    "annotation-xml", "mglyph", "noembed", "frameset", "body", "html", "head", "image",
    "video", "source", "applet", "marquee", "details", "dialog",
]  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "cite"}
ATTRIBUTE_NAMES = [
    "href", "src", "cite", "alt", "title", "width", "height", "datetime", "onerror",
    "onclick", "onload", "OnMouseOver", "style", "xlink:href", "srcset", "action",
    "formaction", "background", "poster", "data", "id", "class", "rel", "target", "srcdoc",
]  # fmt: skip
URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " \tjavascript:x",
    "java\tscript:x",
    "java&#x09;script:x",
    "&#106;avascript:x",
    "jav&#x0A;ascript:x",
    "%6a%61vascript:x",
    "vbscript:x",
    "data:text/html;base64,PHNjcmlwdD4=",
    "data:image/png;base64,AA",
    "//evil.example/x",
    "\\\\evil.example\\x",
    "/\\evil.example",
    "/relative/path?a=1&b=2",
    "relative",
    "?q=1",
    "#fragment",
    "http://[::1",
    "//[",
    "http://[v1.x]/",
    "https://ok.example/a b",
    "https://ok.example:99999/",
    "mailto:a@example.com",
    "mailto://a//b//c",
    "mailto://a@b.c",
    "https://fa\u00df.de/",
    "https://img.example.com./a",
    "https://localhost/",
    "//",
    "https://?x",
    "http://%00/",
    "file:///etc/passwd",
    "../../../../etc/passwd",
    "https://exa\u00admple.com",
    "https://\u0435xample.com/",
    "",
]
MALFORMED = [
    "<",
    "</",
    "<!--",
    "-->",
    "<!-- x --!>",
    "<![CDATA[x]]>",
    "<?xml version='1.0'?>",
    "<!DOCTYPE html>",
    "&#xD800;",
    "&#0;",
    "&#x110000;",
    "&nbsp",
    "</script>",
    "<scr<script>ipt>alert(1)</script>",
    "<<p>>",
    "<a href='",
    "<img src=x onerror=alert(1)//",
    '<img src="x.png" alt="a picture">',
    "<h1",
    "<h5>",
    "</h6>",
    "<p",
    "<br/>",
    "</br>",
    "<p/>",
]


@st.composite
def attribute(draw: st.DrawFn, tag: str) -> str:
    """An attribute for `tag`: often one the sanitiser keeps there, with a hostile value."""
    kept = sorted(ATTRIBUTES.get(tag.lower(), ()))
    own = draw(st.booleans())
    name = draw(st.sampled_from(kept if kept and own else ATTRIBUTE_NAMES))
    urls = st.sampled_from(URLS)
    value = draw(
        urls if name in URL_ATTRIBUTES and draw(st.integers(0, 3)) else st.one_of(urls, TEXT)
    )
    shape = draw(st.sampled_from(["double", "single", "bare", "none", "raw"]))
    if shape == "double":
        return f' {name}="{html.escape(value)}"'
    if shape == "single":
        return f" {name}='{value}'"
    if shape == "bare":
        return f" {name}={value.replace(' ', '')}"
    return f" {name}" if shape == "none" else f' {name}="{value}"'


@st.composite
def element(draw: st.DrawFn, children: st.SearchStrategy[str]) -> str:
    tag = draw(st.one_of(st.sampled_from(TAG_NAMES), st.sampled_from(["a", "img", "q", "p"])))
    tag = draw(st.sampled_from([tag, tag, tag.upper()]))
    attributes = "".join(draw(st.lists(attribute(tag), max_size=3)))
    inner = "".join(draw(st.lists(children, max_size=4)))
    end = draw(st.sampled_from([f"</{tag}>", f"</{tag}>", "", "</p>", f"</{tag} x>"]))
    if draw(st.integers(0, 9)) == 0:
        return f"<{tag}{attributes}/>"
    return f"<{tag}{attributes}>{inner}{end}"


LEAF = st.one_of(TEXT, st.sampled_from(MALFORMED))
DEEP = st.tuples(st.sampled_from(["b", "p", "li", "blockquote", "div"]), st.integers(1, 300)).map(
    lambda t: f"<{t[0]}>" * t[1] + "deep" + f"</{t[0]}>" * t[1]
)
HTML = st.one_of(
    st.lists(st.recursive(LEAF, element, max_leaves=10), min_size=1, max_size=4).map("".join),
    DEEP,
)

# What may survive the sanitiser: its tags, their attributes, the rel it adds to links, and
# the two attributes nh3 allows on every element (plain text, never a URL).
GENERIC = {"lang", "title"}
ALLOWED_ATTRIBUTES = {
    tag: ATTRIBUTES.get(tag, set()) | GENERIC | ({"rel"} if tag == "a" else set()) for tag in TAGS
}


def check_safe_html(fragment: str) -> None:
    """Promise 10 for an HTML fragment, by its parsed structure: allowed elements and
    attributes only, every URL absolute with an allowed scheme."""
    tree = html5lib.parseFragment(fragment, treebuilder="etree", namespaceHTMLElements=False)
    for node in tree.iter():
        if node is tree or not isinstance(node.tag, str):
            continue  # the fragment's own root; comments, which nothing shows
        assert node.tag in TAGS, (node.tag, fragment)
        assert set(node.attrib) <= ALLOWED_ATTRIBUTES[node.tag], (node.tag, node.attrib)
        for name in URL_ATTRIBUTES & set(node.attrib):
            assert re.match(r"(https?|mailto):", node.attrib[name]), node.attrib
        if node.tag == "img":  # images without a source or alt text are dropped
            assert node.attrib.get("src") and node.attrib.get("alt", "").strip(), node.attrib


@given(fragment=HTML)
@example(fragment="<p>a&#1;b&#x7f;c&#0;d&#xfffe;</p>")  # references to what XML forbids
@example(fragment='<img src="//[" alt="x"><a href="http://[::1">link</a>')  # no such host
@budget(150)
def test_sanitised_html_is_safe_strict_and_renders(fragment: str) -> None:
    cleaned = sanitize(fragment, BASE)
    # What GET returns, sent back by a CMS, makes no new revision.
    assert sanitize(cleaned, BASE) == cleaned
    blocks = text_blocks(cleaned)
    if not blocks:  # the API refuses such a body
        check_body(cleaned)
    else:
        check_renders(
            Article(
                id="html",
                tag="tag:news.example.com,2026-01-15:html",
                title="An HTML body",
                published=NOW,
                updated=NOW,
                paragraphs=blocks,
                section=None,
                revision=1,
                modified=NOW,
                body_html=cleaned,
            )
        )


# ---------------------------------------------------------------------------------------
# Bodies of the publishing API.


@st.composite
def moment(draw: st.DrawFn) -> str:
    """An RFC 3339 date-time, at times malformed or out of range."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.one_of(TEXT, st.sampled_from(["2020-07-01", "now", "", "2020-07-01T"])))
    year = draw(st.one_of(st.integers(1990, 2030), st.sampled_from([0, 1, 1989, 8999, 9000, 9999])))
    month = draw(st.one_of(st.integers(1, 12), st.sampled_from([0, 13, 99])))
    day = draw(st.one_of(st.integers(1, 28), st.sampled_from([0, 29, 30, 31, 32])))
    hour = draw(st.one_of(st.integers(0, 23), st.sampled_from([24, 25, 99])))
    minute = draw(st.one_of(st.integers(0, 59), st.sampled_from([60, 99])))
    seconds = draw(st.sampled_from(["", ":00", ":59", ":60", ":61", ":5"]))
    if seconds:
        seconds += draw(st.sampled_from(["", ".5", ".123456", ".1234567", "." + "9" * 40]))
    offset = draw(
        st.one_of(
            st.sampled_from(["", "Z", "z", "+00:00", "-00:00", "+01:00", "+14:00", "-12:00"]),
            st.tuples(st.sampled_from("+-"), st.integers(0, 99), st.integers(0, 99)).map(
                lambda t: f"{t[0]}{t[1]:02d}:{t[2]:02d}"
            ),
        )
    )
    separator = draw(st.sampled_from(["T", "t", " "]))
    return f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}{seconds}{offset}"


@st.composite
def good_moments(draw: st.DrawFn) -> tuple[str, str | None]:
    """A published time (often at a summer-time change, in wall-clock time) and an updated
    time after it, or none."""
    published = draw(
        st.datetimes(
            min_value=datetime(1990, 1, 1),
            max_value=datetime(2027, 12, 31),
            timezones=st.sampled_from([UTC, LONDON, ZoneInfo("America/New_York")]),
            allow_imaginary=True,
        )
    ).replace(microsecond=0)
    if draw(st.booleans()):  # the last Sunday of March or October, about the change
        year, month = published.year, draw(st.sampled_from([3, 10]))
        published = published.replace(month=month, day=last_sunday(year, month), hour=1)
    wall_clock = draw(st.booleans())
    shown = published.replace(tzinfo=None).isoformat() if wall_clock else published.isoformat()
    if draw(st.booleans()):
        return shown, None
    later = published + draw(st.timedeltas(timedelta(0), timedelta(days=400)))
    return shown, later.replace(microsecond=0).isoformat()


JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8,
)
NAME = st.one_of(TEXT, st.sampled_from(["Ann Writer", "Zo\u00eb O'Brien", "\u6771\u4eac"]))
NAMES = st.one_of(
    st.lists(NAME, max_size=4),
    st.lists(st.just("x"), min_size=50, max_size=52),
    st.lists(st.text(min_size=199, max_size=202), min_size=1, max_size=2),
    JSON_VALUE,
)
SECTION_NAME = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._~-]{0,12}\Z")
WORDS = st.lists(PIECE, min_size=1, max_size=8).map("".join)
PARAGRAPHS = st.lists(WORDS, min_size=1, max_size=5).map("\n".join)


@st.composite
def good_body(draw: st.DrawFn) -> dict[str, Any]:
    """An article body whose fields are all of the right shape (its text may still be
    hostile, or empty once cleaned)."""
    published, updated = draw(good_moments())
    body: dict[str, Any] = {"title": draw(WORDS), "published": published}
    if updated is not None:
        body["updated"] = updated
    for name, value in (("section", SECTION_NAME), ("authors", st.lists(NAME, max_size=4))):
        if draw(st.booleans()):
            body[name] = draw(value)
    if draw(st.booleans()):
        body["tags"] = draw(st.lists(NAME, max_size=4))
    if draw(st.booleans()):
        body["text"] = draw(PARAGRAPHS)
    else:
        body["html"] = draw(HTML)
    return body


@st.composite
def bad_body(draw: st.DrawFn) -> object:
    """A body with any field of any shape, at times not an object at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON_VALUE)
    body = draw(good_body())
    for name in draw(st.lists(st.sampled_from(sorted(apijson.FIELDS) + ["unknown"]), max_size=3)):
        body[name] = draw(
            {
                "published": moment(),
                "updated": moment(),
                "section": st.one_of(TEXT, JSON_VALUE),
                "authors": NAMES,
                "tags": NAMES,
                "text": st.one_of(TEXT, JSON_VALUE),
                "html": st.one_of(HTML, JSON_VALUE),
            }.get(name, st.one_of(TEXT, JSON_VALUE))
        )
    if draw(st.integers(0, 4)) == 0:
        body.pop(draw(st.sampled_from(sorted(body))))
    return body


def api_body() -> st.SearchStrategy[object]:
    """A decoded JSON body for PUT /api/v1/articles/<id>."""
    return st.one_of(good_body(), bad_body())


@given(body=api_body(), article_id=ARTICLE_ID, zone=st.sampled_from(ZONES))
@budget(150)
def test_api_bodies_are_taken_or_refused_field_by_field(
    body: object, article_id: str, zone: ZoneInfo
) -> None:
    try:
        parsed = apijson.parse(body, article_id, zone, BASE, NOW)
        event("taken")
    except InvalidFields as e:
        event("refused: " + ", ".join(sorted({error["field"] for error in e.errors})))
        assert e.errors and all(
            isinstance(error["field"], str) and error["detail"] for error in e.errors
        )
        json.dumps(e.errors)  # the problem document carries them
        return
    check_parsed(parsed)
    if parsed.body_html is not None:
        check_body(parsed.body_html)
    assert len(parsed.id) <= limits.MAX_ID_LENGTH
    article = parsed_to_article(parsed)
    json.dumps(apijson.show(article, f"{BASE}/articles/{article.id}"))
    check_renders(article)


# ---------------------------------------------------------------------------------------
# The documents an accepted article renders into, checked by the suite's validity rules.


def raw_line(raw: str, element: Any) -> str:
    """The source line of `element`, counted as XML counts lines (by LF alone: splitlines
    would also break at U+2028 and the like, which HTML bodies may hold)."""
    return raw.split("\n")[int(element.sourceline) - 1]


def xml_document(data: bytes) -> tuple[str, Any]:
    raw = data.decode("utf-8")
    assert not XML_FORBIDDEN.search(raw), XML_FORBIDDEN.search(raw)
    return raw, etree.fromstring(data)


def check_rss(data: bytes, titles: dict[str, str]) -> set[str]:
    """Check an RSS document whose entries have `titles` (by id); return the HTML bodies."""
    raw, root = xml_document(data)
    bodies = set()
    for item in root.find("channel").findall("item"):
        guid = item.findtext("guid")
        assert TAG_URI.match(guid), guid
        title = item.find("title")
        expected = titles[guid.rsplit(":", 1)[1]]
        assert title.text == expected
        warning = plain_text_warning("title", title.text, raw_line(raw, title), rss=True)
        assert warning == (ACCEPTED if END_TAG.search(expected) else None), title.text
        published = parsedate_to_datetime(item.findtext("pubDate"))
        assert published <= datetime.fromisoformat(item.findtext(f"{ATOM}updated"))
        description = item.findtext("description")
        assert clean_characters(title.text + description)
        assert len(html.unescape(description)) <= SUMMARY_LENGTH
        strict_html(description)
        if item.find(CONTENT) is not None:  # summary-only documents have none
            bodies.add(item.findtext(CONTENT))
    return bodies


def check_atom(data: bytes, titles: dict[str, str]) -> set[str]:
    """Check an Atom document whose entries have `titles` (by id); return the HTML bodies."""
    _, root = xml_document(data)
    bodies = set()
    for entry in root.findall(f"{ATOM}entry"):
        tag = entry.findtext(f"{ATOM}id")
        assert TAG_URI.match(tag), tag
        published = datetime.fromisoformat(entry.findtext(f"{ATOM}published"))
        assert published <= datetime.fromisoformat(entry.findtext(f"{ATOM}updated"))
        for name in ("title", "summary"):
            element = entry.find(f"{ATOM}{name}")
            assert clean_characters(element.text)
            if element.get("type", "text") == "text":
                assert plain_text_warning(name, element.text, "", rss=False) is None
                text = element.text
            else:
                strict_html(element.text)
                text = html.unescape(element.text)
            if name == "title":
                assert text == titles[tag.rsplit(":", 1)[1]]
            else:
                assert len(text) <= SUMMARY_LENGTH
        content = entry.find(f"{ATOM}content")
        if content is not None:
            assert content.get("type") == "html"
            bodies.add(content.text)
    return bodies


# The schema checked once, not for every document as jsonschema.validate would.
JSON_FEED = jsonschema.validators.validator_for(SCHEMA)(
    SCHEMA, format_checker=jsonschema.FormatChecker()
)


def check_json(data: bytes, titles: dict[str, str]) -> set[str]:
    """Check a JSON Feed whose items have `titles` (by id); return the HTML bodies."""
    feed = json.loads(data)
    JSON_FEED.validate(feed)
    bodies = set()
    for item in feed["items"]:
        assert item["title"] == titles[item["id"].rsplit(":", 1)[1]]
        assert len(item["summary"]) <= SUMMARY_LENGTH
        # As instants: as text, "…13Z" sorts after "…13.000001Z".
        published, modified = item["date_published"], item["date_modified"]
        assert datetime.fromisoformat(published) <= datetime.fromisoformat(modified)
        assert clean_characters(item["title"] + item["content_text"])
        if "content_html" in item:
            bodies.add(item["content_html"])
    return bodies


CHECKS = {"rss": check_rss, "atom": check_atom, "json": check_json}


def check_body(body: str) -> None:
    """An HTML body as every format carries it: strict HTML, and safe."""
    strict_html(body)
    check_safe_html(body)


def check_renders(article: Article) -> None:
    """The article as the one entry of a document, full and summary-only, in every format:
    each document keeps the rules, and carries the article's own HTML body."""
    doc = replace(document(), entries=(Entry(article, f"{BASE}/articles/{article.id}"),))
    titles = {article.id: article.title}
    for summary_only in (False, True):
        for name, fmt in FORMATS.items():
            bodies = CHECKS[name](fmt.render(replace(doc, summary_only=summary_only)), titles)
            assert bodies == (set() if summary_only else {article.html})
    check_body(article.html)


# ---------------------------------------------------------------------------------------
# The same through the service: bytes of a PUT request read as JSON, stored, then the
# article's page and the site's feeds.

IDS = ["fuzz-0", "fuzz-1", "fuzz-2"]
MAX_BODY = 300_000
REFUSED = {400, 413, 422}


@st.composite
def json_bytes(draw: st.DrawFn) -> bytes:
    """A request body: an article as JSON, or JSON (or not) that strains the reader."""
    kind = draw(st.sampled_from(["body"] * 6 + ["deep", "number", "raw", "twice", "encoded"]))
    if kind == "deep":
        depth = draw(st.sampled_from([10, 1000, 100_000, 149_999]))
        opening, closing = draw(st.sampled_from([("[", "]"), ('{"title":', "}")]))
        return (opening * depth + "1" + closing * depth).encode()
    if kind == "number":
        number = draw(st.sampled_from(["1" * 5000, "1e999999", "-0", "NaN", "-Infinity", "0" * 20]))
        return b'{"title": "T", "published": "2020-01-01T00:00Z", "text": ' + number.encode() + b"}"
    if kind == "raw":
        return draw(st.binary(max_size=64))
    if kind == "twice":  # a key given twice
        return b'{"title": "a", "title": "b", "published": "2020-01-01T00:00Z", "text": "x"}'
    text = json.dumps(draw(api_body()), ensure_ascii=draw(st.booleans()))
    if kind == "encoded":
        return text.encode(
            draw(st.sampled_from(["utf-16", "utf-8-sig", "utf-32", "latin-1"])), "replace"
        )
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate makes it bad UTF-8


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InProcess, str]]:
    """The service in this process on a database of its own and a clock held at NOW, with
    small pages: (site, publish token)."""
    tmp = tmp_path_factory.mktemp("newsroom")
    clock = tmp / "clock"
    clock.write_text(NOW.isoformat())
    site = InProcess(
        {
            "FEEDS_DATABASE": new_database(tmp, "fuzz"),
            "FEEDS_BASE_URL": BASE,
            "FEEDS_CLOCK": str(clock),
            "FEEDS_PAGE_SIZE": "5",
            "FEEDS_MAX_BODY": str(MAX_BODY),
        }
    )
    made = site.feeds("token", "create", "--name", "fuzz", "--scope", "publish")
    assert made.returncode == 0, made.stderr
    yield site, made.stdout.strip()
    site.close()


def check_page(data: bytes, title: str) -> None:
    """An article page: strict HTML, the title as text, no script, every link absolute and
    the site's own; an image (the body's first, shown as the lead) may be on any http(s) host."""
    assert not XML_FORBIDDEN.search(data.decode("utf-8"))
    html5lib.HTMLParser(strict=True).parse(data)
    page = html5lib.parse(data, treebuilder="etree", namespaceHTMLElements=False)
    assert "".join(page.find(".//h1").itertext()) == title
    assert page.findtext(".//title") == f"{title} \u2014 Newsroom"
    for node in page.iter():
        if isinstance(node.tag, str):
            assert node.tag != "script" and not any(a.lower().startswith("on") for a in node.attrib)
            assert node.attrib.get("href", BASE).startswith(BASE), node.attrib
            assert re.match(r"https?://", node.attrib.get("src", BASE)), node.attrib


TITLES: dict[str, str] = {}  # what the newsroom's store holds, by id


@given(data=json_bytes(), article_id=st.sampled_from(IDS))
@budget(30)
def test_put_bodies_are_answered_and_what_is_stored_renders(
    newsroom: tuple[InProcess, str], data: bytes, article_id: str
) -> None:
    site, token = newsroom
    answer = site.client.put(
        f"/api/v1/articles/{article_id}",
        data=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    status, body = answer.status_code, answer.get_data()
    event(f"status {status}")
    if status in REFUSED:
        assert answer.mimetype == "application/problem+json"
        assert json.loads(body)["status"] == status
        return
    assert status in (200, 201), (status, body[:500])
    shown = json.loads(body)
    TITLES[article_id] = shown["title"]
    if datetime.fromisoformat(shown["published"]) <= NOW:  # else under embargo: not shown
        page = site.client.get(f"/articles/{article_id}")
        assert page.status_code == 200
        check_page(page.get_data(), shown["title"])
    for name, fmt in FORMATS.items():
        feed = site.client.get(f"/feeds/{fmt.FILENAME}")
        assert feed.status_code == 200, (name, feed.get_data()[:500])
        for html_body in CHECKS[name](feed.get_data(), TITLES):
            check_body(html_body)


# ---------------------------------------------------------------------------------------
# Inputs that generated examples once broke, kept as plain cases.


def test_references_to_characters_xml_forbids_leave_no_trace() -> None:
    # nh3 writes what a reference stands for: `&#1;` came out as U+0001, and feedgen then
    # refused to build the feed (every RSS and Atom document holding the article: 500).
    assert sanitize("<p>a&#1;b&#x7f;c&#0;d&#xfffe;e&#xD800;f</p>", BASE) == "<p>abcdef</p>"
    assert sanitize('<a title="&#2;x" href="/y">z</a>', BASE) == (
        f'<a title="x" href="{BASE}/y" rel="noopener noreferrer">z</a>'
    )
    assert sanitize("<p>a\ud800b\x00c</p>", BASE) == "<p>abc</p>"  # nh3 reads no surrogates


def test_a_put_of_such_html_leaves_every_feed_whole(site: InProcess) -> None:
    made = site.feeds("token", "create", "--name", "cms", "--scope", "publish")
    body = {"title": "Control", "published": "2020-01-01T10:00:00Z", "html": "<p>a&#1;b</p>"}
    headers = {"Authorization": f"Bearer {made.stdout.strip()}"}
    put = site.client.put("/api/v1/articles/control", json=body, headers=headers)
    assert put.status_code == 201, put.get_data()
    for fmt in FORMATS.values():
        status, _, data = site.fetch(site.url(f"/feeds/{fmt.FILENAME}"))
        assert status == 200, fmt.FILENAME
        if fmt.NAME == "json":
            body_html = json.loads(data)["items"][0]["content_html"]
        else:
            element = CONTENT if fmt.NAME == "rss" else f"{ATOM}content"
            body_html = etree.fromstring(data).findtext(f".//{element}")
        assert body_html == "<p>ab</p>", fmt.FILENAME


def test_a_link_that_is_no_url_is_dropped_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    # nh3 reports what its attribute filter raises on stderr ("Exception ignored in ...",
    # with a traceback): urljoin raised ValueError for an unclosed IPv6 host.
    reported: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    fragment = '<a href="http://[::1">a</a><q cite="//[x">q</q><img src="http://[" alt="i">'
    assert sanitize(fragment, BASE) == '<a rel="noopener noreferrer">a</a><q>q</q>'
    assert reported == []


@pytest.mark.parametrize(("url", "stored"), NORMALISED_URLS.items())
def test_links_and_images_are_written_as_feed_validators_want_them(url: str, stored: str) -> None:
    fragment = f'<a href="{html.escape(url)}">a</a><img src="{html.escape(url)}" alt="i">'
    written = html.escape(stored)
    assert sanitize(fragment, BASE) == (
        f'<a href="{written}" rel="noopener noreferrer">a</a><img src="{written}" alt="i">'
    )


@pytest.mark.parametrize("url", INVALID_URLS)
def test_a_link_or_image_that_cannot_be_made_valid_is_dropped(url: str) -> None:
    fragment = f'<p><a href="{html.escape(url)}">a</a><img src="{html.escape(url)}" alt="i"></p>'
    assert sanitize(fragment, BASE) == '<p><a rel="noopener noreferrer">a</a></p>'


def test_a_mailto_link_is_kept() -> None:
    fragment = '<a href="mailto:desk@news.example?subject=[Tip]">Tell us</a>'
    assert sanitize(fragment, BASE) == (
        '<a href="mailto:desk@news.example?subject=%5BTip%5D" rel="noopener noreferrer">Tell us</a>'
    )


@pytest.mark.parametrize(
    ("fragment", "cleaned"),
    [
        ("<h2><x><h4>t</h4></x></h2>", "<h2></h2><h4>t</h4>"),
        ("<p><select><p>t</p></select></p>", "<p></p><p>t</p><p></p>"),
        (
            '<a href="/1"><table><a href="/2">t</a></table></a>',
            f'<a href="{BASE}/1" rel="noopener noreferrer"></a>'
            f'<a href="{BASE}/2" rel="noopener noreferrer">t</a>',
        ),
    ],
)
def test_what_a_dropped_element_leaves_reads_back_as_written(fragment: str, cleaned: str) -> None:
    # The dropped element's children stay where it was: an h4 inside an h2, a p inside a p,
    # a link inside a link, which an HTML parser reads as another tree (and a strict one,
    # as feed validators use, refuses).
    assert sanitize(fragment, BASE) == cleaned
    strict_html(cleaned)


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        # IDNA 2008 (UTS 46, non-transitional), as browsers and registries use it: the
        # standard library's IDNA 2003 maps these to other, differently owned, names
        # (fass.de, and a final sigma made a medial one).
        ("https://faß.de/a.jpg", "https://xn--fa-hia.de/a.jpg"),
        ("https://βόλος.gr/a.jpg", "https://xn--nxasmm1c.gr/a.jpg"),
        # Browsers pass ASCII names by the label rule alone: hyphens where IDNA forbids
        # them in a name it encodes are kept (video hosts are named so).
        ("https://r4---sn-abc.example.com/a.jpg", "https://r4---sn-abc.example.com/a.jpg"),
        ("https://Bücher.Example/a.jpg", "https://xn--bcher-kva.example/a.jpg"),
        # A URL without a host keeps all that follows its scheme (urlsplit reads
        # `mailto://a//b` as a host, a, and a path).
        ("mailto://a//b//c//d//e", "mailto://a//b//c//d//e"),
        ("mailto://a@b.c", "mailto://a@b.c"),
        ("MAILTO:a@b.c?subject=a b#x y", "mailto:a@b.c?subject=a%20b#x%20y"),
        ("mailto:a@b.c?subject=100%", "mailto:a@b.c?subject=100%25"),
    ],
)
def test_a_url_is_written_as_browsers_read_it(url: str, stored: str) -> None:
    assert normal_url(url, BASE) == stored
    assert normal_url(stored, BASE) == stored  # and so again unchanged


# A joiner out of the context IDNA allows it in (browsers refuse it; IDNA 2003 dropped it,
# naming another host), and an xn-- label that decodes to nothing.
@pytest.mark.parametrize("host", ["a\u200db.example.com", "a\u200cb.example.com", "xn--zz.example"])
def test_a_host_name_idna_refuses_is_refused(host: str) -> None:
    with pytest.raises(BadURL, match="host name that is not valid"):
        normal_url(f"https://{host}/a.jpg", BASE)
    assert (
        sanitize(f'<p><a href="https://{host}/">x</a></p>', BASE)
        == '<p><a rel="noopener noreferrer">x</a></p>'
    )


# The W3C feed validator's test of an enclosure's URL (feedvalidator/validators.py,
# httpURL and addr_spec.domain_re): a host of at least two labels, or an IPv4 address.
VALIDATOR_HTTP_URL = re.compile(
    r"(http|https)://(([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([A-Z0-9\-]+\.)+))"
    r"([A-Z0-9][-A-Z0-9]*)(?::\d+)?(/|$)",
    re.IGNORECASE,
)


@pytest.mark.parametrize("url", ["https://img.example.com./a.jpg", "https://localhost/a.jpg"])
def test_an_image_url_is_refused_or_written_as_the_validator_takes_it(url: str) -> None:
    try:
        stored = normal_url(url, BASE, ("http", "https"))
    except BadURL:
        return
    assert VALIDATOR_HTTP_URL.match(stored), stored


def test_a_host_name_s_root_dot_is_dropped() -> None:
    assert normal_url("https://IMG.example.com./a.jpg", BASE) == "https://img.example.com/a.jpg"


@pytest.mark.parametrize("host", ["localhost", "com", "com.", "xn--fa-hia"])
def test_a_host_name_of_one_label_is_refused(host: str) -> None:
    with pytest.raises(BadURL, match="one label"):
        normal_url(f"https://{host}/a.jpg", BASE)
    assert sanitize(f'<p><a href="https://{host}/">x</a></p>', BASE) == (
        '<p><a rel="noopener noreferrer">x</a></p>'
    )


@pytest.mark.parametrize(
    ("url", "base", "stored"),
    [
        ("https://192.0.2.1/a.jpg", BASE, "https://192.0.2.1/a.jpg"),
        # The site's own host is the operator's to choose.
        ("/a.jpg", "http://localhost:8000", "http://localhost:8000/a.jpg"),
        ("http://localhost:8000/a.jpg", "http://localhost:8000", "http://localhost:8000/a.jpg"),
    ],
)
def test_an_ip_address_or_the_site_s_own_host_is_kept(url: str, base: str, stored: str) -> None:
    assert normal_url(url, base) == stored


def test_sanitised_html_sanitised_again_is_the_same() -> None:
    # What GET returns, sent back by a CMS, must make no new revision.
    once = sanitize('<p><a href="mailto://a//b//c//d//e">x</a></p>', BASE)
    assert sanitize(once, BASE) == once
