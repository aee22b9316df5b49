"""The only module that touches feedgen: builds a FeedGenerator for RSS 2.0 or Atom 1.0.

Handles feedgen's quirks in one place: feed times are always set from the data (never the
current time), entries are appended in order, the RSS channel link is the home page, RSS dates
are formatted here, and RSS items get `atom:updated` through a small extension.

feedgen formats the channel's lastBuildDate by switching the process-wide locale around
strftime; RENDER_LOCK keeps two threads from doing that at once.
"""

from __future__ import annotations

import threading
from datetime import datetime
from email.utils import format_datetime
from html import escape
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from ..model import FeedDocument
from .text import paragraphs_html, rfc3339

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"


RENDER_LOCK = threading.Lock()


def _rfc822(moment: datetime) -> str:
    return format_datetime(moment, usegmt=False)


class _Channel(BaseExtension):  # type: ignore[misc]
    """RSS channel fields feedgen would fill with the current time or lose."""

    build_date: datetime
    publisher: str

    def extend_ns(self) -> dict[str, str]:
        return {"dc": DC_NS}

    def extend_rss(self, rss: Any) -> Any:
        channel = rss[0]
        channel.find("lastBuildDate").text = _rfc822(self.build_date)
        etree.SubElement(channel, f"{{{DC_NS}}}publisher").text = self.publisher
        return rss


class _Item(BaseEntryExtension):  # type: ignore[misc]
    """RSS item dates: pubDate, and atom:updated, which RSS itself has no element for."""

    published: datetime
    updated: datetime

    def extend_rss(self, item: Any) -> Any:
        etree.SubElement(item, "pubDate").text = _rfc822(self.published)
        etree.SubElement(item, f"{{{ATOM_NS}}}updated").text = rfc3339(self.updated)
        return item


def build(doc: FeedDocument, fmt: str) -> Any:
    """A FeedGenerator holding `doc`, for `fmt` 'rss' or 'atom'."""
    info = doc.info
    fg = FeedGenerator()
    fg.id(info.feed_id)
    fg.title(info.title)
    fg.language(info.language)
    fg.generator(info.generator, version=info.generator_version)
    fg.updated(info.updated)
    if fmt == "atom":
        fg.subtitle(info.description)
        fg.author({"name": info.author})
        fg.link(href=info.urls[fmt], rel="self", type="application/atom+xml")
        fg.link(href=info.home_url, rel="alternate", type="text/html")
    else:
        fg.description(info.description)
        fg.register_extension("feeds_channel", _Channel, _Item, atom=False, rss=True)
        fg.feeds_channel.build_date = info.updated
        fg.feeds_channel.publisher = info.author
        fg.link(href=info.urls[fmt], rel="self", type="application/rss+xml")
        # The channel <link> is whichever link() came last: the home page, not the feed.
        fg.link(href=info.home_url, rel="alternate")
    for entry in doc.entries:
        article = entry.article
        fe = fg.add_entry(order="append")
        fe.id(article.tag)
        fe.title(article.title)
        fe.link(href=entry.url, rel="alternate", type="text/html")
        fe.content(paragraphs_html(article.paragraphs), type="html")
        if fmt == "atom":
            fe.summary(article.summary, type="text")
            fe.published(article.published)
            fe.updated(article.updated)
        else:
            # RSS description is HTML by convention: escape the plain text once more.
            fe.description(escape(article.summary, quote=False))
            fe.feeds_channel.published = article.published
            fe.feeds_channel.updated = article.updated
    return fg
