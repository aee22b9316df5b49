"""The only module that touches feedgen and lxml: RSS 2.0 and Atom 1.0 documents.

Handles feedgen's quirks in one place: feed times are always set from the data (never the
current time; `updated()` sets RSS lastBuildDate too), entries are appended in order, the RSS
channel link is the home page, the WebSub hub links it drops in RSS are added as `atom:link`,
and RSS items get pubDate and `atom:updated` through a small extension that formats dates
itself.

feedgen formats lastBuildDate by switching the process-wide locale around strftime;
RENDER_LOCK keeps two threads from doing that at once.

Plain text that looks like markup (see escaping.looks_like_markup) is sent as escaped HTML:
`type="html"` in Atom and Media RSS descriptions, HTML-escaped in the RSS channel description
and copyright. RSS titles, which have no declared type, are always the text escaped once by XML
alone, so a reader that shows them as plain text shows exactly the text.

A lead image goes out as an enclosure (RSS `enclosure`, Atom `link rel="enclosure"`) and as
Media RSS (`media:content`, `media:thumbnail`). The `media` prefix is declared on the root of
every document that holds an image, decided from all its entries, never from the ones rendered
just now (see `parts`): a kept entry's bytes rely on the root's declaration.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime
from html import escape
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feeds.model import FeedDocument, FeedInfo, Image
from feeds.text import rfc3339

from .escaping import categories, image_description, image_type, looks_like_markup
from .parts import EntryParts, keep, key

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
FH_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
AT_NS = "http://purl.org/atompub/tombstones/1.0"  # RFC 6721
MEDIA_NS = "http://search.yahoo.com/mrss/"  # Media RSS 1.5.1
RENDER_LOCK = threading.Lock()
# How feedgen's pretty-printed output sets out an entry: the line it starts with and the line
# it ends with (RSS items sit in <channel>, Atom entries in <feed>).
_LINES = {"rss": (b"\n    <item>\n", b"    </item>\n"), "atom": (b"\n  <entry>\n", b"  </entry>\n")}


def _rfc822(moment: datetime) -> str:
    return format_datetime(moment, usegmt=False)


def _rss_text(text: str) -> str:
    return escape(text, quote=False) if looks_like_markup(text) else text


def _atom_text(parent: Any, name: str) -> None:
    """Declare an Atom text construct as HTML when its plain text looks like markup."""
    # feedgen builds Atom children without a namespace; the root's default xmlns covers them.
    element = parent.find(name)
    if element is not None and element.text and looks_like_markup(element.text):
        element.set("type", "html")
        element.text = escape(element.text, quote=False)


def _attributes(element: Any, **values: str | int | None) -> None:
    """Set the attributes that have a value, in the order given."""
    for name, value in values.items():
        if value is not None:
            element.set(name, str(value))


def _media(parent: Any, image: Image, describe: bool) -> None:
    """Media RSS for a lead image: media:content with what is known of it, its description
    and credit inside, then media:thumbnail (the same image: the one size known).

    `describe` is False in summary-only documents: feedparser (and the readers built on it)
    reads a media:description that comes after an entry's summary, in an entry without
    content, as the entry's content, and would show the caption as the article."""
    content = etree.SubElement(parent, f"{{{MEDIA_NS}}}content", url=image.url, medium="image")
    _attributes(
        content,
        type=image_type(image),
        width=image.width,
        height=image.height,
        fileSize=image.length or None,  # a positive integer in Media RSS
    )
    if describe:
        text = image_description(image)
        description = etree.SubElement(content, f"{{{MEDIA_NS}}}description", type="plain")
        if looks_like_markup(text):
            description.set("type", "html")
            text = escape(text, quote=False)
        description.text = text
    if image.credit:
        etree.SubElement(content, f"{{{MEDIA_NS}}}credit").text = image.credit
    thumbnail = etree.SubElement(parent, f"{{{MEDIA_NS}}}thumbnail", url=image.url)
    _attributes(thumbnail, width=image.width, height=image.height)


def _history_links(info: FeedInfo, fmt: str) -> list[tuple[str, str]]:
    """RFC 5005 links: (rel, URL) for the previous and next archives and the current feed."""
    links = []
    for rel, urls in (
        ("current", info.current),
        ("prev-archive", info.prev_archive),
        ("next-archive", info.next_archive),
    ):
        if urls is not None:
            links.append((rel, urls[fmt]))
    return links


class _RssChannel(BaseExtension):  # type: ignore[misc]
    """Channel fields feedgen has no setter for: WebSub hub links and RFC 5005 paging links
    (feedgen drops every atom:link but self in RSS), publisher and fh:archive; the media
    prefix when an entry of the document has an image."""

    info: FeedInfo
    media: bool

    def extend_ns(self) -> dict[str, str]:
        spaces = {"dc": DC_NS, "fh": FH_NS} if self.info.archive else {"dc": DC_NS}
        return spaces | ({"media": MEDIA_NS} if self.media else {})

    def extend_rss(self, rss: Any) -> Any:
        channel = rss[0]
        # W3C WebSub §4: atom:link rel="hub" in the channel, beside the self link.
        at = channel.find(f"{{{ATOM_NS}}}link[@rel='self']")
        for hub in reversed(self.info.hubs):
            at.addnext(etree.Element(f"{{{ATOM_NS}}}link", href=hub, rel="hub"))
        etree.SubElement(channel, f"{{{DC_NS}}}publisher").text = self.info.author
        for rel, url in _history_links(self.info, "rss"):
            etree.SubElement(
                channel, f"{{{ATOM_NS}}}link", href=url, rel=rel, type="application/rss+xml"
            )
        if self.info.archive:
            etree.SubElement(channel, f"{{{FH_NS}}}archive")
        return rss


class _RssItem(BaseEntryExtension):  # type: ignore[misc]
    """Item bylines (dc:creator), dates (pubDate, and atom:updated, which RSS has no element
    for) and the lead image, after everything feedgen writes (see _media)."""

    published: datetime
    updated: datetime
    creators: tuple[str, ...] = ()
    image: Image | None = None
    describe: bool = True

    def extend_rss(self, item: Any) -> Any:
        # RSS <author> must be an e-mail address; names go in dc:creator.
        for name in self.creators:
            etree.SubElement(item, f"{{{DC_NS}}}creator").text = name
        etree.SubElement(item, "pubDate").text = _rfc822(self.published)
        etree.SubElement(item, f"{{{ATOM_NS}}}updated").text = rfc3339(self.updated)
        image = self.image
        if image is not None:
            kind = image_type(image)
            if kind is not None:  # RSS requires an enclosure's type and length
                # The RSS Best Practices Profile: a length that cannot be known is 0.
                length = str(image.length or 0)
                etree.SubElement(item, "enclosure", url=image.url, length=length, type=kind)
            _media(item, image, self.describe)
        return item


class _AtomFeed(BaseExtension):  # type: ignore[misc]
    """fh:archive in archive documents and RFC 6721 tombstones for withdrawn entries; the
    media prefix when an entry of the document has an image."""

    doc: FeedDocument
    media: bool

    def extend_ns(self) -> dict[str, str]:
        spaces = {"fh": FH_NS} if self.doc.info.archive else {}
        spaces |= {"at": AT_NS} if self.doc.tombstones else {}
        return spaces | ({"media": MEDIA_NS} if self.media else {})

    def extend_atom(self, feed: Any) -> Any:
        _atom_text(feed, "title")
        _atom_text(feed, "subtitle")
        _atom_text(feed, "rights")
        if self.doc.info.archive:
            etree.SubElement(feed, f"{{{FH_NS}}}archive")
        for stone in self.doc.tombstones:
            etree.SubElement(
                feed, f"{{{AT_NS}}}deleted-entry", ref=stone.tag, when=rfc3339(stone.when)
            )
        return feed


class _AtomEntry(BaseEntryExtension):  # type: ignore[misc]
    """Titles that look like markup, and the lead image after everything feedgen writes."""

    image: Image | None = None
    describe: bool = True

    def extend_atom(self, entry: Any) -> Any:
        _atom_text(entry, "title")
        image = self.image
        if image is not None:
            kind = image_type(image)
            if kind is not None:  # without a type, feedparser takes it for text/html
                # Unqualified, like feedgen's own children: the root's default xmlns covers them.
                link = etree.SubElement(entry, "link", href=image.url, rel="enclosure")
                _attributes(link, type=kind, length=image.length)
            _media(entry, image, self.describe)
        return entry


def _content_type(html: str, atom: bool) -> str:
    """RSS content:encoded goes out as a CDATA section (the HTML as it is, nothing to escape
    or unescape), unless the HTML holds the one sequence a CDATA section cannot; Atom content
    is escaped HTML."""
    return "html" if atom or "]]>" in html else "CDATA"


def has_images(doc: FeedDocument) -> bool:
    """Whether an entry of `doc` has a lead image (then its root declares the media prefix)."""
    return any(entry.article.lead_image is not None for entry in doc.entries)


def build(doc: FeedDocument, fmt: str, media: bool | None = None) -> Any:
    """A FeedGenerator holding `doc`, for `fmt` 'rss' or 'atom'; `media` says whether the root
    declares the media prefix (by default, whether an entry of `doc` has an image)."""
    info = doc.info
    atom = fmt == "atom"
    fg = FeedGenerator()
    if atom:
        fg.register_extension("feeds", _AtomFeed, _AtomEntry, atom=True, rss=False)
        fg.feeds.doc = doc
    else:
        fg.register_extension("feeds", _RssChannel, _RssItem, atom=False, rss=True)
        fg.feeds.info = info
    fg.feeds.media = has_images(doc) if media is None else media
    fg.id(info.feed_id)
    fg.title(info.title)
    fg.language(info.language)
    fg.generator(info.generator, version=info.generator_version)
    fg.updated(info.updated)
    if info.rights:
        fg.rights(_rss_text(info.rights) if not atom else info.rights)  # RSS copyright
    if atom:
        fg.subtitle(info.description)
        fg.author({"name": info.author})
        fg.link(href=info.urls[fmt], rel="self", type="application/atom+xml")
        fg.link(href=info.home_url, rel="alternate", type="text/html")
        for hub in info.hubs:  # W3C WebSub §4
            fg.link(href=hub, rel="hub")
        for rel, url in _history_links(info, fmt):
            fg.link(href=url, rel=rel, type="application/atom+xml")
    else:
        fg.description(_rss_text(info.description))
        fg.link(href=info.urls[fmt], rel="self", type="application/rss+xml")
        # The channel <link> is whichever link() came last: the home page, not the feed.
        fg.link(href=info.home_url, rel="alternate")
    for entry in doc.entries:
        article = entry.article
        fe = fg.add_entry(order="append")
        fe.id(article.tag)
        fe.link(href=entry.url, rel="alternate", type="text/html")
        if not doc.summary_only:
            fe.content(article.html, type=_content_type(article.html, atom))
        for term in categories(article):
            fe.category(term=term)
        fe.feeds.image = article.lead_image
        fe.feeds.describe = not doc.summary_only
        if atom:
            for name in article.authors:
                fe.author({"name": name})
            fe.title(article.title)
            summary = article.summary
            if looks_like_markup(summary):
                fe.summary(escape(summary, quote=False), type="html")
            else:
                fe.summary(summary, type="text")
            fe.published(article.published)
            fe.updated(article.updated)
        else:
            fe.title(article.title)  # plain text, escaped once by XML alone
            fe.feeds.published = article.published
            fe.feeds.updated = article.updated
            # Every item has a byline (aggregators require one): the site's when the
            # article names no author.
            fe.feeds.creators = article.authors or (info.author,)
            # RSS description is HTML by convention: the plain text is escaped once more.
            fe.description(escape(article.summary, quote=False))
    return fg


class XmlFormat:
    """RSS or Atom: a document serialized by feedgen, cut into parts."""

    NAME: str
    FILENAME: str
    MEDIA_TYPE: str
    LABEL: str

    def serialize(self, doc: FeedDocument, media: bool | None = None) -> bytes:
        """The whole document from feedgen, every entry rendered (what `parts` cuts up);
        `media` as for `build`."""
        raise NotImplementedError

    def parts(self, doc: FeedDocument, kept: EntryParts | None = None) -> list[bytes]:
        """The document in parts (see parts.py); entries found in `kept` are not rendered."""
        return parts(doc, self.NAME, self.serialize, kept)

    def render(self, doc: FeedDocument) -> bytes:
        return b"".join(self.parts(doc))


def parts(
    doc: FeedDocument,
    fmt: str,
    serialize: Callable[[FeedDocument, bool | None], bytes],
    kept: EntryParts | None,
) -> list[bytes]:
    """`doc` in parts (see parts.py), serialized by `serialize` with only the entries not
    found in `kept` (or, when every one is, with the first again: the head and tail are
    cut from around it). The head's namespace declarations are those of the whole `doc`,
    whichever entries were rendered."""
    if not doc.entries:
        return [serialize(doc, None)]
    keys = [key(fmt, doc, entry) for entry in doc.entries]
    cached = [None if kept is None else kept.get(k) for k in keys]
    fresh = [i for i, part in enumerate(cached) if part is None] or [0]
    media = has_images(doc)
    data = serialize(dataclasses.replace(doc, entries=tuple(doc.entries[i] for i in fresh)), media)
    cut = _cut(data, *_LINES[fmt], len(fresh))
    if cut is None:  # some entry's text looks like the start of an entry: left whole
        return [data if len(fresh) == len(doc.entries) else serialize(doc, media)]
    head, rendered, tail = cut
    for i, part in zip(fresh, rendered, strict=True):
        cached[i] = part
        keep(kept, keys[i], part)
    return [head, *(part for part in cached if part is not None), tail]


def _cut(
    data: bytes, start: bytes, end: bytes, count: int
) -> tuple[bytes, list[bytes], bytes] | None:
    """The head, the `count` entries and the tail of a serialized document, or None when
    the lines that start entries are not exactly `count` (text that looks like one)."""
    starts = []
    at = data.find(start)
    while at != -1:
        starts.append(at + 1)
        at = data.find(start, at + 1)
    stop = data.rfind(end) + len(end)
    if len(starts) != count or stop <= starts[-1] + len(start):
        return None
    bounds = [*starts, stop]
    entries = [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    if not all(entry.endswith(end) for entry in entries):
        return None
    return data[: starts[0]], entries, data[stop:]
