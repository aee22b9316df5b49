"""The largest article the service takes, from a file or through the API, in one place: every
field is bounded, so a feed of FEEDS_PAGE_SIZE entries is bounded in bytes whatever they hold.

Each check returns what is wrong, as a phrase that completes "the title ..." (a file's
message) or stands as an API field's detail, or None when the value fits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape

from feeds.text import MAX_IMAGE_ALT, MAX_IMAGE_URL, paragraphs_html, paragraphs_text

MAX_ID_LENGTH = 200  # characters of an id, or of a section's name
MAX_TITLE_LENGTH = 300  # characters, once white space is folded
MAX_AUTHORS = 20
MAX_TAGS = 30
MAX_NAME_LENGTH = 100  # characters of an author's name or a tag
# A lead image's fields: its URL once absolute and percent-encoded, its texts once white
# space is folded (the URL's and alt text's bounds are feeds.text's: a lead image found in an
# HTML body keeps them too), and its size in bytes.
MAX_IMAGE_URL_LENGTH = MAX_IMAGE_URL
MAX_ALT_LENGTH = MAX_IMAGE_ALT
MAX_CAPTION_LENGTH = 1000
MAX_CREDIT_LENGTH = 200
MAX_IMAGE_BYTES = 1_000_000_000
# Bytes the body takes in the largest form a feed gives it: its HTML (sanitised, or made of
# the text's paragraphs) escaped once more for XML (Atom `content`, and RSS `content:encoded`
# when CDATA cannot hold it), or its HTML and its text as JSON strings (JSON Feed
# `content_html` and `content_text`).
MAX_BODY_BYTES = 128 * 1024
# The most one entry of a feed takes, in any format, every field at its limit and made of the
# characters escaping widens most, its lead image's too (tests/unit/test_limits.py renders
# such entries; Atom's is the largest, 198 KiB): a feed document is at most FEEDS_PAGE_SIZE
# (or FEEDS_ARCHIVE_SIZE) times this, and its head.
MAX_ENTRY_BYTES = 200 * 1024
# How many bytes one byte of text can become, at most, in those forms: `&` is `&amp;amp;` in
# Atom; in JSON Feed, `&amp;` in the HTML and `&` in the text (a JSON escape takes 2).
_WIDEST = 9
_PER_PARAGRAPH = 24  # the most that a paragraph's tags and separators add


def _thousands(number: int) -> str:
    return f"{number:,}"


def length(value: str, most: int, what: str) -> str | None:
    """Whether `value` (a `what`) has at most `most` characters."""
    if len(value) <= most:
        return None
    return (
        f"is {_thousands(len(value))} characters long, more than the {_thousands(most)} "
        f"{what} may have; shorten it"
    )


def number(value: int, most: int, unit: str) -> str | None:
    """Whether a whole number of `unit` (pixels, bytes) is at least 1 and at most `most`."""
    if 0 < value <= most:
        return None
    # A number of more than about 20 digits is not echoed: it would fill the answer.
    if value <= 0:
        shown = "too small:" if value.bit_length() > 64 else f"{value}:"
        return f"is {shown} give a positive whole number of {unit}"
    if value.bit_length() > 64:
        return f"is too large: at most {_thousands(most)} {unit}"
    return f"is {_thousands(value)}, more than the {_thousands(most)} {unit} it may be"


def title(value: str) -> str | None:
    return length(value, MAX_TITLE_LENGTH, "a title")


def identifier(value: str, what: str) -> str | None:
    return length(value, MAX_ID_LENGTH, what)


def names(values: Sequence[str], most: int, what: str) -> str | None:
    """Whether a list of `what` (authors, tags) has at most `most` items, each of at most
    MAX_NAME_LENGTH characters."""
    if len(values) > most:
        return f"has {_thousands(len(values))} {what}, more than the {most} an article may have"
    longest = max(values, key=len, default="")
    if len(longest) > MAX_NAME_LENGTH:
        return (
            f"has a name of {_thousands(len(longest))} characters ({longest[:40]!r}...), "
            f"more than the {MAX_NAME_LENGTH} one may have; shorten it"
        )
    return None


def body_bytes(paragraphs: Sequence[str], html: str | None) -> int:
    """Bytes the body takes in its largest form in a feed (see MAX_BODY_BYTES)."""
    html = paragraphs_html(tuple(paragraphs)) if html is None else html
    atom = len(escape(html, quote=False).encode())
    text = paragraphs_text(tuple(paragraphs))
    as_json = len(json.dumps(html, ensure_ascii=False).encode())
    as_json += len(json.dumps(text, ensure_ascii=False).encode())
    return max(atom, as_json)


def body(paragraphs: Sequence[str], html: str | None = None) -> str | None:
    """Whether the body (its paragraphs, and its HTML when it came as HTML) fits in
    MAX_BODY_BYTES in every form a feed gives it."""
    plain = sum(len(p.encode()) for p in paragraphs) + (len(html.encode()) if html else 0)
    if _WIDEST * plain + _PER_PARAGRAPH * (len(paragraphs) + 1) <= MAX_BODY_BYTES:
        return None  # most bodies: no form can reach the limit
    size = body_bytes(paragraphs, html)
    if size <= MAX_BODY_BYTES:
        return None
    return (
        f"takes {_thousands(size)} bytes in a feed once escaped, more than the "
        f"{_thousands(MAX_BODY_BYTES)} ({MAX_BODY_BYTES // 1024} KiB) a body may take; "
        "shorten it or split it into parts"
    )
