"""The three formats: golden bytes from a fixed set of articles, plus structural checks with
real parsers (feedparser, lxml, a JSON Feed 1.1 schema)."""

from __future__ import annotations

import dataclasses
import html
import json
import os
from pathlib import Path

import feedparser
import html5lib
import jsonschema
import pytest
from lxml import etree

from feeds.formats import FORMATS
from feeds.model import Article, Entry, FeedDocument, Image
from feeds.text import MAX_IMAGE_ALT, MAX_IMAGE_URL, SUMMARY_LENGTH, shorten
from tests.samples import ARTICLES, BASE, document

GOLDEN = Path(__file__).parents[1] / "golden"
SCHEMA = json.loads((Path(__file__).parents[1] / "jsonfeed-1.1.schema.json").read_text())


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_output_matches_the_golden_file(name: str) -> None:
    golden = GOLDEN / f"site.{FORMATS[name].FILENAME}"
    output = FORMATS[name].render(document())
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_bytes(output)
    assert output == golden.read_bytes(), f"review and run UPDATE_GOLDEN=1 if {golden} is stale"


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_same_data_gives_the_same_bytes(name: str) -> None:
    assert FORMATS[name].render(document()) == FORMATS[name].render(document())


@pytest.mark.parametrize("name", ["rss", "atom"])
def test_xml_feeds_parse_cleanly_with_true_instants(name: str) -> None:
    parsed = feedparser.parse(FORMATS[name].render(document()))
    assert not parsed.bozo, parsed.get("bozo_exception")
    first, second = parsed.entries
    assert first.id == "tag:news.example.com,2026-01-15:b-summer"
    # Atom declares a title that looks like markup as escaped HTML; feedparser guesses
    # HTML from the end tag in the RSS title's plain text.
    assert first.title_detail.type == "text/html"
    assert html.unescape(first.title) == "Summer <b>markup</b> & ampersands"
    assert second.title == "Winter \u201cquotes\u201d and caf\u00e9"
    assert first.link == f"{BASE}/articles/b-summer"
    assert first.published_parsed[:5] == (2019, 7, 1, 11, 0)
    assert first.updated_parsed[:5] == (2019, 7, 2, 8, 30)
    assert second.published_parsed[:5] == (2019, 1, 4, 18, 9)
    assert "<script>" not in first.content[0].value
    assert "&lt;script&gt;" in first.content[0].value
    assert parsed.feed.title == "The Newsroom"
    assert parsed.feed.updated_parsed[:5] == (2019, 7, 2, 8, 30)


def test_rss_channel_fields() -> None:
    root = etree.fromstring(FORMATS["rss"].render(document()))
    ns = {
        "atom": "http://www.w3.org/2005/Atom",
        "dc": "http://purl.org/dc/elements/1.1/",
        "content": "http://purl.org/rss/1.0/modules/content/",
    }
    channel = root.find("channel")
    assert channel.findtext("link") == BASE + "/"  # the home page, not the feed
    assert channel.find("atom:link[@rel='self']", ns).get("href") == BASE + "/feeds/rss.xml"
    assert channel.findtext("lastBuildDate") == "Tue, 02 Jul 2019 08:30:00 +0000"
    assert channel.findtext("language") == "en-GB"
    assert channel.findtext("dc:publisher", namespaces=ns) == "The Newsroom"
    item = channel.find("item")
    assert item.find("guid").get("isPermaLink") == "false"
    assert item.findtext("pubDate") == "Mon, 01 Jul 2019 11:00:00 +0000"
    assert item.findtext("atom:updated", namespaces=ns) == "2019-07-02T08:30:00Z"
    # Plain text in an HTML-by-convention field: escaped so no reader sees markup.
    assert item.findtext("description") == "a &lt; b &amp;&amp; c &gt; d"
    assert item.findtext("content:encoded", namespaces=ns).startswith("<p>a &lt; b &amp;&amp;")
    assert len(channel.findall("lastBuildDate")) == 1


HOSTILE_TITLES = [
    "AT&T <i>x</i>",
    "AT&T buys a network",
    "Closing </p> in a headline",
    "Escaped &amp; once",
    "Line<br>break",
    "Picture <img src=x> here",
    "Caf\u00e9 \u201cd\u00e9j\u00e0 vu\u201d \u2013 \u6771\u4eac \U0001f600",
    "CDATA ends ]]> here",
]


def _hex(text: str) -> bytes:
    """Text as RSS writes character data: escaped once, '&' and '<' as hex references."""
    escaped = text.replace("&", "&#x26;").replace("<", "&#x3C;").replace(">", "&gt;")
    return escaped.encode()


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_rss_titles_are_the_text_escaped_once(title: str) -> None:
    doc = document()
    article = dataclasses.replace(ARTICLES[1], title=title)
    doc = dataclasses.replace(
        doc,
        info=dataclasses.replace(doc.info, title=title),
        entries=(Entry(article, f"{BASE}/articles/{article.id}"),),
    )
    data = FORMATS["rss"].render(doc)
    channel = etree.fromstring(data).find("channel")
    # A reader that takes the title as plain text shows exactly the article's text.
    assert channel.findtext("title") == channel.findtext("item/title") == title
    assert data.count(b"<title>" + _hex(title) + b"</title>") == 2
    assert not feedparser.parse(data).bozo


def test_rss_content_is_a_cdata_section_unless_the_html_ends_one() -> None:
    # Text made HTML never holds "]]>" (">" is escaped); HTML that came as HTML might.
    closing = dataclasses.replace(ARTICLES[1], id="c", body_html="<p>x ]]> y &amp; z</p>")
    doc = document()
    doc = dataclasses.replace(doc, entries=(*doc.entries, Entry(closing, f"{BASE}/articles/c")))
    data = FORMATS["rss"].render(doc)
    assert data.count(b"<![CDATA[") == 2  # the first two; the third is escaped instead
    assert b"<content:encoded>&#x3C;p&gt;x ]]&gt; y &#x26;amp; z&#x3C;/p&gt;<" in data
    items = etree.fromstring(data).findall("channel/item")
    encoded = "{http://purl.org/rss/1.0/modules/content/}encoded"
    for item, entry in zip(items, doc.entries, strict=True):
        assert item.findtext(encoded) == entry.article.html
    assert not feedparser.parse(data).bozo


WORDS = " ".join(["abcd"] * 300)  # 1,499 characters
CUT = " ".join(["abcd"] * 100) + "\u2026"  # the whole words that fit, and an ellipsis


def _first_paragraph(text: str, summary_only: bool = False) -> FeedDocument:
    article = dataclasses.replace(ARTICLES[1], paragraphs=(text, "Second."))
    entry = Entry(article, f"{BASE}/articles/{article.id}")
    return dataclasses.replace(document(), entries=(entry,), summary_only=summary_only)


def _summaries(doc: FeedDocument) -> dict[str, str]:
    """The summary as each format carries it, and JSON Feed's content_text."""
    rss = etree.fromstring(FORMATS["rss"].render(doc)).find("channel/item")
    atom = etree.fromstring(FORMATS["atom"].render(doc)).find("{http://www.w3.org/2005/Atom}entry")
    item = json.loads(FORMATS["json"].render(doc))["items"][0]
    return {
        "rss": html.unescape(rss.findtext("description")),
        "atom": atom.findtext("{http://www.w3.org/2005/Atom}summary"),
        "json": item["summary"],
        "json content_text": item["content_text"],
    }


@pytest.mark.parametrize("summary_only", [False, True])
def test_a_long_summary_is_cut_at_a_word_boundary(summary_only: bool) -> None:
    assert len(CUT) == SUMMARY_LENGTH
    summaries = _summaries(_first_paragraph(WORDS, summary_only))
    text = summaries.pop("json content_text")
    assert summaries == {"rss": CUT, "atom": CUT, "json": CUT}
    # The full text is never cut; a summary-only document's text is the summary.
    assert text == (CUT if summary_only else f"{WORDS}\n\nSecond.")


def test_a_summary_that_fits_is_unchanged() -> None:
    fits = " ".join(["abcd"] * 100) + "x"
    assert len(fits) == SUMMARY_LENGTH
    summaries = _summaries(_first_paragraph(fits, summary_only=True))
    assert set(summaries.values()) == {fits}


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        # No word boundary to cut at: between two characters, never before a combining mark.
        ("\u6771" * 600, "\u6771" * 499 + "\u2026"),
        ("e\u0301" * 300, "e\u0301" * 249 + "\u2026"),
        # A comma at the cut is dropped before the ellipsis; a no-break space never breaks.
        (" ".join(["abc,"] * 200), " ".join(["abc,"] * 99) + " abc\u2026"),
        ("10\u00a0km " + "y" * 600, "10\u00a0km\u2026"),
        ("y" * 498 + " z" * 2, "y" * 498 + "\u2026"),
    ],
)
def test_shorten_cuts_between_words(text: str, cut: str) -> None:
    assert shorten(text) == cut and len(cut) <= SUMMARY_LENGTH


def test_atom_feed_fields() -> None:
    ns = {"a": "http://www.w3.org/2005/Atom"}
    root = etree.fromstring(FORMATS["atom"].render(document()))
    assert root.findtext("a:id", namespaces=ns) == "tag:news.example.com,2026-01-15:feeds"
    assert root.findtext("a:updated", namespaces=ns) == "2019-07-02T08:30:00+00:00"
    assert root.find("a:link[@rel='self']", ns).get("href") == BASE + "/feeds/atom.xml"
    assert root.findtext("a:author/a:name", namespaces=ns) == "The Newsroom"
    entry = root.find("a:entry", ns)
    title = entry.find("a:title", ns)
    assert (title.get("type"), html.unescape(title.text)) == (
        "html",
        "Summer <b>markup</b> & ampersands",
    )
    assert entry.find("a:content", ns).get("type") == "html"
    assert entry.findtext("a:published", namespaces=ns) == "2019-07-01T11:00:00+00:00"
    assert entry.findtext("a:summary", namespaces=ns) == "a < b && c > d"


def test_json_feed_follows_version_1_1() -> None:
    feed = json.loads(FORMATS["json"].render(document()))
    jsonschema.validate(feed, SCHEMA, format_checker=jsonschema.FormatChecker())
    item = feed["items"][0]
    assert feed["feed_url"] == BASE + "/feeds/feed.json"
    assert item["date_published"] == "2019-07-01T11:00:00Z"
    assert item["date_modified"] == "2019-07-02T08:30:00Z"
    assert item["content_text"] == "a < b && c > d\n\n<script>x</script>"
    assert "<script>" not in item["content_html"]


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_empty_feed_renders(name: str) -> None:
    doc = document()
    empty = FeedDocument(doc.info, ())
    assert FORMATS[name].render(empty)


def test_no_article_text_can_break_a_feed() -> None:
    """Every code point an article file can hold goes through ingest and all three formats."""
    from zoneinfo import ZoneInfo

    from feeds.ingest.textfile import parse_article

    chars = "".join(chr(c) for c in range(0x0, 0x3000) if not 0xD800 <= c < 0xE000)
    chars += "\ufdd0\ufeff\ufffd\ufffe\uffff\U0001f600\U0010fffd]]>&lt;<![CDATA[</p>"
    lines = [chars[i : i + 300] for i in range(0, len(chars), 300)]
    text = "\n".join(["Banner", "Title " + chars[:200], "4 January 2020, 18:09", *lines])
    parsed = parse_article(
        text.encode("utf-8", "surrogatepass"), "x.txt", "x", None, ZoneInfo("Europe/London")
    )
    article = Article(
        id="x",
        tag="tag:news.example.com,2026-01-15:x",
        title=parsed.title,
        published=parsed.published,
        updated=parsed.updated,
        paragraphs=parsed.paragraphs,
        section=None,
        revision=1,
        modified=parsed.updated,
    )
    doc = FeedDocument(document().info, (Entry(article, BASE + "/articles/x"),))
    for name in ("rss", "atom"):
        data = FORMATS[name].render(doc)
        etree.fromstring(data)  # well-formed XML
        assert not feedparser.parse(data).bozo
    feed = json.loads(FORMATS["json"].render(doc))
    item = feed["items"][0]
    # What the W3C validator checks beyond XML: no C1 controls or U+FFFD in any text, and
    # embedded HTML that a strict HTML parser accepts.
    for text in (item["title"], item["content_text"]):
        assert not any(0x80 <= ord(c) <= 0x9F or c == "\ufffd" for c in text)
    html5lib.HTMLParser(strict=True).parseFragment(item["content_html"])


IMAGE = ARTICLES[0].image
MEDIA = "{http://search.yahoo.com/mrss/}"


@pytest.mark.parametrize("summary_only", [False, True])
@pytest.mark.parametrize("name", ["rss", "atom"])
def test_feedparser_reads_the_lead_image(name: str, summary_only: bool) -> None:
    assert IMAGE is not None
    doc = dataclasses.replace(document(), summary_only=summary_only)
    parsed = feedparser.parse(FORMATS[name].render(doc))
    assert not parsed.bozo, parsed.get("bozo_exception")
    first, second = parsed.entries
    assert first.media_content == [
        {
            "url": IMAGE.url,
            "medium": "image",
            "type": "image/jpeg",
            "width": "1200",
            "height": "800",
            "filesize": "183402",
        }
    ]
    assert first.media_thumbnail == [{"url": IMAGE.url, "width": "1200", "height": "800"}]
    assert first.enclosures == [{"href": IMAGE.url, "length": "183402", "type": "image/jpeg"}]
    assert first.media_credit == [{"content": "Photo: Bo Reporter & Co"}]
    assert "media_content" not in second and second.enclosures == []
    # The caption never takes the place of the summary or the text (see xmlfeed._media).
    assert html.unescape(first.summary) == "a < b && c > d"
    if summary_only:
        assert "content" not in first
    else:
        assert [c.value for c in first.content] == [ARTICLES[0].html]


def _media_description(name: str, doc: FeedDocument) -> tuple[str | None, str | None] | None:
    root = etree.fromstring(FORMATS[name].render(doc))
    found = root.find(f".//{MEDIA}content/{MEDIA}description")
    return None if found is None else (found.get("type"), found.text)


@pytest.mark.parametrize("name", ["rss", "atom"])
def test_media_description_is_the_caption_else_the_alt_text(name: str) -> None:
    assert IMAGE is not None
    # Text that looks like markup is declared HTML and escaped once more.
    assert _media_description(name, document()) == ("html", html.escape(IMAGE.caption or "", False))
    alt_only = dataclasses.replace(IMAGE, caption=None, alt="A beach at noon & more")
    article = dataclasses.replace(ARTICLES[0], image=alt_only)
    doc = dataclasses.replace(document(), entries=(Entry(article, f"{BASE}/articles/x"),))
    assert _media_description(name, doc) == ("plain", "A beach at noon & more")
    # Left out of summary-only documents, where feedparser would take it for the text.
    assert _media_description(name, dataclasses.replace(doc, summary_only=True)) is None


def test_every_rss_item_has_a_byline() -> None:
    items = etree.fromstring(FORMATS["rss"].render(document())).findall("channel/item")
    creator = "{http://purl.org/dc/elements/1.1/}creator"
    # The article's authors; the site's author for an article that names none.
    assert [[c.text for c in item.iter(creator)] for item in items] == [
        ["Ann Writer"],
        ["The Newsroom"],
    ]
    assert all(item.find("author") is None for item in items)  # RSS author is an e-mail


def _only(image: Image | None, body_html: str | None = None) -> FeedDocument:
    article = dataclasses.replace(ARTICLES[0], image=image, body_html=body_html)
    return dataclasses.replace(document(), entries=(Entry(article, f"{BASE}/articles/x"),))


def _enclosures(doc: FeedDocument) -> dict[str, object]:
    """The enclosure of each format: RSS enclosure, Atom link, JSON Feed attachment."""
    rss = etree.fromstring(FORMATS["rss"].render(doc)).find("channel/item/enclosure")
    atom = etree.fromstring(FORMATS["atom"].render(doc)).find(
        "{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}link[@rel='enclosure']"
    )
    item = json.loads(FORMATS["json"].render(doc))["items"][0]
    jsonschema.validate(item, SCHEMA["$defs"]["item"] | {"$defs": SCHEMA["$defs"]})
    return {
        "rss": None if rss is None else dict(rss.attrib),
        "atom": None if atom is None else dict(atom.attrib),
        "json": (item.get("image"), item.get("attachments")),
    }


def test_enclosures_say_what_is_known_of_the_image() -> None:
    url = "https://cdn.example.com/pictures/beach.JPEG"
    # Nothing but the URL and alt text known: the type is read from the extension, and RSS,
    # which requires a length, says 0 (the RSS Best Practices Profile); JSON Feed gives an
    # attachment only for a known size.
    assert _enclosures(_only(Image(url, "Alt"))) == {
        "rss": {"url": url, "length": "0", "type": "image/jpeg"},
        "atom": {"href": url, "rel": "enclosure", "type": "image/jpeg"},
        "json": (url, None),
    }
    sized = Image(url, "Alt", type="image/webp", length=99)
    assert _enclosures(_only(sized)) == {
        "rss": {"url": url, "length": "99", "type": "image/webp"},
        "atom": {"href": url, "rel": "enclosure", "type": "image/webp", "length": "99"},
        "json": (url, [{"url": url, "mime_type": "image/webp", "size_in_bytes": 99}]),
    }
    # No type given nor known from the URL: RSS, which requires one, has no enclosure, and
    # neither has JSON Feed, whose attachments require one, nor Atom, where feedparser takes
    # an enclosure without a type for text/html; Media RSS still names the image.
    unknown = Image("https://cdn.example.com/image?id=5", "Alt", length=99)
    assert _enclosures(_only(unknown)) == {"rss": None, "atom": None, "json": (unknown.url, None)}
    for name in ("rss", "atom"):
        parsed = feedparser.parse(FORMATS[name].render(_only(unknown)))
        assert parsed.entries[0].enclosures == [], name
        assert parsed.entries[0].media_content[0]["url"] == unknown.url, name


def test_the_first_image_of_an_html_body_is_the_lead() -> None:
    body = '<p>Text</p><img src="https://news.example.com/m/a.png" alt="A" width="640">'
    assert _enclosures(_only(None, body))["json"] == ("https://news.example.com/m/a.png", None)
    rss = etree.fromstring(FORMATS["rss"].render(_only(None, body)))
    assert dict(rss.find(f"channel/item/{MEDIA}content").attrib) == {
        "url": "https://news.example.com/m/a.png",
        "medium": "image",
        "type": "image/png",
        "width": "640",
    }


@pytest.mark.parametrize("name", ["rss", "atom"])
def test_documents_without_images_declare_no_media_prefix(name: str) -> None:
    without = dataclasses.replace(document(), entries=document().entries[1:])
    assert b"xmlns:media" not in FORMATS[name].render(without)
    assert b'xmlns:media="http://search.yahoo.com/mrss/"' in FORMATS[name].render(document())


@pytest.mark.parametrize("summary_only", [False, True])
def test_json_feed_items_carry_the_image(summary_only: bool) -> None:
    assert IMAGE is not None
    doc = dataclasses.replace(document(), summary_only=summary_only)
    feed = json.loads(FORMATS["json"].render(doc))
    jsonschema.validate(feed, SCHEMA, format_checker=jsonschema.FormatChecker())
    first, second = feed["items"]
    assert first["image"] == IMAGE.url
    assert first["attachments"] == [
        {"url": IMAGE.url, "mime_type": "image/jpeg", "size_in_bytes": 183_402}
    ]
    assert "image" not in second and "attachments" not in second


def test_the_lead_image_from_a_body_is_its_first_image_within_a_given_ones_bounds() -> None:
    """The first <img> with an http(s) source and alt text, skipping those whose URL or alt
    text a lead image given through the API could not have."""
    long_url = f'<img src="https://cdn.example/{"a" * MAX_IMAGE_URL}.jpg" alt="Too long a URL">'
    long_alt = f'<img src="https://cdn.example/b.jpg" alt="{"b" * (MAX_IMAGE_ALT + 1)}">'
    body = (
        '<p>x</p><img src="https://cdn.example/none.jpg" alt="">'
        '<img src="https://cdn.example/blank.jpg" alt="\u200b\ufeff"><img src="/rel.jpg" alt="Rel">'
        f'{long_url}{long_alt}<img src="https://cdn.example/c.jpg?w=1&amp;h=2" alt=" The '
        ' harbour " width="640" height="4.5">'
    )
    article = dataclasses.replace(ARTICLES[1], body_html=body, image=None)
    assert article.lead_image == Image(
        url="https://cdn.example/c.jpg?w=1&h=2", alt="The harbour", width=640
    )
    assert article.image_in_body
