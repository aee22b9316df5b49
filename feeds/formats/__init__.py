"""Feed formats: pure functions from a FeedDocument to bytes, keyed by name.

Each format module exposes NAME, FILENAME (the last part of its URL), MEDIA_TYPE,
`parts(doc, kept) -> list[bytes]` (the document in parts, rendering only the entries not
found in `kept`: see parts.py) and `render(doc) -> bytes` (the parts joined). None of them
sees a request.
"""

from __future__ import annotations

from types import ModuleType

from . import atom, jsonfeed, rss

FORMATS: dict[str, ModuleType] = {m.NAME: m for m in (rss, atom, jsonfeed)}
BY_FILENAME: dict[str, ModuleType] = {m.FILENAME: m for m in FORMATS.values()}
