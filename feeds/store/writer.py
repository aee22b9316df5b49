"""Statements inside one write transaction: articles, authors, departures, meta and (through
the mixins) accounts and the import figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feeds.model import Stored
from feeds.text import slug

from .accounts import AccountWrites, PollClaims, RefusedCounts
from .figures import FigureWrites
from .ledger import LedgerReads, LedgerWrites
from .queries import places_of
from .reader import CHANGES_KEY, SEQUENCE_KEY, VERSION_KEY, Reader
from .schema import article_authors, articles, departures, meta, placements


class Writer(Reader, AccountWrites, FigureWrites):
    """Statements inside one write transaction. Every method that changes what a document
    can show marks the transaction `changed`, so that it bumps the data version."""

    def __init__(self, conn: Connection, fixed: dict[str, str] | None = None) -> None:
        super().__init__(conn, fixed)
        self.changed = False
        # The articles this transaction touched, for the hub's outbox (hub.note_change).
        self.touched: set[str] = set()
        # The last numbers handed out, and as stored (see `number`).
        self._numbers: dict[str, int] = {}
        self._stored_numbers: dict[str, int] = {}

    def number(self, counter: str = SEQUENCE_KEY) -> int:
        """The next number of one of the store's counters: SEQUENCE_KEY orders placements,
        CHANGES_KEY the changes of articles, as their transactions commit (writers take
        turns). `bump_version` keeps where they got to."""
        if counter not in self._numbers:
            last = int(self.meta(counter) or 0)
            self._numbers[counter] = self._stored_numbers[counter] = last
        self._numbers[counter] += 1
        return self._numbers[counter]

    def place(self, entering: list[tuple[datetime, str, str | None, list[str]]]) -> None:
        """Give each (entered, article id, section, author slugs) its placements, in the
        order given: one number per article, after every one handed out before."""
        self._place([(e, i, places_of(s, slugs)) for e, i, s, slugs in entering])

    def _place(self, entering: list[tuple[datetime, str, list[str]]]) -> None:
        rows = []
        for entered, article_id, places in entering:
            seq = self.number()
            self.touched.add(article_id)
            rows += [
                {"place": p, "seq": seq, "article_id": article_id, "entered": entered}
                for p in places
            ]
        if rows:
            self.changed = True
            self.conn.execute(placements.insert(), rows)

    def replace(
        self,
        article_id: str,
        section: str | None,
        author_slugs: list[str],
        now: datetime,
        entered: datetime,
    ) -> None:
        """Bring the article's placements to the places of its section and authors
        (queries.places_of). A placement no reader can have seen yet (it enters later than
        `now`) is dropped and, where still wanted, made again at `entered`; one that has been
        seen stays, marked left at `now` if the article left that place; a place the article
        newly appears in takes a placement at `entered`."""
        current = self.conn.execute(
            sa.select(placements.c.place, placements.c.seq, placements.c.entered).where(
                placements.c.article_id == article_id, placements.c.left_at.is_(None)
            )
        ).all()
        self.touched.add(article_id)
        places = places_of(section, author_slugs)
        seen = {row.place for row in current if row.entered <= now}
        for row in current:
            where = (
                (placements.c.place == row.place)
                & (placements.c.entered == row.entered)
                & (placements.c.seq == row.seq)
            )
            if row.entered > now:
                self.changed = True
                self.conn.execute(placements.delete().where(where))
            elif row.place not in places:
                self.changed = True
                self.conn.execute(placements.update().where(where).values(left_at=now))
        new = [p for p in places if p not in seen]
        if new:
            self._place([(entered, article_id, new)])

    def insert(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.changed = True
            self.touched.update(row["id"] for row in rows)
            self.conn.execute(articles.insert(), rows)

    def update(self, article_id: str, values: dict[str, Any]) -> None:
        self.changed = True
        self.touched.add(article_id)
        self.conn.execute(articles.update().where(articles.c.id == article_id).values(**values))

    def bump_version(self) -> int:
        """Count one more change of the data (and keep the sequence where it got to); the
        new version."""
        for counter, last in self._numbers.items():
            if last != self._stored_numbers[counter]:
                self._set_meta(counter, str(last))
                self._stored_numbers[counter] = last
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
        values = {"withdrawn": now, "withdrawn_by": by, "modified": now}
        self.update(article_id, values | {"change_seq": self.number(CHANGES_KEY)})
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

    def _author_slug(self, name: str, given: dict[str, str]) -> str:
        """The name's slug; a name whose slug another name already has (stored, or `given`
        to another name in this call) gets -2, -3, ..."""
        known: str | None = self.conn.scalar(
            sa.select(article_authors.c.slug).where(article_authors.c.name == name).limit(1)
        )
        if known is not None:  # never given to another name: it is this name's in the store
            return known
        base = candidate = slug(name)
        number = 1
        while given.get(candidate, name) != name or self.author_name(candidate) not in (None, name):
            number += 1
            candidate = f"{base}-{number}"
        return candidate

    def set_authors(self, article_id: str, names: tuple[str, ...]) -> list[str]:
        """Store who wrote the article; their slugs, in the order given."""
        self.changed = True
        self.touched.add(article_id)
        self.conn.execute(
            article_authors.delete().where(article_authors.c.article_id == article_id)
        )
        rows: dict[str, str] = {}  # slug -> name
        for name in dict.fromkeys(names):
            rows[self._author_slug(name, rows)] = name
        if rows:
            self.conn.execute(
                article_authors.insert(),
                [{"slug": s, "article_id": article_id, "name": n} for s, n in rows.items()],
            )
        return list(rows)

    def _set_meta(self, key: str, value: str) -> None:
        if self.meta(key) is None:
            self.conn.execute(meta.insert().values(key=key, value=value))
        else:
            self.conn.execute(meta.update().where(meta.c.key == key).values(value=value))

    def set_meta_default(self, key: str, value: str) -> str:
        """Store `value` under `key` unless a value is there already; return the stored one."""
        current = self.meta(key)
        if current is None:
            self.changed = True
            self.conn.execute(meta.insert().values(key=key, value=value))
            return value
        return current


class Recorder(LedgerReads, LedgerWrites, PollClaims, RefusedCounts):
    """Statements inside a recorder's transaction (see engine.py): what requests that only
    read keep. It never changes what a document shows."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
