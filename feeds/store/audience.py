"""Statements of the audience figures (feeds.audience): polls per feed and day, the latest
figure of each aggregator that reports subscribers, the salted hashes of other clients per
day, and each day's salt, which is deleted once its day is over.

Writes run in the writers' turn (Store.audience), one process at a time, so adding to a row
that may not exist yet is an update and, when it touched nothing, an insert.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import date, datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .schema import (
    audience_polls,
    audience_reporters,
    audience_salts,
    audience_visitors,
    hub_subscriptions,
)


class Polls(NamedTuple):
    day: date
    feed: str
    polls: int
    not_modified: int
    bytes: int


class Reporter(NamedTuple):
    feed: str
    reader: str
    key: str
    subscribers: int
    last_seen: datetime


class Visitors(NamedTuple):
    """How many distinct other clients of one reader polled a feed on one day."""

    day: date
    feed: str
    reader: str
    clients: int


def _feed_is(column: sa.ColumnElement[str], feed: str | None) -> sa.ColumnElement[bool]:
    return sa.true() if feed is None else column == feed


class AudienceReads:
    conn: Connection

    def audience_polls(self, since: date, feed: str | None = None) -> list[Polls]:
        """The polls of every feed (or of `feed`) per day from `since` on."""
        t = audience_polls
        query = sa.select(t.c.day, t.c.feed, t.c.polls, t.c.not_modified, t.c.bytes).where(
            t.c.day >= since, _feed_is(t.c.feed, feed)
        )
        return [Polls(*row) for row in self.conn.execute(query.order_by(t.c.feed, t.c.day))]

    def audience_reporters(self, since: datetime, feed: str | None = None) -> list[Reporter]:
        """The latest figure of every aggregator key seen at or after `since`."""
        t = audience_reporters
        query = sa.select(t.c.feed, t.c.reader, t.c.key, t.c.subscribers, t.c.last_seen).where(
            t.c.last_seen >= since, _feed_is(t.c.feed, feed)
        )
        return [Reporter(*row) for row in self.conn.execute(query.order_by(t.c.feed, t.c.reader))]

    def audience_visitors(self, since: date, feed: str | None = None) -> list[Visitors]:
        """How many distinct other clients each reader had per feed and day from `since`."""
        t = audience_visitors
        query = (
            sa.select(t.c.day, t.c.feed, t.c.reader, sa.func.count())
            .where(t.c.day >= since, _feed_is(t.c.feed, feed))
            .group_by(t.c.day, t.c.feed, t.c.reader)
        )
        return [Visitors(*row) for row in self.conn.execute(query)]

    def active_subscriptions(self, now: datetime) -> dict[str, int]:
        """Topic -> how many verified WebSub subscriptions to it have a lease that has not
        ended (requests not yet verified are not subscriptions)."""
        s = hub_subscriptions
        query = sa.select(s.c.topic, sa.func.count()).where(s.c.expires > now).group_by(s.c.topic)
        return {topic: int(n) for topic, n in self.conn.execute(query)}


class AudienceWrites(AudienceReads):
    """Statements inside an audience transaction (Store.audience)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def salt(self, day: date) -> str:
        """The day's random salt, made by the first flush that asks for it."""
        t = audience_salts
        found: str | None = self.conn.scalar(sa.select(t.c.salt).where(t.c.day == day))
        if found is None:
            found = secrets.token_hex(32)
            self.conn.execute(t.insert().values(day=day, salt=found))
        return found

    def drop_salts(self, before: date) -> None:
        """Forget the salts of the days before `before` (over: no new hash needs them)."""
        self.conn.execute(audience_salts.delete().where(audience_salts.c.day < before))

    def add_polls(self, rows: Iterable[Polls]) -> None:
        t = audience_polls
        for row in rows:
            key = (t.c.day == row.day) & (t.c.feed == row.feed)
            added = {
                "polls": t.c.polls + row.polls,
                "not_modified": t.c.not_modified + row.not_modified,
                "bytes": t.c.bytes + row.bytes,
            }
            if not self.conn.execute(t.update().where(key).values(**added)).rowcount:
                self.conn.execute(t.insert().values(**row._asdict()))

    def put_reporters(self, rows: Iterable[Reporter]) -> None:
        """Keep each aggregator key's figure, unless a later one is stored already."""
        t = audience_reporters
        for row in rows:
            key = (t.c.feed == row.feed) & (t.c.reader == row.reader) & (t.c.key == row.key)
            stored = self.conn.scalar(sa.select(t.c.last_seen).where(key))
            if stored is None:
                self.conn.execute(t.insert().values(**row._asdict()))
            elif stored <= row.last_seen:
                values = {"subscribers": row.subscribers, "last_seen": row.last_seen}
                self.conn.execute(t.update().where(key).values(**values))

    def add_visitors(self, day: date, feed: str, reader: str, hashes: set[str]) -> None:
        """Note these clients of `reader` as having polled `feed` on `day` (once each)."""
        t = audience_visitors
        where = (t.c.day == day) & (t.c.feed == feed) & (t.c.reader == reader)
        wanted = sorted(hashes)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            known = set(self.conn.scalars(sa.select(t.c.hash).where(where, t.c.hash.in_(chunk))))
            new = [
                {"day": day, "feed": feed, "reader": reader, "hash": h}
                for h in chunk
                if h not in known
            ]
            if new:
                self.conn.execute(t.insert(), new)

    def forget_audience(self, before_day: date, before: datetime) -> None:
        """Delete the figures of days before `before_day`, and aggregators last seen before
        `before` (FEEDS_STATS_DAYS)."""
        self.conn.execute(audience_polls.delete().where(audience_polls.c.day < before_day))
        self.conn.execute(audience_visitors.delete().where(audience_visitors.c.day < before_day))
        self.conn.execute(
            audience_reporters.delete().where(audience_reporters.c.last_seen < before)
        )
