"""What the formats embed beyond the model: categories, and whether plain text would be taken
for markup (then it goes out as escaped HTML where the format can say so)."""

from __future__ import annotations

import re
from html.entities import name2codepoint

from feeds.model import Article

_END_TAG = re.compile(r"</\w+>")
_ENTITY = re.compile(r"&(#?\w+)")


def categories(article: Article) -> list[str]:
    """The section first, then the tags."""
    return ([article.section] if article.section else []) + list(article.tags)


def looks_like_markup(text: str) -> bool:
    """Plain text that feed validators and readers would take for HTML: an end tag or a
    character reference. Such text goes out as escaped HTML where a format allows it."""
    if _END_TAG.search(text):
        return True
    return any(
        name in name2codepoint or name == "apos" or not name.isalpha()
        for name in _ENTITY.findall(text)
    )
