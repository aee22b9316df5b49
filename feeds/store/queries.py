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

from feeds.model import Article, Image

from .schema import article_authors, articles, departures, meta, placements

SITE = "*"  # the place every article has: the site's feeds


def section_place(section: str) -> str:
    return "s:" + section


def author_place(slug: str) -> str:
    return "a:" + slug


def places_of(section: str | None, author_slugs: list[str]) -> list[str]:
    """The places an article of this section by these authors appears in."""
    found = [SITE] + ([section_place(section)] if section else [])
    return found + [author_place(s) for s in author_slugs]


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
        image=None if row.image is None else Image.from_json(json.loads(row.image)),
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
        "image",
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
    def places(self) -> list[str]:
        """The places whose placements make this scope's archives."""
        if self.author is not None:
            return [author_place(self.author)]
        if self.section is not None:
            return [section_place(self.section)]
        if self.sections is not None:
            return [section_place(s) for s in self.sections]
        return [SITE]

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


@functools.cache
def changed_heads(shape: Shape) -> sa.Select[Any]:
    # A visible article changed no later than now; saying so lets the planner walk the
    # index of changes from now down and stop after the page, rather than sort the scope.
    changed: sa.BindParameter[datetime] = sa.bindparam("now")
    return (
        sa.select(*HEAD_COLUMNS)
        .where(*_visible(shape), articles.c.modified <= changed)
        .order_by(articles.c.modified.desc(), articles.c.change_seq.desc(), articles.c.id)
        .limit(sa.bindparam("limit"))
    )


def _in_places() -> sa.ColumnElement[bool]:
    return placements.c.place.in_(sa.bindparam("places", expanding=True))


def _placed_within() -> list[sa.ColumnElement[bool]]:
    """Parameters: places, start, end (the caller makes `end` no later than just after now:
    one upper bound, so the index search stops there)."""
    return [
        _in_places(),
        placements.c.entered >= sa.bindparam("start"),
        placements.c.entered < sa.bindparam("end"),
    ]


@functools.cache
def placed_rows() -> sa.Select[Any]:
    """A part's placements in order, with what a plan needs of each article."""
    part = (
        sa.select(
            placements.c.article_id, placements.c.entered, placements.c.seq, placements.c.left_at
        )
        .where(*_placed_within())
        .order_by(placements.c.entered, placements.c.seq)
        .offset(sa.bindparam("offset"))
        .limit(sa.bindparam("limit"))
        .subquery("part")
    )
    return (
        sa.select(
            articles.c.id,
            articles.c.revision,
            articles.c.published,
            articles.c.modified,
            articles.c.withdrawn,
            part.c.left_at,
        )
        .join_from(part, articles, articles.c.id == part.c.article_id)
        .order_by(part.c.entered, part.c.seq)
    )


@functools.cache
def count_placed() -> sa.Select[Any]:
    return sa.select(sa.func.count()).select_from(placements).where(*_placed_within())


@functools.cache
def placed_before() -> sa.Select[Any]:
    """The latest placement entered before `before` (no later than just after now)."""
    return sa.select(sa.func.max(placements.c.entered)).where(
        _in_places(), placements.c.entered < sa.bindparam("before")
    )


@functools.cache
def placed_from() -> sa.Select[Any]:
    """The earliest placement entered at or after `start`, by `now`."""
    now: sa.BindParameter[datetime] = sa.bindparam("now")
    return sa.select(sa.func.min(placements.c.entered)).where(
        _in_places(), placements.c.entered >= sa.bindparam("start"), placements.c.entered <= now
    )


@functools.cache
def latest_left() -> sa.Select[Any]:
    return sa.select(sa.func.max(placements.c.left_at)).where(
        _in_places(),
        placements.c.left_at.is_not(None),  # the small index of those that left
    )


@functools.cache
def departed_among() -> sa.Select[Any]:
    return sa.select(sa.func.max(departures.c.at)).where(
        departures.c.article_id.in_(sa.bindparam("ids", expanding=True)),
        departures.c.at <= sa.bindparam("now"),
    )


@functools.cache
def tombstones(shape: Shape) -> sa.Select[Any]:
    return (
        sa.select(articles.c.tag, articles.c.withdrawn)
        .where(
            articles.c.withdrawn.is_not(None),
            articles.c.withdrawn >= sa.bindparam("since"),
            articles.c.withdrawn <= sa.bindparam("now"),
            # Readers saw it: it had entered the site's archives (an article withdrawn while
            # still under embargo had not, even one that readers saw before an embargo again).
            sa.exists().where(
                placements.c.article_id == articles.c.id,
                placements.c.place == SITE,
                placements.c.entered <= articles.c.withdrawn,
            ),
            *_in_scope(shape),
        )
        .order_by(articles.c.withdrawn.desc(), articles.c.tag)
        .limit(sa.bindparam("limit"))
    )


@functools.cache
def latest_departure(shape: Shape, since: bool, until: bool) -> sa.Select[Any]:
    query = sa.select(sa.func.max(departures.c.at))
    if shape.section:
        query = query.where(departures.c.section == sa.bindparam("section"))
    if shape.sections:
        query = query.where(departures.c.section.in_(sa.bindparam("sections", expanding=True)))
    if shape.author:
        by_author = sa.select(article_authors.c.article_id).where(
            article_authors.c.slug == sa.bindparam("author")
        )
        query = query.where(departures.c.article_id.in_(by_author))
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


_SITE = Shape(False, False, False)
# Sitemaps list the visible articles in the order they were published, ties by id: an
# article published later goes after every one before it, so the sitemaps of the others
# keep their bytes.
_SITEMAP_ORDER = (articles.c.published, articles.c.id)


@functools.cache
def sitemap_parts() -> sa.Select[Any]:
    """The latest update marker of each run of `size` visible articles in sitemap order,
    the first run first: one pass over the index of current articles by publication,
    reading no article text."""
    rank = sa.func.row_number().over(order_by=_SITEMAP_ORDER).label("rank")
    ranked = sa.select(articles.c.updated, rank).where(*_visible(_SITE)).subquery("ranked")
    # Integer division on SQLite and PostgreSQL alike ("//" would call FLOOR, which SQLite
    # has only when built with its math functions).
    size = sa.bindparam("size", type_=sa.Integer)
    part = (ranked.c.rank - 1).op("/", precedence=8, return_type=sa.Integer)(size).label("part")
    return sa.select(sa.func.max(ranked.c.updated)).group_by(part).order_by(part)


@functools.cache
def sitemap_entries() -> sa.Select[Any]:
    """Ids and update markers of visible articles in sitemap order, from `offset`."""
    return (
        sa.select(articles.c.id, articles.c.updated)
        .where(*_visible(_SITE))
        .order_by(*_SITEMAP_ORDER)
        .offset(sa.bindparam("offset"))
        .limit(sa.bindparam("limit"))
    )


@functools.cache
def published_since() -> sa.Select[Any]:
    """Heads of the visible articles published after `since`, newest first: a range of the
    index of current articles by publication."""
    return (
        sa.select(*HEAD_COLUMNS)
        .where(*_visible(_SITE), articles.c.published > sa.bindparam("since"))
        .order_by(articles.c.published.desc(), articles.c.id)
        .limit(sa.bindparam("limit"))
    )
