"""RSS 2.0 with content:encoded, atom:link self and atom:updated per item."""

from __future__ import annotations

from ..model import FeedDocument
from . import xmlfeed

NAME = "rss"
FILENAME = "rss.xml"
MEDIA_TYPE = "application/rss+xml; charset=utf-8"


def render(doc: FeedDocument) -> bytes:
    generator = xmlfeed.build(doc, NAME)
    with xmlfeed.RENDER_LOCK:
        data: bytes = generator.rss_str(pretty=True, encoding="UTF-8")
    return data
