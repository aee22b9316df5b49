"""JSON Feed 1.1 (https://jsonfeed.org/version/1.1), written by the project."""

from __future__ import annotations

import json
from typing import Any

from feeds.model import Entry, FeedDocument, Image
from feeds.text import paragraphs_text, rfc3339

from .escaping import categories, image_type
from .parts import EntryParts, keep, key

NAME = "json"
VERSION = "https://jsonfeed.org/version/1.1"


def _attachments(image: Image | None) -> dict[str, Any]:
    """The lead image as an attachment, when its size and type are known: JSON Feed
    requires an attachment's mime_type, and its size is what a reader weighs before
    fetching it."""
    kind = None if image is None else image_type(image)
    if image is None or not image.length or kind is None:
        return {}
    return {"attachments": [{"url": image.url, "mime_type": kind, "size_in_bytes": image.length}]}


def _item(entry: Entry, summary_only: bool) -> dict[str, Any]:
    article = entry.article
    image = article.lead_image
    if summary_only:
        content = {"content_text": article.summary}
    else:
        content = {
            "content_html": article.html,
            "content_text": paragraphs_text(article.paragraphs),
        }
    return {
        "id": article.tag,
        "url": entry.url,
        "title": article.title,
        "summary": article.summary,
        **content,
        **({"image": image.url} if image is not None else {}),
        "date_published": rfc3339(article.published),
        "date_modified": rfc3339(article.updated),
        **({"authors": [{"name": n} for n in article.authors]} if article.authors else {}),
        **({"tags": categories(article)} if categories(article) else {}),
        **_attachments(image),
    }


class JsonFeed:
    NAME = "json"
    FILENAME = "feed.json"
    MEDIA_TYPE = "application/feed+json; charset=utf-8"
    LABEL = "JSON Feed"

    def parts(self, doc: FeedDocument, kept: EntryParts | None = None) -> list[bytes]:
        """The document in parts (see parts.py); entries found in `kept` are not rendered."""
        return parts(doc, kept)

    def render(self, doc: FeedDocument) -> bytes:
        return b"".join(parts(doc))


def parts(doc: FeedDocument, kept: EntryParts | None = None) -> list[bytes]:
    """The document in parts (see parts.py), laid out as json.dumps(indent=2) lays out the
    whole; entries found in `kept` are not rendered. An entry's part begins with what
    separates it from the one before, so the first entry of a document has its own."""
    info = doc.info
    before: dict[str, Any] = {
        "version": VERSION,
        "title": info.title,
        "home_page_url": info.home_url,
        "feed_url": info.urls[NAME],
        "description": info.description,
        "language": info.language,
        "authors": [{"name": info.author}],
    }
    if info.hubs:  # JSON Feed 1.1: endpoints for real-time notifications (WebSub)
        before["hubs"] = [{"type": "WebSub", "url": hub} for hub in info.hubs]
    after: dict[str, Any] = {}
    if info.rights:  # an extension (JSON Feed 1.1 §4): names start with an underscore
        after["_rights"] = {
            "about": "https://jsonfeed.org/version/1.1#extensions",
            "statement": info.rights,
        }
    if info.prev_archive is not None:  # paging: each document leads to the next older one
        after["next_url"] = info.prev_archive[NAME]
    head = "{\n" + "".join(_member(name, value) + ",\n" for name, value in before.items())
    entries = []
    for number, entry in enumerate(doc.entries):
        entry_key = key(NAME, doc, entry, first=number == 0)
        part = None if kept is None else kept.get(entry_key)
        if part is None:
            item = _dumps(_item(entry, doc.summary_only)).replace("\n", "\n    ")
            part = (",\n    " if number else "\n    ").encode() + item.encode()
            keep(kept, entry_key, part)
        entries.append(part)
    tail = ("\n  ]" if entries else "]") + "".join(
        ",\n" + _member(name, value) for name, value in after.items()
    )
    return [(head + '  "items": [').encode(), *entries, (tail + "\n}\n").encode()]


def _dumps(value: Any) -> str:
    # json.dumps never writes a line break inside a string, so re-indenting by line is exact.
    return json.dumps(value, ensure_ascii=False, indent=2)


def _member(name: str, value: Any) -> str:
    return f"  {_dumps(name)}: " + _dumps(value).replace("\n", "\n  ")
