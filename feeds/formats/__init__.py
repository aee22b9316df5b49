"""Feed formats: pure functions from a FeedDocument to bytes, keyed by name.

Each format renders a document in parts (a head, one part per entry, a tail: see parts.py),
rendering only the entries not found in `kept`; the parts joined are the document's bytes.
None of them sees a request. Only xmlfeed.py touches feedgen and lxml.
"""

from __future__ import annotations

from typing import Protocol

from feeds.model import FeedDocument

from .atom import Atom
from .jsonfeed import JsonFeed
from .parts import EntryParts
from .rss import Rss


class Format(Protocol):
    NAME: str  # as in FORMATS and the routes' documentation
    FILENAME: str  # the last part of its documents' URLs
    MEDIA_TYPE: str
    LABEL: str  # as people name it: "RSS", "Atom", "JSON Feed"

    def parts(self, doc: FeedDocument, kept: EntryParts | None = None) -> list[bytes]:
        """The document in parts; entries found in `kept` are not rendered again."""
        ...

    def render(self, doc: FeedDocument) -> bytes:
        """The whole document."""
        ...


FORMATS: dict[str, Format] = {f.NAME: f for f in (Rss(), Atom(), JsonFeed())}
BY_FILENAME: dict[str, Format] = {f.FILENAME: f for f in FORMATS.values()}

__all__ = ["BY_FILENAME", "FORMATS", "EntryParts", "Format"]
