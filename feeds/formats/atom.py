"""Atom 1.0 (RFC 4287)."""

from __future__ import annotations

from feeds.formats import xmlfeed
from feeds.model import FeedDocument

from .parts import Entries

NAME = "atom"
FILENAME = "atom.xml"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"


def parts(doc: FeedDocument, kept: Entries | None = None) -> list[bytes]:
    """The document in parts (see parts.py); entries found in `kept` are not rendered."""
    return xmlfeed.parts(doc, NAME, serialize, kept)


def render(doc: FeedDocument) -> bytes:
    return b"".join(parts(doc))


def serialize(doc: FeedDocument) -> bytes:
    """The whole document from feedgen, every entry rendered (what `parts` cuts up)."""
    data: bytes = xmlfeed.build(doc, NAME).atom_str(pretty=True, encoding="UTF-8")
    return data
