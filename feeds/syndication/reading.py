"""Served documents read back as a consumer reads them: RSS 2.0, Atom 1.0, JSON Feed 1.1 and
Google News sitemaps, into the neutral records the profiles' rules judge (profiles.py).

Parsed with the standard library alone, from the bytes as served. Images are read as the
standards place them: Media RSS `media:content` (and `enclosure`, Atom's `link
rel="enclosure"`) in XML feeds, `image` and image attachments in JSON Feed, `image:image`
in sitemaps.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from feeds.errors import FeedsError

from .profiles import Document, Item, ItemImage

ATOM = "{http://www.w3.org/2005/Atom}"
MEDIA = "{http://search.yahoo.com/mrss/}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"
IMAGE = "{http://www.google.com/schemas/sitemap-image/1.1}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_TAG = re.compile(r"<[^>]*>")


class Unreadable(FeedsError):
    """The document is none of the kinds read, or is not well formed."""


def read(body: bytes, base_url: str) -> tuple[Document, list[Item]]:
    """The document and its items; raises Unreadable."""
    try:
        body.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError:
        utf8 = False
    if body.lstrip()[:1] == b"{":
        return _json(body, base_url, utf8)
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise Unreadable(f"the document is not well-formed XML ({e})") from e
    if root.tag == "rss":
        return _rss(root, len(body), base_url, utf8)
    if root.tag == f"{ATOM}feed":
        return _atom(root, len(body), base_url, utf8)
    if root.tag == f"{SITEMAP}urlset":
        return _sitemap(root, body, base_url, utf8)
    raise Unreadable(f"the document is not RSS, Atom, JSON Feed or a sitemap (<{root.tag}>)")


def _text(element: ET.Element | None, path: str) -> str:
    found = None if element is None else element.find(path)
    return "" if found is None or found.text is None else found.text


def _plain(markup: str) -> str:
    """The text of an HTML fragment."""
    return " ".join(html.unescape(_TAG.sub(" ", markup)).split())


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def _rfc3339(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _rfc822(value: str) -> datetime | None:
    try:
        return parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None


def _media_image(parent: ET.Element) -> ItemImage | None:
    """The first Media RSS image (medium="image", or an image type) of an item or entry."""
    for content in parent.iter(f"{MEDIA}content"):
        medium, kind = content.get("medium"), content.get("type") or ""
        if medium == "image" or (medium is None and kind.startswith("image/")):
            credit = _text(content, f"{MEDIA}credit") or _text(parent, f"{MEDIA}credit")
            return ItemImage(
                content.get("url", ""),
                _int(content.get("width")),
                _int(content.get("height")),
                _int(content.get("fileSize")),
                credit or None,
            )
    return None


def _rss(root: ET.Element, size: int, base_url: str, utf8: bool) -> tuple[Document, list[Item]]:
    channel = root.find("channel")
    items = [] if channel is None else channel.findall("item")
    doc = Document(
        "rss",
        len(items),
        size,
        base_url,
        utf8,
        _text(channel, "title"),
        _text(channel, "link"),
        _text(channel, "language"),
        _text(channel, "description"),
    )
    return doc, [_rss_item(item) for item in items]


def _rss_item(item: ET.Element) -> Item:
    image = _media_image(item)
    enclosure = item.find("enclosure")
    if image is None and enclosure is not None:
        if (enclosure.get("type") or "").startswith("image/"):
            image = ItemImage(enclosure.get("url", ""), length=_int(enclosure.get("length")))
    content = _text(item, f"{CONTENT}encoded")
    return Item(
        id=_text(item, "guid"),
        link=_text(item, "link"),
        title=_text(item, "title"),
        content=len(content) if content else None,
        description=len(_plain(_text(item, "description"))),
        image=image,
        authors=tuple(e.text for e in item.findall(f"{DC}creator") if e.text),
        published=_rfc822(_text(item, "pubDate")),
        updated=_rfc3339(_text(item, f"{ATOM}updated")),
    )


def _atom_text(element: ET.Element | None) -> str:
    """The text of an Atom text construct: HTML ones as text."""
    if element is None:
        return ""
    text = element.text or ""
    return _plain(text) if element.get("type") in ("html", "xhtml") else text


def _atom_link(entry: ET.Element, rel: str) -> ET.Element | None:
    for link in entry.findall(f"{ATOM}link"):
        if link.get("rel", "alternate") == rel:
            return link
    return None


def _atom(root: ET.Element, size: int, base_url: str, utf8: bool) -> tuple[Document, list[Item]]:
    entries = root.findall(f"{ATOM}entry")
    home = _atom_link(root, "alternate")
    doc = Document(
        "atom",
        len(entries),
        size,
        base_url,
        utf8,
        _atom_text(root.find(f"{ATOM}title")),
        "" if home is None else home.get("href", ""),
        root.get(XML_LANG, ""),
        _atom_text(root.find(f"{ATOM}subtitle")),
    )
    return doc, [_atom_entry(entry) for entry in entries]


def _atom_entry(entry: ET.Element) -> Item:
    image = _media_image(entry)
    enclosure = _atom_link(entry, "enclosure")
    if image is None and enclosure is not None:
        if (enclosure.get("type") or "").startswith("image/"):
            image = ItemImage(enclosure.get("href", ""), length=_int(enclosure.get("length")))
    link = _atom_link(entry, "alternate")
    content = _text(entry, f"{ATOM}content")
    return Item(
        id=_text(entry, f"{ATOM}id"),
        link="" if link is None else link.get("href", ""),
        title=_atom_text(entry.find(f"{ATOM}title")),
        content=len(content) if content else None,
        description=len(_atom_text(entry.find(f"{ATOM}summary"))),
        image=image,
        authors=tuple(_text(a, f"{ATOM}name") for a in entry.findall(f"{ATOM}author")),
        published=_rfc3339(_text(entry, f"{ATOM}published")),
        updated=_rfc3339(_text(entry, f"{ATOM}updated")),
    )


def _json(body: bytes, base_url: str, utf8: bool) -> tuple[Document, list[Item]]:
    try:
        data = json.loads(body)
    except ValueError as e:
        raise Unreadable(f"the document is not JSON ({e})") from e
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise Unreadable("the document is not a JSON Feed (no items)")
    items = [item for item in data["items"] if isinstance(item, dict)]
    doc = Document(
        "json",
        len(data["items"]),
        len(body),
        base_url,
        utf8,
        str(data.get("title", "")),
        str(data.get("home_page_url", "")),
        str(data.get("language", "")),
        str(data.get("description", "")),
    )
    return doc, [_json_item(item) for item in items]


def _json_item(item: dict[str, Any]) -> Item:
    image = None
    attachments = [a for a in item.get("attachments") or [] if isinstance(a, dict)]
    pictures = [a for a in attachments if str(a.get("mime_type", "")).startswith("image/")]
    if item.get("image"):
        length = next((a.get("size_in_bytes") for a in pictures if a.get("url") == item["image"]),
                      None)  # fmt: skip
        image = ItemImage(str(item["image"]), length=length)
    elif pictures:
        image = ItemImage(str(pictures[0].get("url", "")), length=pictures[0].get("size_in_bytes"))
    content = item.get("content_html")
    return Item(
        id=str(item.get("id", "")),
        link=str(item.get("url", "")),
        title=str(item.get("title", "")),
        content=len(content) if isinstance(content, str) and content else None,
        description=len(str(item.get("summary", ""))),
        image=image,
        authors=tuple(
            str(a.get("name", "")) for a in item.get("authors") or [] if isinstance(a, dict)
        ),  # fmt: skip
        published=_rfc3339(str(item.get("date_published", ""))),
        updated=_rfc3339(str(item.get("date_modified", ""))),
    )


def _sitemap(
    root: ET.Element, body: bytes, base_url: str, utf8: bool
) -> tuple[Document, list[Item]]:
    """A sitemap; a News sitemap (declaring the news namespace, even with no entry) has one
    item per <url> with <news:news>."""
    urls = [url for url in root.findall(f"{SITEMAP}url") if url.find(f"{NEWS}news") is not None]
    kind = "news-sitemap" if urls or NEWS.strip("{}").encode() in body else "sitemap"
    doc = Document(kind, len(urls), len(body), base_url, utf8)
    return doc, [_news_item(url) for url in urls]


def _news_item(url: ET.Element) -> Item:
    news = url.find(f"{NEWS}news")
    publication = None if news is None else news.find(f"{NEWS}publication")
    loc = _text(url, f"{SITEMAP}loc").strip()
    picture = _text(url, f"{IMAGE}image/{IMAGE}loc").strip()
    name, language = _text(publication, f"{NEWS}name"), _text(publication, f"{NEWS}language")
    return Item(
        id=loc,
        link=loc,
        title=_text(news, f"{NEWS}title"),
        content=None,
        description=0,
        image=ItemImage(picture) if picture else None,
        published=_rfc3339(_text(news, f"{NEWS}publication_date")),
        publication=f"{name.strip()}/{language.strip()}",
    )
