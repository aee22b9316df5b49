"""Plain article text to the shapes the formats embed; all escaping lives here."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape


def paragraphs_html(paragraphs: tuple[str, ...]) -> str:
    """Plain-text paragraphs as HTML `<p>` elements; `<`, `>` and `&` are text, never markup."""
    return "\n".join(f"<p>{escape(p, quote=False)}</p>" for p in paragraphs)


def paragraphs_text(paragraphs: tuple[str, ...]) -> str:
    return "\n\n".join(paragraphs)


def rfc3339(moment: datetime) -> str:
    """An instant as RFC 3339 in UTC with a 'Z', e.g. 2020-01-04T18:09:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
