"""Plain article text to the shapes the formats embed; all escaping lives here."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import escape
from html.entities import name2codepoint

from ..model import Article

_END_TAG = re.compile(r"</\w+>")
_ENTITY = re.compile(r"&(#?\w+)")


def paragraphs_html(paragraphs: tuple[str, ...]) -> str:
    """Plain-text paragraphs as HTML `<p>` elements; `<`, `>` and `&` are text, never markup."""
    return "\n".join(f"<p>{escape(p, quote=False)}</p>" for p in paragraphs)


def article_html(article: Article) -> str:
    """The body as HTML: the sanitised HTML it came with, or its paragraphs."""
    if article.body_html is not None:
        return article.body_html
    return paragraphs_html(article.paragraphs)


def categories(article: Article) -> list[str]:
    """The section first, then the tags."""
    return ([article.section] if article.section else []) + list(article.tags)


def paragraphs_text(paragraphs: tuple[str, ...]) -> str:
    return "\n\n".join(paragraphs)


def looks_like_markup(text: str) -> bool:
    """Plain text that feed validators and readers would take for HTML: an end tag or a
    character reference. Such text goes out as escaped HTML where a format allows it."""
    if _END_TAG.search(text):
        return True
    return any(
        name in name2codepoint or name == "apos" or not name.isalpha()
        for name in _ENTITY.findall(text)
    )


def rfc3339(moment: datetime) -> str:
    """An instant as RFC 3339 in UTC with a 'Z', e.g. 2020-01-04T18:09:00Z (microseconds
    only when there are any)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if utc.microsecond else "%Y-%m-%dT%H:%M:%SZ")
