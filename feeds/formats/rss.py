"""RSS 2.0 with content:encoded, atom:link self and atom:updated per item."""

from __future__ import annotations

from ..model import FeedDocument
from . import xmlfeed

NAME = "rss"
FILENAME = "rss.xml"
MEDIA_TYPE = "application/rss+xml; charset=utf-8"
# Where a document is cut for gzip: before each entry (see compression.py).
PIECE = b"<item>"


def render(doc: FeedDocument) -> bytes:
    generator = xmlfeed.build(doc, NAME)
    with xmlfeed.RENDER_LOCK:
        data: bytes = generator.rss_str(pretty=True, encoding="UTF-8")
    # RSS Best Practices Profile: '&' and '<' in character data as hexadecimal references,
    # which tells validators and readers the text was escaped on purpose. Same XML infoset.
    return data.replace(b"&lt;", b"&#x3C;").replace(b"&amp;", b"&#x26;")
