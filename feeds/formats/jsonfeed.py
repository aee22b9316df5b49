"""JSON Feed 1.1 (https://jsonfeed.org/version/1.1), written by the project."""

from __future__ import annotations

import json
from typing import Any

from ..model import Entry, FeedDocument
from .text import categories, paragraphs_text, rfc3339

NAME = "json"
FILENAME = "feed.json"
MEDIA_TYPE = "application/feed+json; charset=utf-8"
# Where a document is cut for gzip: before each entry (see compression.py).
PIECE = b'    {\n      "id": '
VERSION = "https://jsonfeed.org/version/1.1"


def _item(entry: Entry, summary_only: bool) -> dict[str, Any]:
    article = entry.article
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
        "date_published": rfc3339(article.published),
        "date_modified": rfc3339(article.updated),
        **({"authors": [{"name": n} for n in article.authors]} if article.authors else {}),
        **({"tags": categories(article)} if categories(article) else {}),
    }


def render(doc: FeedDocument) -> bytes:
    info = doc.info
    feed: dict[str, Any] = {
        "version": VERSION,
        "title": info.title,
        "home_page_url": info.home_url,
        "feed_url": info.urls[NAME],
        "description": info.description,
        "language": info.language,
        "authors": [{"name": info.author}],
        "items": [_item(e, doc.summary_only) for e in doc.entries],
    }
    if info.rights:  # an extension (JSON Feed 1.1 §4): names start with an underscore
        feed["_rights"] = {
            "about": "https://jsonfeed.org/version/1.1#extensions",
            "statement": info.rights,
        }
    if info.prev_archive is not None:  # paging: each document leads to the next older one
        feed["next_url"] = info.prev_archive[NAME]
    return json.dumps(feed, ensure_ascii=False, indent=2).encode() + b"\n"
