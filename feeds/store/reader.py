"""Reads on one snapshot of the store: what documents show, what the update rules compare,
and (through the mixins) accounts and the Last-Modified ledger."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feeds.model import Article, Head, Stored, Tombstone

from . import queries as q
from .accounts import AccountReads
from .audience import AudienceReads
from .figures import FigureReads
from .hub import HubReads
from .ledger import LedgerReads
from .queries import Scope
from .schema import article_authors, articles

VERSION_KEY = "data_version"
SEQUENCE_KEY = "sequence"  # the last number given to placements (Writer.number)
CHANGES_KEY = "changes"  # the last number given to a change of an article
MICROSECOND = timedelta(microseconds=1)
# Meta values stored once when the schema is made and never changed (Store.create_schema).
FIXED_META = ("feed_id_prefix", "created")


@dataclass(frozen=True)
class Placed:
    """One placement of an archive part, with what a plan needs of its article."""

    id: str
    revision: int
    published: datetime
    modified: datetime
    withdrawn: datetime | None
    left_at: datetime | None

    def shown(self, now: datetime) -> bool:
        """Whether the part shows the article now: visible, and still in the place."""
        return self.withdrawn is None and self.left_at is None and self.published <= now

    @property
    def head(self) -> Head:
        return Head(self.id, self.revision, self.published, self.modified)


class Reader(AccountReads, LedgerReads, HubReads, AudienceReads, FigureReads):
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

    def changed_heads(self, scope: Scope, limit: int) -> list[Head]:
        """The `limit` visible articles that changed last (by `modified`), latest first."""
        query = q.changed_heads(scope.shape)
        return [Head(*row) for row in self.conn.execute(query, scope.params() | {"limit": limit})]

    def _placing(self, scope: Scope, span: tuple[datetime, datetime]) -> dict[str, object]:
        end = min(span[1], scope.now + MICROSECOND)  # what has entered by now
        return {"places": scope.places, "start": span[0], "end": end}

    def placed(
        self, scope: Scope, span: tuple[datetime, datetime], offset: int, limit: int
    ) -> list[Placed]:
        """The scope's placements that entered within `span` (by scope.now), in order, from
        `offset`."""
        params = self._placing(scope, span) | {"offset": offset, "limit": limit}
        return [Placed(*row) for row in self.conn.execute(q.placed_rows(), params)]

    def count_placed(self, scope: Scope, span: tuple[datetime, datetime]) -> int:
        return int(self.conn.scalar(q.count_placed(), self._placing(scope, span)) or 0)

    def placed_before(self, scope: Scope, start: datetime) -> datetime | None:
        """When the scope's latest placement before `start` entered (by scope.now)."""
        before = min(start, scope.now + MICROSECOND)
        params = {"places": scope.places, "before": before}
        moment: datetime | None = self.conn.scalar(q.placed_before(), params)
        return moment

    def placed_from(self, scope: Scope, start: datetime) -> datetime | None:
        """When the scope's earliest placement at or after `start` entered (by scope.now)."""
        params = {"places": scope.places, "now": scope.now, "start": start}
        moment: datetime | None = self.conn.scalar(q.placed_from(), params)
        return moment

    def latest_left(self, scope: Scope) -> datetime | None:
        """When an article last left one of the scope's places."""
        moment: datetime | None = self.conn.scalar(q.latest_left(), {"places": scope.places})
        return moment

    def departed_among(self, ids: Sequence[str], now: datetime) -> datetime | None:
        """When one of these articles last left the place it had, by `now`."""
        if not ids:
            return None
        params = {"ids": list(ids), "now": now}
        moment: datetime | None = self.conn.scalar(q.departed_among(), params)
        return moment

    def tombstones(self, scope: Scope, since: datetime, limit: int) -> list[Tombstone]:
        """The `limit` latest articles withdrawn at or after `since` that had been visible;
        newest first."""
        params = scope.params() | {"since": since, "limit": limit}
        rows = self.conn.execute(q.tombstones(scope.shape), params)
        return [Tombstone(tag, when) for tag, when in rows]

    def next_release(self, now: datetime) -> datetime | None:
        """When the next embargoed article becomes visible."""
        moment: datetime | None = self.conn.scalar(q.NEXT_RELEASE, {"now": now})
        return moment

    def sitemap_parts(self, now: datetime, size: int) -> list[datetime]:
        """The latest update marker of each sitemap of `size` visible articles (in the order
        they were published, ties by id), the first sitemap first; none without articles."""
        return list(self.conn.scalars(q.sitemap_parts(), {"now": now, "size": size}))

    def sitemap_entries(self, now: datetime, offset: int, limit: int) -> list[tuple[str, datetime]]:
        """(id, update marker) of `limit` visible articles from `offset`, in sitemap order."""
        params = {"now": now, "offset": offset, "limit": limit}
        return [(row.id, row.updated) for row in self.conn.execute(q.sitemap_entries(), params)]

    def published_since(self, since: datetime, now: datetime, limit: int) -> list[Head]:
        """The `limit` latest visible articles published after `since`, newest first (ties
        by id)."""
        params = {"since": since, "now": now, "limit": limit}
        return [Head(*row) for row in self.conn.execute(q.published_since(), params)]

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
