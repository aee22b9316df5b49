"""What the formats embed beyond the model: categories, the type and description of a lead
image, and whether plain text would be taken for markup (then it goes out as escaped HTML
where the format can say so)."""

from __future__ import annotations

import re
from html.entities import name2codepoint
from urllib.parse import urlsplit

from feeds.model import Article, Image

_END_TAG = re.compile(r"</\w+>")
_ENTITY = re.compile(r"&(#?\w+)")


def categories(article: Article) -> list[str]:
    """The section first, then the tags."""
    return ([article.section] if article.section else []) + list(article.tags)


# The image types a URL's extension names without doubt, for images whose type was not given
# (a lead image found in an HTML body never has one). A fixed table, not the mimetypes
# module, whose answers depend on the machine's own files.
_IMAGE_TYPES = {
    "avif": "image/avif",
    "gif": "image/gif",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "png": "image/png",
    "svg": "image/svg+xml",
    "webp": "image/webp",
}


def image_type(image: Image) -> str | None:
    """The image's MIME type: as given, else as its URL's extension names it, else None."""
    if image.type is not None:
        return image.type
    name = urlsplit(image.url).path.rsplit("/", 1)[-1].lower()
    _, dot, extension = name.rpartition(".")
    return _IMAGE_TYPES.get(extension) if dot else None


def image_description(image: Image) -> str:
    """What Media RSS media:description says of an image: its caption, which readers show
    beside it, or failing that its alt text, which says what it shows."""
    return image.caption or image.alt


def looks_like_markup(text: str) -> bool:
    """Plain text that feed validators and readers would take for HTML: an end tag or a
    character reference. Such text goes out as escaped HTML where a format allows it."""
    if _END_TAG.search(text):
        return True
    return any(
        name in name2codepoint or name == "apos" or not name.isalpha()
        for name in _ENTITY.findall(text)
    )
