"""The article store: SQLAlchemy Core over SQLite (default) or PostgreSQL.

A narrow interface for the importer and the views: `Store.read()` gives a consistent snapshot,
`Store.write()` one transaction that holds the write lock from its first statement.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from feeds.errors import ConfigError, StoreUnavailable
from feeds.model import Article, Tombstone
from feeds.text import slug

from .schema import article_authors, articles, departures, meta, served

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
VERSION_KEY = "data_version"
_VERSION_SQL = "SELECT value FROM meta WHERE key = 'data_version'"
# Meta values stored once when the schema is made and never changed (create_schema).
FIXED_META = ("feed_id_prefix", "created")
# SQLite's page cache for a bulk write, in KiB (the default is 2,000): room for the indexes
# of about a million articles.
BULK_CACHE_KIB = 64 * 1024


@dataclass(frozen=True)
class Head:
    """The few columns that decide a document's validators, read without the text."""

    id: str
    revision: int
    published: datetime
    modified: datetime


@dataclass(frozen=True)
class Stored:
    """What the importer compares an incoming article against."""

    content_hash: str
    section: str | None
    published: datetime
    updated: datetime
    revision: int
    withdrawn: datetime | None
    withdrawn_by: str | None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (see _begin).
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin(conn: Connection) -> None:
    # Writers take the write lock up front, so a lock upgrade can never fail mid-import.
    immediate = conn.get_execution_options().get("feeds_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _lock_writers(conn: Connection) -> None:
    # PostgreSQL: one writer at a time, like SQLite's BEGIN IMMEDIATE. Writers run at READ
    # COMMITTED (see Store.write): each statement after the lock sees what the writer before
    # committed (a REPEATABLE READ snapshot would be taken by this very statement, before it
    # waits for the lock, and hide that).
    if conn.get_execution_options().get("feeds_write", False):
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7260517)")


def make_engine(url: str) -> Engine:
    """An engine for `url`. SQLite: WAL, a busy timeout, BEGIN IMMEDIATE for writes.
    PostgreSQL: REPEATABLE READ, so that every request reads one snapshot; writers take an
    advisory lock first and read at READ COMMITTED."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = sa.create_engine(url, pool_pre_ping=True, isolation_level="REPEATABLE READ")
        sa.event.listen(engine, "begin", _lock_writers)
        return engine
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    sa.event.listen(engine, "begin", _begin)
    return engine


def _article(row: Any) -> Article:
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


_ARTICLE_COLUMNS = [
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
_HEAD_COLUMNS = [articles.c[n] for n in ("id", "revision", "published", "modified")]


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


# Statements are built once for each shape of what they are asked (which filters apply)
# and take the values as parameters: building one and working out its compiled form's cache
# key costs several times what SQLite takes to answer it.
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


def _boundary(boundary: Head | None) -> dict[str, Any]:
    return {} if boundary is None else {"b_published": boundary.published, "b_id": boundary.id}


@functools.cache
def _newest_heads(shape: Shape) -> sa.Select[Any]:
    return (
        sa.select(*_HEAD_COLUMNS)
        .where(*_visible(shape))
        .order_by(articles.c.published.desc(), articles.c.id)
        .limit(sa.bindparam("limit"))
    )


@functools.cache
def _archived_heads(shape: Shape, bounded: bool) -> sa.Select[Any]:
    return (
        sa.select(*_HEAD_COLUMNS)
        .where(*_archived(shape, bounded), *_within())
        .order_by(articles.c.published, articles.c.id.desc())
        .offset(sa.bindparam("offset"))
        .limit(sa.bindparam("limit"))
    )


@functools.cache
def _count_archived(shape: Shape, bounded: bool) -> sa.Select[Any]:
    return (
        sa.select(sa.func.count())
        .select_from(articles)
        .where(*_archived(shape, bounded), *_within())
    )


@functools.cache
def _newest_archived_before(shape: Shape, bounded: bool, before: bool) -> sa.Select[Any]:
    query = sa.select(sa.func.max(articles.c.published)).where(*_archived(shape, bounded))
    return query.where(articles.c.published < sa.bindparam("before")) if before else query


@functools.cache
def _oldest_archived_from(shape: Shape, bounded: bool) -> sa.Select[Any]:
    return sa.select(sa.func.min(articles.c.published)).where(
        *_archived(shape, bounded), articles.c.published >= sa.bindparam("start")
    )


@functools.cache
def _tombstones(shape: Shape) -> sa.Select[Any]:
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
def _latest_departure(shape: Shape, since: bool, until: bool) -> sa.Select[Any]:
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


_META = sa.select(meta.c.value).where(meta.c.key == sa.bindparam("key"))
_NEXT_RELEASE = sa.select(sa.func.min(articles.c.published)).where(
    articles.c.withdrawn.is_(None), articles.c.published > sa.bindparam("now")
)
_ARTICLES = sa.select(*_ARTICLE_COLUMNS).where(
    articles.c.id.in_(sa.bindparam("ids", expanding=True))
)


@functools.cache
def _latest_visible_modified() -> sa.Select[Any]:
    return sa.select(sa.func.max(articles.c.modified)).where(*_visible(Shape(False, False, False)))


@functools.cache
def _sections() -> sa.Select[Any]:
    # A skip scan: the least section, then the least after it, and so on, each one seek in
    # the index of visible articles, however many articles each section holds.
    visible = _visible(Shape(False, False, False))
    found = (
        sa.select(sa.func.min(articles.c.section).label("section"))
        .where(*visible, articles.c.section.is_not(None))
        .cte("found", recursive=True)
    )
    following = (
        sa.select(sa.func.min(articles.c.section))
        .where(*visible, articles.c.section > found.c.section)
        .scalar_subquery()
    )
    found = found.union_all(sa.select(following).where(found.c.section.is_not(None)))
    return sa.select(found.c.section).where(found.c.section.is_not(None))


_SERVED_INSERT = served.insert()
_SERVED_UPDATE = (
    served.update()
    .where(served.c.document == sa.bindparam("b_document"))
    .values(etag=sa.bindparam("b_etag"), last_modified=sa.bindparam("b_last_modified"))
)
_SERVED = sa.select(served.c.etag, served.c.last_modified).where(
    served.c.document == sa.bindparam("document")
)


class Reader:
    """Queries on one consistent snapshot of the store."""

    def __init__(self, conn: Connection, fixed: dict[str, str] | None = None) -> None:
        self.conn = conn
        self._fixed = {} if fixed is None else fixed

    def meta(self, key: str) -> str | None:
        value: str | None = self.conn.scalar(_META, {"key": key})
        return value

    def fixed_meta(self, key: str) -> str | None:
        """A meta value that never changes once stored (FIXED_META), read from the database
        once by each Store."""
        value = self._fixed.get(key)
        if value is None:
            value = self.meta(key)
            if value is not None and key in FIXED_META:
                self._fixed[key] = value
        return value

    def data_version(self) -> int:
        """A number that grows with every committed change to what documents show."""
        return int(self.meta(VERSION_KEY) or 0)

    def newest_heads(self, scope: Scope, limit: int) -> list[Head]:
        """The newest `limit` visible articles by published time, newest first, ties by id."""
        query = _newest_heads(scope.shape)
        return [Head(*row) for row in self.conn.execute(query, scope.params() | {"limit": limit})]

    def archived_heads(
        self,
        scope: Scope,
        boundary: Head | None,
        span: tuple[datetime, datetime],
        offset: int,
        limit: int,
    ) -> list[Head]:
        """Visible articles published within `span` and older than `boundary` (the oldest
        entry of the subscription document), oldest first."""
        query = _archived_heads(scope.shape, boundary is not None)
        params = scope.params() | _boundary(boundary)
        params |= {"start": span[0], "end": span[1], "offset": offset, "limit": limit}
        return [Head(*row) for row in self.conn.execute(query, params)]

    def count_archived(
        self, scope: Scope, boundary: Head | None, span: tuple[datetime, datetime]
    ) -> int:
        query = _count_archived(scope.shape, boundary is not None)
        params = scope.params() | _boundary(boundary) | {"start": span[0], "end": span[1]}
        return int(self.conn.scalar(query, params) or 0)

    def newest_archived_before(
        self, scope: Scope, boundary: Head | None, before: datetime | None
    ) -> datetime | None:
        """The published time of the newest archived article published before `before`."""
        query = _newest_archived_before(scope.shape, boundary is not None, before is not None)
        params = scope.params() | _boundary(boundary) | {"before": before}
        moment: datetime | None = self.conn.scalar(query, params)
        return moment

    def oldest_archived_from(
        self, scope: Scope, boundary: Head | None, start: datetime
    ) -> datetime | None:
        """The published time of the oldest archived article published at or after `start`."""
        query = _oldest_archived_from(scope.shape, boundary is not None)
        params = scope.params() | _boundary(boundary) | {"start": start}
        moment: datetime | None = self.conn.scalar(query, params)
        return moment

    def tombstones(self, scope: Scope, since: datetime) -> list[Tombstone]:
        """Articles withdrawn at or after `since` that had been visible; newest first."""
        rows = self.conn.execute(_tombstones(scope.shape), scope.params() | {"since": since})
        return [Tombstone(tag, when) for tag, when in rows]

    def next_release(self, now: datetime) -> datetime | None:
        """When the next embargoed article becomes visible."""
        moment: datetime | None = self.conn.scalar(_NEXT_RELEASE, {"now": now})
        return moment

    def sections(self, now: datetime) -> list[str]:
        """Every section with a visible article, sorted."""
        return list(self.conn.scalars(_sections(), {"now": now}))

    def articles(self, ids: Sequence[str]) -> list[Article]:
        """The articles with these ids, in the order given."""
        if not ids:
            return []
        rows = self.conn.execute(_ARTICLES, {"ids": list(ids)})
        found = {row.id: _article(row) for row in rows}
        return [found[i] for i in ids if i in found]

    def article(self, article_id: str) -> Article | None:
        found = self.articles([article_id])
        return found[0] if found else None

    def latest_departure(
        self, scope: Scope, since: datetime | None, until: datetime | None = None
    ) -> datetime | None:
        """When an article last left a place published in [since, until) (None: unbounded)
        in the scope's section or sections (an author's scope counts every section)."""
        query = _latest_departure(scope.shape, since is not None, until is not None)
        params = scope.params() | {"since": since, "until": until}
        moment: datetime | None = self.conn.scalar(query, params)
        return moment

    def all_ids(self) -> list[str]:
        return list(self.conn.scalars(sa.select(articles.c.id).order_by(articles.c.id)))

    def stored(self, ids: Iterable[str]) -> dict[str, Stored]:
        """What is stored for each of these ids that exists."""
        result: dict[str, Stored] = {}
        id_list = list(ids)
        columns = [
            articles.c[n]
            for n in (
                "id",
                "content_hash",
                "section",
                "published",
                "updated",
                "revision",
                "withdrawn",
                "withdrawn_by",
            )
        ]
        for start in range(0, len(id_list), 500):
            chunk = id_list[start : start + 500]
            for row in self.conn.execute(sa.select(*columns).where(articles.c.id.in_(chunk))):
                result[row.id] = Stored(*row[1:])
        return result

    def taken_markers(self, moments: Iterable[datetime]) -> set[datetime]:
        """Which of these update markers some stored article already has."""
        found: set[datetime] = set()
        candidates = list(set(moments))
        for start in range(0, len(candidates), 500):
            chunk = candidates[start : start + 500]
            found.update(
                self.conn.scalars(
                    sa.select(articles.c.updated).where(articles.c.updated.in_(chunk))
                )
            )
        return found

    def stored_under(self, folder: str) -> dict[str, str]:
        """Id -> file of every article not withdrawn whose file was found below `folder`."""
        escaped = folder.rstrip("/").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = sa.select(articles.c.id, articles.c.source_path).where(
            articles.c.withdrawn.is_(None),
            articles.c.source_path.like(escaped + "/%", escape="\\"),
        )
        return {row.id: row.source_path for row in self.conn.execute(query)}

    def count_current(self) -> int:
        """How many stored articles are not withdrawn."""
        query = (
            sa.select(sa.func.count()).select_from(articles).where(articles.c.withdrawn.is_(None))
        )
        return int(self.conn.scalar(query) or 0)

    def author_name(self, author_slug: str) -> str | None:
        name: str | None = self.conn.scalar(
            sa.select(article_authors.c.name).where(article_authors.c.slug == author_slug).limit(1)
        )
        return name

    def served(self, document: str) -> tuple[str, datetime] | None:
        """The ETag and Last-Modified `document` was last served with."""
        row = self.conn.execute(_SERVED, {"document": document}).first()
        return None if row is None else (row.etag, row.last_modified)

    def latest_visible_modified(self, now: datetime) -> datetime | None:
        moment: datetime | None = self.conn.scalar(_latest_visible_modified(), {"now": now})
        return moment

    def latest_modified(self) -> datetime | None:
        moment: datetime | None = self.conn.scalar(sa.select(sa.func.max(articles.c.modified)))
        return moment


class Writer(Reader):
    """Statements inside one write transaction. Every method that changes what a document
    can show marks the transaction `changed`, so that it bumps the data version."""

    def __init__(self, conn: Connection, fixed: dict[str, str] | None = None) -> None:
        super().__init__(conn, fixed)
        self.changed = False

    def insert(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.changed = True
            self.conn.execute(articles.insert(), rows)

    def update(self, article_id: str, values: dict[str, Any]) -> None:
        self.changed = True
        self.conn.execute(articles.update().where(articles.c.id == article_id).values(**values))

    def bump_version(self) -> int:
        """Count one more change of the data; the new version."""
        version = self.data_version() + 1
        if self.meta(VERSION_KEY) is None:
            self.conn.execute(meta.insert().values(key=VERSION_KEY, value=str(version)))
        else:
            self.conn.execute(
                meta.update().where(meta.c.key == VERSION_KEY).values(value=str(version))
            )
        return version

    def withdraw(self, article_id: str, now: datetime, by: str) -> Stored | None:
        """Withdraw an article (its row stays, so its id is never reused); None if unknown.
        `by` says how: "delete" or "sync"."""
        old = self.stored([article_id]).get(article_id)
        if old is None or old.withdrawn is not None:
            return old
        self.update(article_id, {"withdrawn": now, "withdrawn_by": by, "modified": now})
        self.record_departure(article_id, old.published, old.section, now)
        return old

    def record_departure(
        self, article_id: str, published: datetime, section: str | None, at: datetime
    ) -> None:
        """Note that an article left the place it had (published, section) at `at`; an
        article still under embargo had no place anyone could see."""
        if published > at:
            return
        self.changed = True
        self.conn.execute(
            departures.insert().values(
                article_id=article_id, published=published, section=section, at=at
            )
        )

    def _author_slug(self, name: str) -> str:
        """The name's slug; a name whose slug another name already has gets -2, -3, ..."""
        known: str | None = self.conn.scalar(
            sa.select(article_authors.c.slug).where(article_authors.c.name == name).limit(1)
        )
        if known is not None:
            return known
        base = candidate = slug(name)
        number = 1
        while self.author_name(candidate) not in (None, name):
            number += 1
            candidate = f"{base}-{number}"
        return candidate

    def set_authors(self, article_id: str, names: tuple[str, ...]) -> None:
        self.changed = True
        self.conn.execute(
            article_authors.delete().where(article_authors.c.article_id == article_id)
        )
        rows = {self._author_slug(name): name for name in names}
        if rows:
            self.conn.execute(
                article_authors.insert(),
                [{"slug": s, "article_id": article_id, "name": n} for s, n in rows.items()],
            )

    def record_served(self, document: str, etag: str, last_modified: datetime, new: bool) -> None:
        """Record the validators `document` is served with; `new`: none were recorded yet."""
        if new:
            values = {"document": document, "etag": etag, "last_modified": last_modified}
            self.conn.execute(_SERVED_INSERT, values)
        else:
            values = {"b_document": document, "b_etag": etag, "b_last_modified": last_modified}
            self.conn.execute(_SERVED_UPDATE, values)

    def set_meta_default(self, key: str, value: str) -> str:
        """Store `value` under `key` unless a value is there already; return the stored one."""
        current = self.meta(key)
        if current is None:
            self.changed = True
            self.conn.execute(meta.insert().values(key=key, value=value))
            return value
        return current


class Store:
    """The store of one database URL."""

    def __init__(self, url: str) -> None:
        """Raises ConfigError (FEEDS_DATABASE) when `url` cannot be used."""
        self.url = url
        try:
            self.engine = make_engine(url)
        except (sa.exc.ArgumentError, ImportError, OSError) as e:
            raise ConfigError(
                "FEEDS_DATABASE",
                f"cannot use {url!r} ({e}); give a SQLAlchemy URL such as sqlite:///var/feeds.db",
            ) from e
        self._local = threading.local()  # each thread's connection for data_version()
        self._fixed: dict[str, str] = {}  # FIXED_META values, once read
        self._version_conns: list[Any] = []

    def create_schema(self, now: datetime, tag_authority: str) -> None:
        """Bring the schema up to date (Alembic migrations); mint, once, the tag URI prefix of
        the store's feed ids and its creation time (the updated time of a feed with no
        entries)."""
        moment = now.astimezone(UTC).replace(microsecond=0)
        from .migrate import upgrade

        with self.write() as w:
            upgrade(w.conn)
            w.set_meta_default("feed_id_prefix", f"tag:{tag_authority},{moment.date()}:")
            w.set_meta_default("created", moment.isoformat())

    def settle(
        self, reader: Reader, document: str, etag: str, computed: datetime, now: datetime
    ) -> datetime:
        """The Last-Modified to send with `etag`: the one it was first served with, or for a
        new ETag `computed` when that is later than the previous Last-Modified, else `now`."""
        previous = reader.served(document)
        if previous is not None and previous[0] == etag:
            return previous[1]
        moment = computed if previous is None or computed > previous[1] else now
        with self.write() as writer:
            current = writer.served(document)
            if current is not None and current[0] == etag:  # another worker was first
                return current[1]
            if current is not None and moment <= current[1]:
                moment = max(now, current[1])
            writer.record_served(document, etag, moment, new=current is None)
        return moment

    @contextmanager
    def read(self) -> Iterator[Reader]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield Reader(conn, self._fixed)
        except sa.exc.OperationalError as e:
            raise StoreUnavailable(
                f"the database at {self._safe_url()} did not answer: {e.orig}"
            ) from e

    @contextmanager
    def write(self, bulk: bool = False) -> Iterator[Writer]:
        """One write transaction; if it changed what documents show, it bumps the data
        version in the same transaction. A `bulk` one (a large import) gets a larger page
        cache on SQLite, so index pages are written once rather than again and again, until
        it ends."""
        bulk = bulk and self.engine.dialect.name == "sqlite"
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(feeds_write=True)
                if self.engine.dialect.name == "postgresql":  # see _lock_writers
                    conn = conn.execution_options(isolation_level="READ COMMITTED")
                usual = None
                try:
                    with conn.begin():
                        if bulk:
                            usual = conn.exec_driver_sql("PRAGMA cache_size").scalar()
                            conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
                        writer = Writer(conn, self._fixed)
                        yield writer
                        if writer.changed:
                            writer.bump_version()
                finally:
                    if usual is not None:  # the connection goes back to the pool as it was
                        conn.connection.dbapi_connection.execute(  # type: ignore[union-attr]
                            f"PRAGMA cache_size={int(usual)}"
                        )
        except sa.exc.OperationalError as e:
            raise StoreUnavailable(
                f"the database at {self._safe_url()} did not answer: {e.orig}"
            ) from e

    def data_version(self) -> int | None:
        """The committed data version, read per request at the cost of one indexed lookup on
        a connection kept by each thread (in autocommit, so it always sees the latest
        commit); None when it cannot be read (then nothing may be served from a cache)."""
        local = self._local
        for _ in range(2):  # a kept connection that broke is replaced once
            try:
                if getattr(local, "pid", None) != os.getpid():
                    local.conn, local.pid = self._version_connection(), os.getpid()
                cursor = local.conn.cursor()
                try:
                    cursor.execute(_VERSION_SQL)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
                return int(row[0]) if row else 0
            except Exception:  # the driver's own errors: drop the connection
                self._drop_version_connection()
        return None

    def _drop_version_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.pid = None
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
            with contextlib.suppress(ValueError):
                self._version_conns.remove(conn)

    def _version_connection(self) -> Any:
        fairy = self.engine.raw_connection()
        fairy.detach()  # kept by one thread for good, outside the pool
        dbapi: Any = fairy.dbapi_connection
        if self.engine.dialect.name == "postgresql":
            dbapi.autocommit = True  # every read sees the latest commit
        self._version_conns.append(dbapi)
        return dbapi

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1")).all()
                return conn.scalar(sa.select(sa.func.count()).select_from(meta)) is not None
        except sa.exc.SQLAlchemyError:
            return False

    def _safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        """Close the pooled connections (before a fork: none may cross it)."""
        self.engine.dispose()

    def close(self) -> None:
        """Close every connection, pooled or kept for data_version()."""
        for conn in self._version_conns:
            with contextlib.suppress(Exception):
                conn.close()
        self._version_conns.clear()
        self._local = threading.local()
        self.engine.dispose()
