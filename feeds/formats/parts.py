"""Documents in parts: a head, one part per entry, a tail; joined, the document's bytes.

An entry's part depends on nothing but the entry (its article and URL), the format, whether
the document carries full text and (in JSON Feed, for the separator before it) whether it
comes first, so a part rendered for one document serves every document that shows the same
entry, until the article changes. Cached parts are found by `key`; a part is the same bytes
whether it was kept or rendered just now.
"""

from __future__ import annotations

from datetime import datetime

from feeds.lru import ByteLRU
from feeds.model import Entry, FeedDocument

# format, summary only, first in its document, URL, article id, revision, modified: an
# article's (id, revision, modified) changes with everything stored about it.
EntryKey = tuple[str, bool, bool, str, str, int, datetime]
EntryParts = ByteLRU[EntryKey, bytes]
_OVERHEAD = 300  # bytes a kept part costs besides its contents


def key(fmt: str, doc: FeedDocument, entry: Entry, first: bool = False) -> EntryKey:
    article = entry.article
    return (fmt, doc.summary_only, first, entry.url, article.id, article.revision, article.modified)


def keep(kept: EntryParts | None, entry_key: EntryKey, part: bytes) -> None:
    if kept is not None:
        kept.put(entry_key, part, len(part) + _OVERHEAD)
