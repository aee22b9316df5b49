"""The statements behind documents, each built once for each shape of what it is asked.

Building a statement and working out its compiled form's cache key costs several times what
SQLite takes to answer it, so statements are built once for each `Shape` (which filters
apply) and take their values as parameters.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from feeds.model import Article, Head

from .schema import article_authors, articles, departures, meta


def article_of(row: Any) -> Article:
    return Article(
        id=row.id,
        tag=row.tag,
        title=row.title,
        published=row.published,
        updated=row.updated,
        paragraphs=tuple(json.loads(row.paragraphs)),
        section=row.section,
        revision=row.revision,
        modified=row.modified,
        withdrawn=row.withdrawn,
        authors=tuple(json.loads(row.authors)),
        tags=tuple(json.loads(row.tags)),
        body_html=row.body_html,
    )


ARTICLE_COLUMNS = [
    articles.c[n]
    for n in (
        "id",
        "tag",
        "title",
        "published",
        "updated",
        "paragraphs",
        "section",
        "revision",
        "modified",
        "withdrawn",
        "authors",
        "tags",
        "body_html",
    )
]
HEAD_COLUMNS = [articles.c[n] for n in ("id", "revision", "published", "modified")]


@dataclass(frozen=True)
class Scope:
    """The articles a document draws from, as visible at `now`: one section (None: all), or
    one author's (by slug), or those of a set of sections (a partner's)."""

    section: str | None
    now: datetime
    author: str | None = None
    sections: tuple[str, ...] | None = None

    @property
    def shape(self) -> Shape:
        return Shape(self.section is not None, self.sections is not None, self.author is not None)

    def params(self) -> dict[str, Any]:
        """Values for the parameters of the statements of its shape."""
        values: dict[str, Any] = {"now": self.now}
        if self.section is not None:
            values["section"] = self.section
        if self.sections is not None:
            values["sections"] = list(self.sections)
        if self.author is not None:
            values["author"] = self.author
        return values


@dataclass(frozen=True)
class Shape:
    """Which filters a Scope sets: a section, a set of sections, an author."""

    section: bool
    sections: bool
    author: bool


def _in_scope(shape: Shape) -> list[sa.ColumnElement[bool]]:
    """Parameters: section, sections, author (those the shape has)."""
    clauses = []
    if shape.section:
        clauses.append(articles.c.section == sa.bindparam("section"))
    if shape.sections:
        clauses.append(articles.c.section.in_(sa.bindparam("sections", expanding=True)))
    if shape.author:
        by_author = sa.select(article_authors.c.article_id).where(
            article_authors.c.slug == sa.bindparam("author")
        )
        clauses.append(articles.c.id.in_(by_author))
    return clauses


def _visible(shape: Shape) -> list[sa.ColumnElement[bool]]:
    """Parameters: now, and those of _in_scope."""
    # Withdrawn articles and those under embargo (published later than now) are invisible.
    now: sa.BindParameter[datetime] = sa.bindparam("now")
    return [articles.c.withdrawn.is_(None), articles.c.published <= now, *_in_scope(shape)]


def _archived(shape: Shape, bounded: bool) -> list[sa.ColumnElement[bool]]:
    """Visible, and after the boundary (parameters b_published, b_id) in newest-first order
    (published descending, then id) when `bounded`."""
    clauses = _visible(shape)
    if bounded:
        published: sa.BindParameter[datetime] = sa.bindparam("b_published")
        clauses.append(
            sa.or_(
                articles.c.published < published,
                sa.and_(articles.c.published == published, articles.c.id > sa.bindparam("b_id")),
            )
        )
    return clauses


def _within() -> list[sa.ColumnElement[bool]]:
    """Parameters: start, end."""
    return [
        articles.c.published >= sa.bindparam("start"),
        articles.c.published < sa.bindparam("end"),
    ]


def boundary_params(boundary: Head | None) -> dict[str, Any]:
    return {} if boundary is None else {"b_published": boundary.published, "b_id": boundary.id}


@functools.cache
def newest_heads(shape: Shape) -> sa.Select[Any]:
    return (
        sa.select(*HEAD_COLUMNS)
        .where(*_visible(shape))
        .order_by(articles.c.published.desc(), articles.c.id)
        .limit(sa.bindparam("limit"))
    )


@functools.cache
def archived_heads(shape: Shape, bounded: bool) -> sa.Select[Any]:
    return (
        sa.select(*HEAD_COLUMNS)
        .where(*_archived(shape, bounded), *_within())
        .order_by(articles.c.published, articles.c.id.desc())
        .offset(sa.bindparam("offset"))
        .limit(sa.bindparam("limit"))
    )


@functools.cache
def count_archived(shape: Shape, bounded: bool) -> sa.Select[Any]:
    return (
        sa.select(sa.func.count())
        .select_from(articles)
        .where(*_archived(shape, bounded), *_within())
    )


@functools.cache
def newest_archived_before(shape: Shape, bounded: bool, before: bool) -> sa.Select[Any]:
    query = sa.select(sa.func.max(articles.c.published)).where(*_archived(shape, bounded))
    return query.where(articles.c.published < sa.bindparam("before")) if before else query


@functools.cache
def oldest_archived_from(shape: Shape, bounded: bool) -> sa.Select[Any]:
    return sa.select(sa.func.min(articles.c.published)).where(
        *_archived(shape, bounded), articles.c.published >= sa.bindparam("start")
    )


@functools.cache
def tombstones(shape: Shape) -> sa.Select[Any]:
    return (
        sa.select(articles.c.tag, articles.c.withdrawn)
        .where(
            articles.c.withdrawn.is_not(None),
            articles.c.withdrawn >= sa.bindparam("since"),
            articles.c.withdrawn <= sa.bindparam("now"),
            articles.c.published <= articles.c.withdrawn,
            *_in_scope(shape),
        )
        .order_by(articles.c.withdrawn.desc(), articles.c.tag)
    )


@functools.cache
def latest_departure(shape: Shape, since: bool, until: bool) -> sa.Select[Any]:
    query = sa.select(sa.func.max(departures.c.at))
    if shape.section:
        query = query.where(departures.c.section == sa.bindparam("section"))
    if shape.sections:
        query = query.where(departures.c.section.in_(sa.bindparam("sections", expanding=True)))
    if since:
        query = query.where(departures.c.published >= sa.bindparam("since"))
    if until:
        query = query.where(departures.c.published < sa.bindparam("until"))
    return query


META = sa.select(meta.c.value).where(meta.c.key == sa.bindparam("key"))
NEXT_RELEASE = sa.select(sa.func.min(articles.c.published)).where(
    articles.c.withdrawn.is_(None), articles.c.published > sa.bindparam("now")
)
ARTICLES = sa.select(*ARTICLE_COLUMNS).where(articles.c.id.in_(sa.bindparam("ids", expanding=True)))


@functools.cache
def latest_visible_modified() -> sa.Select[Any]:
    return sa.select(sa.func.max(articles.c.modified)).where(*_visible(Shape(False, False, False)))


@functools.cache
def sections() -> sa.Select[Any]:
    # A skip scan: the least section, then the least after it, and so on, each one seek in
    # the index of visible articles, however many articles each section holds.
    visible = _visible(Shape(False, False, False))
    seen = (
        sa.select(sa.func.min(articles.c.section).label("section"))
        .where(*visible, articles.c.section.is_not(None))
        .cte("seen", recursive=True)
    )
    following = (
        sa.select(sa.func.min(articles.c.section))
        .where(*visible, articles.c.section > seen.c.section)
        .scalar_subquery()
    )
    seen = seen.union_all(sa.select(following).where(seen.c.section.is_not(None)))
    return sa.select(seen.c.section).where(seen.c.section.is_not(None))
