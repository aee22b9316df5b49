"""Reads on one snapshot of the store: what documents show, what the update rules compare,
and (through the mixins) accounts and the Last-Modified ledger."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feeds.model import Article, Head, Stored, Tombstone

from . import queries as q
from .accounts import AccountReads
from .ledger import LedgerReads
from .queries import Scope
from .schema import article_authors, articles

VERSION_KEY = "data_version"
# Meta values stored once when the schema is made and never changed (Store.create_schema).
FIXED_META = ("feed_id_prefix", "created")


class Reader(AccountReads, LedgerReads):
    """Queries on one consistent snapshot of the store."""

    def __init__(self, conn: Connection, fixed: dict[str, str] | None = None) -> None:
        self.conn = conn
        self._fixed = {} if fixed is None else fixed

    def meta(self, key: str) -> str | None:
        value: str | None = self.conn.scalar(q.META, {"key": key})
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
        query = q.newest_heads(scope.shape)
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
        query = q.archived_heads(scope.shape, boundary is not None)
        params = scope.params() | q.boundary_params(boundary)
        params |= {"start": span[0], "end": span[1], "offset": offset, "limit": limit}
        return [Head(*row) for row in self.conn.execute(query, params)]

    def count_archived(
        self, scope: Scope, boundary: Head | None, span: tuple[datetime, datetime]
    ) -> int:
        query = q.count_archived(scope.shape, boundary is not None)
        params = scope.params() | q.boundary_params(boundary) | {"start": span[0], "end": span[1]}
        return int(self.conn.scalar(query, params) or 0)

    def newest_archived_before(
        self, scope: Scope, boundary: Head | None, before: datetime | None
    ) -> datetime | None:
        """The published time of the newest archived article published before `before`."""
        query = q.newest_archived_before(scope.shape, boundary is not None, before is not None)
        params = scope.params() | q.boundary_params(boundary) | {"before": before}
        moment: datetime | None = self.conn.scalar(query, params)
        return moment

    def oldest_archived_from(
        self, scope: Scope, boundary: Head | None, start: datetime
    ) -> datetime | None:
        """The published time of the oldest archived article published at or after `start`."""
        query = q.oldest_archived_from(scope.shape, boundary is not None)
        params = scope.params() | q.boundary_params(boundary) | {"start": start}
        moment: datetime | None = self.conn.scalar(query, params)
        return moment

    def tombstones(self, scope: Scope, since: datetime) -> list[Tombstone]:
        """Articles withdrawn at or after `since` that had been visible; newest first."""
        rows = self.conn.execute(q.tombstones(scope.shape), scope.params() | {"since": since})
        return [Tombstone(tag, when) for tag, when in rows]

    def next_release(self, now: datetime) -> datetime | None:
        """When the next embargoed article becomes visible."""
        moment: datetime | None = self.conn.scalar(q.NEXT_RELEASE, {"now": now})
        return moment

    def sections(self, now: datetime) -> list[str]:
        """Every section with a visible article, sorted."""
        return list(self.conn.scalars(q.sections(), {"now": now}))

    def articles(self, ids: Sequence[str]) -> list[Article]:
        """The articles with these ids, in the order given."""
        if not ids:
            return []
        rows = self.conn.execute(q.ARTICLES, {"ids": list(ids)})
        by_id = {row.id: q.article_of(row) for row in rows}
        return [by_id[i] for i in ids if i in by_id]

    def article(self, article_id: str) -> Article | None:
        articles = self.articles([article_id])
        return articles[0] if articles else None

    def latest_departure(
        self, scope: Scope, since: datetime | None, until: datetime | None = None
    ) -> datetime | None:
        """When an article last left a place published in [since, until) (None: unbounded)
        in the scope's section or sections (an author's scope counts every section)."""
        query = q.latest_departure(scope.shape, since is not None, until is not None)
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
        taken: set[datetime] = set()
        candidates = list(set(moments))
        for start in range(0, len(candidates), 500):
            chunk = candidates[start : start + 500]
            taken.update(
                self.conn.scalars(
                    sa.select(articles.c.updated).where(articles.c.updated.in_(chunk))
                )
            )
        return taken

    def markers_between(self, start: datetime, end: datetime) -> set[datetime]:
        """The update markers stored in [start, end): one range search of their index."""
        query = sa.select(articles.c.updated).where(
            articles.c.updated >= start, articles.c.updated < end
        )
        return set(self.conn.scalars(query))

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

    def latest_visible_modified(self, now: datetime) -> datetime | None:
        moment: datetime | None = self.conn.scalar(q.latest_visible_modified(), {"now": now})
        return moment

    def latest_modified(self) -> datetime | None:
        moment: datetime | None = self.conn.scalar(sa.select(sa.func.max(articles.c.modified)))
        return moment
