"""Text rules every input and output shares: ids, forbidden characters, white space, author
slugs, RFC 3339 instants, and paragraphs as HTML or plain text."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from html import escape

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]*$")

# Dropped: what XML 1.0 §2.2 forbids (C0 controls, U+FFFE, U+FFFF), what it discourages and
# feed validators reject (DEL and the C1 controls, in UTF-8 text only ever the debris of a
# wrong decoding), U+FFFD, the mark such a decoding left, and the Unicode noncharacters,
# which HTML parsers reject. Everything else is kept.
_NONCHARACTERS = "".join(
    chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17)
)
XML_FORBIDDEN = re.compile(
    f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffd{_NONCHARACTERS}]"
)
# A run of white space (but NBSP) that is not already one plain space: folded to one space.
_SPACES = re.compile(r"[^\S\u00a0 ][^\S\u00a0]*| [^\S\u00a0]+")


def drop_forbidden(text: str) -> str:
    """Drop the characters XML forbids and validators reject (see XML_FORBIDDEN)."""
    return XML_FORBIDDEN.sub("", text)


def fold_spaces(line: str) -> str:
    """Fold each run of white space into one plain space and trim both ends."""
    return _SPACES.sub(" ", line).strip(" \u00a0")


def clean_line(line: str) -> str:
    """Drop characters XML forbids, fold runs of white space, trim both ends."""
    return fold_spaces(drop_forbidden(line))


def slug(name: str) -> str:
    """A URL-safe name for an author: 'Zoë O'Brien' -> 'zoe-o-brien'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    made = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return made or "author-" + hashlib.sha256(name.encode()).hexdigest()[:12]


def rfc3339(moment: datetime) -> str:
    """An instant as RFC 3339 in UTC with a 'Z', e.g. 2020-01-04T18:09:00Z (microseconds
    only when there are any)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if utc.microsecond else "%Y-%m-%dT%H:%M:%SZ")


def paragraphs_html(paragraphs: tuple[str, ...]) -> str:
    """Plain-text paragraphs as HTML `<p>` elements; `<`, `>` and `&` are text, never markup."""
    return "\n".join(f"<p>{escape(p, quote=False)}</p>" for p in paragraphs)


def paragraphs_text(paragraphs: tuple[str, ...]) -> str:
    """Paragraphs as plain text, a blank line between each two."""
    return "\n\n".join(paragraphs)
