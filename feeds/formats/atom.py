"""Atom 1.0 (RFC 4287), with RFC 5005 archives and RFC 6721 tombstones."""

from __future__ import annotations

from feeds.model import FeedDocument

from .xmlfeed import XmlFormat, build


class Atom(XmlFormat):
    NAME = "atom"
    FILENAME = "atom.xml"
    MEDIA_TYPE = "application/atom+xml; charset=utf-8"
    LABEL = "Atom"

    def serialize(self, doc: FeedDocument, media: bool | None = None) -> bytes:
        """The whole document from feedgen, every entry rendered (what `parts` cuts up)."""
        data: bytes = build(doc, self.NAME, media).atom_str(pretty=True, encoding="UTF-8")
        return data
