"""Articles as JSON for the publishing API: validate a request body into a ParsedArticle, and
show a stored article.

`parse(body, article_id, ...)` raises InvalidFields listing every bad field and why.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from feeds.errors import InvalidFields
from feeds.model import Article, ParsedArticle
from feeds.text import ID_PATTERN, clean_line, drop_forbidden, paragraphs_text, rfc3339, slug

from . import imagejson, limits
from .sanitize import sanitize, text_blocks
from .textfile import EARLIEST, LATEST, MAX_ARTICLE_BYTES, UPDATED_SLACK

FIELDS = {"title", "published", "updated", "section", "authors", "tags", "text", "html", "image"}
# RFC 3339 date-time; the offset may be left out (then FEEDS_TIMEZONE's wall clock is meant).
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"(Z|z|[+-]\d{2}:\d{2})?\Z",
    re.ASCII,
)


def _moment(value: object, zone: ZoneInfo) -> datetime:
    if not isinstance(value, str) or not (m := _DATETIME.match(value)):
        raise ValueError("must be an RFC 3339 date-time such as 2020-01-04T18:09:00Z")
    year, month, day, hour, minute, second = (int(g or 0) for g in m.groups()[:6])
    offset = m.group(7)
    if offset is None:  # wall-clock time, read like the text layout (PEP 495 fold=0)
        moment = datetime(year, month, day, hour, minute, second, tzinfo=zone, fold=0)
    else:
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00").replace(" ", "T"))
    try:
        return moment.astimezone(UTC).replace(microsecond=0)
    except OverflowError as e:  # year 1 or 9999, moved out of the calendar by its offset
        raise ValueError("is outside the years 1 to 9999 once read in UTC; check the year") from e


def _names(value: object, field: str, most: int, errors: list[dict[str, str]]) -> tuple[str, ...]:
    """The names of a list field, cleaned, a name given twice kept once."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and clean_line(v) for v in value):
        errors.append({"field": field, "detail": "must be a list of non-empty strings"})
        return ()
    names = tuple(dict.fromkeys(clean_line(v) for v in value))
    problem = limits.names(names, most, field)
    if problem:
        errors.append({"field": field, "detail": problem})
        return ()
    return names


def _one_feed_each(authors: tuple[str, ...], errors: list[dict[str, str]]) -> None:
    """Two authors of one article whose names differ only in case, accents or punctuation
    would share one author feed: refused, since only the newsroom knows which spelling is
    right (names given twice, exactly alike, are one author)."""
    seen: dict[str, str] = {}
    for name in authors:
        other = seen.setdefault(slug(name), name)
        if other != name:
            errors.append(
                {
                    "field": "authors",
                    "detail": f"two authors with the same name: {other!r} and {name!r} "
                    f"would share the feed /feeds/authors/{slug(name)}/; give each author "
                    "once, spelt one way",
                }
            )
            return


def _body(
    body: dict[str, Any], base_url: str, errors: list[dict[str, str]]
) -> tuple[tuple[str, ...], str | None]:
    text, html = body.get("text"), body.get("html")
    for field, value in (("text", text), ("html", html)):
        if isinstance(value, str) and len(value.encode("utf-8", "replace")) > MAX_ARTICLE_BYTES:
            errors.append(
                {"field": field, "detail": f"is larger than {MAX_ARTICLE_BYTES // 1024} KiB"}
            )
            return (), None
    if (text is None) == (html is None):
        errors.append({"field": "text", "detail": "give the body as exactly one of text or html"})
        return (), None
    if text is not None:
        if not isinstance(text, str):
            errors.append({"field": "text", "detail": "must be a string"})
            return (), None
        paragraphs = tuple(p for p in (clean_line(line) for line in text.split("\n")) if p)
        if not paragraphs:
            errors.append({"field": "text", "detail": "needs at least one paragraph"})
        elif problem := limits.body(paragraphs):
            errors.append({"field": "text", "detail": problem})
        return paragraphs, None
    if not isinstance(html, str):
        errors.append({"field": "html", "detail": "must be a string"})
        return (), None
    cleaned = sanitize(drop_forbidden(html), base_url)
    blocks = text_blocks(cleaned)
    if not blocks:
        errors.append({"field": "html", "detail": "has no text once sanitised"})
    elif problem := limits.body(blocks, cleaned):
        errors.append({"field": "html", "detail": problem})
    return blocks, cleaned


def parse(
    body: object, article_id: str, zone: ZoneInfo, base_url: str, now: datetime
) -> ParsedArticle:
    """A validated article from a decoded JSON body; raises InvalidFields."""
    if not isinstance(body, dict):
        raise InvalidFields([{"field": "(body)", "detail": "must be a JSON object"}])
    errors = [
        {"field": k, "detail": "is not a field of an article"} for k in sorted(set(body) - FIELDS)
    ]
    if not ID_PATTERN.match(article_id) or len(article_id) > limits.MAX_ID_LENGTH:
        errors.append(
            {
                "field": "(id)",
                "detail": f"at most {limits.MAX_ID_LENGTH} letters, digits, '.', '_', '~' or '-'",
            }
        )
    title = body.get("title")
    if not isinstance(title, str) or not clean_line(title):
        errors.append({"field": "title", "detail": "is required: a non-empty string"})
    elif problem := limits.title(clean_line(title)):
        errors.append({"field": "title", "detail": problem})
    times: dict[str, datetime] = {}
    for field in ("published", "updated"):
        if field == "updated" and body.get(field) is None:
            continue
        try:
            times[field] = _moment(body.get(field), zone)
        except ValueError as e:
            errors.append(
                {"field": field, "detail": str(e) if body.get(field) is not None else "is required"}
            )
    published = times.get("published")
    updated = times.get("updated", published)
    if published is not None and published < EARLIEST:
        errors.append({"field": "published", "detail": "is before 1990"})
    if published is not None and published >= LATEST:
        errors.append({"field": "published", "detail": "is after the year 8999"})
        published = None
    if updated is not None and updated >= LATEST:
        errors.append({"field": "updated", "detail": "is after the year 8999"})
        updated = None
    if published is not None and updated is not None:
        if updated < published:
            errors.append({"field": "updated", "detail": "is before published"})
        elif updated > max(now, published + UPDATED_SLACK):
            errors.append({"field": "updated", "detail": "is in the future"})
    section = body.get("section")
    if section is not None and (not isinstance(section, str) or not ID_PATTERN.match(section)):
        errors.append(
            {"field": "section", "detail": "must be a name of letters, digits, '.', '_', '~', '-'"}
        )
    elif section is not None and (problem := limits.identifier(section, "a section's name")):
        errors.append({"field": "section", "detail": problem})
    authors = _names(body.get("authors"), "authors", limits.MAX_AUTHORS, errors)
    _one_feed_each(authors, errors)
    tags = _names(body.get("tags"), "tags", limits.MAX_TAGS, errors)
    paragraphs, html = _body(body, base_url, errors)
    image = imagejson.parse(body.get("image"), base_url, errors)
    if errors:
        raise InvalidFields(errors)
    assert isinstance(title, str) and published is not None and updated is not None
    return ParsedArticle(
        id=article_id,
        title=clean_line(title),
        published=published,
        updated=updated,
        paragraphs=paragraphs,
        section=section,
        authors=authors,
        tags=tags,
        body_html=html,
        image=image,
        source=json.dumps(body, sort_keys=True),
    )


def show(article: Article, url: str) -> dict[str, Any]:
    """The API's representation of a stored article."""
    shown: dict[str, Any] = {
        "id": article.id,
        "url": url,
        "tag": article.tag,
        "title": article.title,
        "published": rfc3339(article.published),
        "updated": rfc3339(article.updated),
        "section": article.section,
        "authors": list(article.authors),
        "tags": list(article.tags),
        "revision": article.revision,
    }
    if article.image is not None:  # given with the article; one found in the body is not
        shown["image"] = article.image.as_json()
    if article.body_html is not None:
        shown["html"] = article.html
    else:
        shown["text"] = paragraphs_text(article.paragraphs)
    return shown
