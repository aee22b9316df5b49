"""Atom 1.0 (RFC 4287)."""

from __future__ import annotations

from ..model import FeedDocument
from . import xmlfeed

NAME = "atom"
FILENAME = "atom.xml"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
# Where a document is cut for gzip: before each entry (see compression.py).
PIECE = b"<entry>"


def render(doc: FeedDocument) -> bytes:
    data: bytes = xmlfeed.build(doc, NAME).atom_str(pretty=True, encoding="UTF-8")
    return data
