"""Statements of the built-in WebSub hub (feeds.push): requests waiting for verification,
subscriptions, the outbox of changes, topics as last seen, deliveries and pings to external
hubs. Work is claimed for a while (`claimed_until`) by one worker: on PostgreSQL with FOR
UPDATE SKIP LOCKED, so that workers on any number of machines never take the same row; on
SQLite, where writers take turns, by the claim itself.

Every time here is the wall clock's, given by the caller, but `recheck` (the documents' time).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feeds.model import Delivery, HubRequest, Subscription, TopicState

from .schema import (
    hub_changes,
    hub_deliveries,
    hub_pings,
    hub_requests,
    hub_subscriptions,
    hub_topics,
    placements,
)

# More articles than this in one transaction (a bulk import) are noted as "every topic".
MAX_NOTED = 10_000
PING_BATCH = 10  # topics per ping: Google's hub drops the ones after about ten
ABSENT = ""  # the ETag of a topic that has no document now


def note_change(conn: Connection, now: datetime, ids: set[str] | None) -> None:
    """The outbox row of a write transaction that changed what documents show (in it)."""
    named = None if ids is None or len(ids) > MAX_NOTED else json.dumps(sorted(ids))
    conn.execute(hub_changes.insert().values(at=now, articles=named))


R = TypeVar("R", Subscription, HubRequest)


def _record(cls: type[R], row: Any) -> R:
    """A record whose every field is the row's column of that name."""
    return cls(**{f.name: getattr(row, f.name) for f in dataclasses.fields(cls)})


def _subscription(row: Any) -> Subscription:
    return _record(Subscription, row)


def _topic(row: Any) -> TopicState:
    return TopicState(
        topic=row.topic,
        etag=row.etag,
        media_type=row.media_type,
        links=row.links,
        body=bytes(row.body),
        changed=row.changed,
        recheck=row.recheck,
    )


def end_partner_subscriptions(conn: Connection, partner: str) -> int:
    """End every subscription to the partner's topics, and forget its waiting requests (its
    token was revoked or rotated); how many subscriptions ended."""
    ids = sa.select(hub_subscriptions.c.id).where(hub_subscriptions.c.partner == partner)
    conn.execute(hub_deliveries.delete().where(hub_deliveries.c.subscription_id.in_(ids)))
    conn.execute(hub_requests.delete().where(hub_requests.c.partner == partner))
    return conn.execute(
        hub_subscriptions.delete().where(hub_subscriptions.c.partner == partner)
    ).rowcount


class HubReads:
    conn: Connection

    def subscriptions(self, topic: str | None = None) -> list[Subscription]:
        query = sa.select(hub_subscriptions).order_by(
            hub_subscriptions.c.topic, hub_subscriptions.c.id
        )
        if topic is not None:
            query = query.where(hub_subscriptions.c.topic == topic)
        return [_subscription(row) for row in self.conn.execute(query)]

    def subscription(self, topic: str, callback: str) -> Subscription | None:
        row = self.conn.execute(
            sa.select(hub_subscriptions).where(
                hub_subscriptions.c.topic == topic, hub_subscriptions.c.callback == callback
            )
        ).first()
        return None if row is None else _subscription(row)

    def subscribed_topics(self, now: datetime) -> set[str]:
        """Topics with a subscription whose lease has not ended."""
        return set(
            self.conn.scalars(
                sa.select(hub_subscriptions.c.topic)
                .where(hub_subscriptions.c.expires > now)
                .distinct()
            )
        )

    def topic_state(self, topic: str) -> TopicState | None:
        row = self.conn.execute(sa.select(hub_topics).where(hub_topics.c.topic == topic)).first()
        return None if row is None else _topic(row)

    def topic_etags(self, topics: Iterable[str]) -> dict[str, str]:
        wanted = list(topics)
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            rows = self.conn.execute(
                sa.select(hub_topics.c.topic, hub_topics.c.etag).where(
                    hub_topics.c.topic.in_(wanted[start : start + 500])
                )
            )
            found.update({row.topic: row.etag for row in rows})
        return found

    def due_rechecks(self, now: datetime) -> list[str]:
        """Topics that time alone may have changed by `now` (the documents' time)."""
        return list(
            self.conn.scalars(
                sa.select(hub_topics.c.topic).where(
                    hub_topics.c.recheck.is_not(None), hub_topics.c.recheck <= now
                )
            )
        )

    def pending_changes(self, limit: int = 1000) -> tuple[int, set[str] | None] | None:
        """The last outbox row of the oldest `limit`, and the articles they name together
        (None: every topic); None when the outbox is empty."""
        rows = self.conn.execute(
            sa.select(hub_changes.c.seq, hub_changes.c.articles)
            .order_by(hub_changes.c.seq)
            .limit(limit)
        ).all()
        if not rows:
            return None
        ids: set[str] | None = set()
        for row in rows:
            if row.articles is None:
                ids = None
            elif ids is not None:
                ids.update(json.loads(row.articles))
        return rows[-1].seq, ids

    def places_of_articles(self, ids: Iterable[str]) -> set[str]:
        """Every place the articles appear in or ever appeared in (placements are kept)."""
        wanted = list(ids)
        places: set[str] = set()
        for start in range(0, len(wanted), 500):
            places.update(
                self.conn.scalars(
                    sa.select(placements.c.place)
                    .where(placements.c.article_id.in_(wanted[start : start + 500]))
                    .distinct()
                )
            )
        return places

    def next_due(self, now: datetime) -> datetime | None:
        """When the next delivery, ping or request not claimed at `now` falls due."""
        moments = [
            self.conn.scalar(
                sa.select(sa.func.min(table.c.due)).where(
                    sa.or_(table.c.claimed_until.is_(None), table.c.claimed_until < now)
                )
            )
            for table in (hub_deliveries, hub_pings, hub_requests)
        ]
        return min((m for m in moments if m is not None), default=None)

    def anything_to_expire(self, now: datetime, keep_topics: bool = False) -> bool:
        """Whether `expire` would end or forget anything (a read: no writers' turn)."""
        ended = self.conn.scalar(
            sa.select(hub_subscriptions.c.id).where(hub_subscriptions.c.expires <= now).limit(1)
        )
        if ended is not None or keep_topics:
            return ended is not None
        unfollowed = self.conn.scalar(
            sa.select(hub_topics.c.topic)
            .where(hub_topics.c.topic.not_in(sa.select(hub_subscriptions.c.topic)))
            .limit(1)
        )
        return unfollowed is not None

    def waiting_deliveries(self) -> dict[int, tuple[int, str | None]]:
        """Subscription id -> (failed attempts, last error) of each waiting delivery."""
        d = hub_deliveries
        rows = self.conn.execute(sa.select(d.c.subscription_id, d.c.attempts, d.c.error))
        return {row.subscription_id: (row.attempts, row.error) for row in rows}

    def backlog(self) -> dict[str, int]:
        """How many rows wait in each queue."""
        return {
            name: int(self.conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
            for name, table in (
                ("changes", hub_changes),
                ("requests", hub_requests),
                ("deliveries", hub_deliveries),
                ("pings", hub_pings),
            )
        }


class HubWrites(HubReads):
    """Statements inside a hub transaction (Store.hub)."""

    def __init__(self, conn: Connection, postgres: bool) -> None:
        self.conn = conn
        self.postgres = postgres

    def _claimable(self, query: Any) -> Any:
        return query.with_for_update(skip_locked=True) if self.postgres else query

    # Requests

    def add_request(
        self,
        mode: str,
        topic: str,
        callback: str,
        now: datetime,
        *,
        secret: str | None = None,
        lease_seconds: int = 0,
        partner: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.conn.execute(
            hub_requests.insert().values(
                mode=mode,
                topic=topic,
                callback=callback,
                secret=secret,
                lease_seconds=lease_seconds,
                partner=partner,
                reason=reason,
                at=now,
                due=now,
            )
        )

    def claim_requests(self, now: datetime, limit: int, hold: timedelta) -> list[HubRequest]:
        """Up to `limit` due requests, oldest first, held for this worker for `hold`."""
        table = hub_requests
        free = sa.or_(table.c.claimed_until.is_(None), table.c.claimed_until < now)
        rows = self.conn.execute(
            self._claimable(
                sa.select(table).where(table.c.due <= now, free).order_by(table.c.id).limit(limit)
            )
        ).all()
        if rows:
            self.conn.execute(
                table.update()
                .where(table.c.id.in_([r.id for r in rows]))
                .values(claimed_until=now + hold)
            )
        return [_record(HubRequest, r) for r in rows]

    def drop_request(self, request: HubRequest) -> bool:
        """Forget a request; whether it was still there (a revoked or rotated partner token
        withdraws its requests, verified or not: see end_partner_subscriptions). It is known
        by more than its id, which SQLite gives again once the newest row is gone."""
        t = hub_requests
        done = self.conn.execute(
            t.delete().where(
                t.c.id == request.id, t.c.callback == request.callback, t.c.at == request.at
            )
        )
        return bool(done.rowcount)

    # Subscriptions

    def subscribe(
        self,
        topic: str,
        callback: str,
        secret: str | None,
        lease_seconds: int,
        partner: str | None,
        now: datetime,
    ) -> Subscription:
        """Make or renew the subscription of (topic, callback): its secret and lease are the
        verified request's."""
        values = {
            "secret": secret,
            "lease_seconds": lease_seconds,
            "expires": now + timedelta(seconds=lease_seconds),
            "partner": partner,
            "renewed": now,
        }
        key = (hub_subscriptions.c.topic == topic) & (hub_subscriptions.c.callback == callback)
        done = self.conn.execute(hub_subscriptions.update().where(key).values(**values))
        if not done.rowcount:
            self.conn.execute(
                hub_subscriptions.insert().values(
                    topic=topic, callback=callback, created=now, **values
                )
            )
        found = self.subscription(topic, callback)
        assert found is not None
        return found

    def unsubscribe(self, topic: str, callback: str) -> bool:
        found = self.subscription(topic, callback)
        if found is None:
            return False
        self._end(found.id)
        return True

    def _end(self, subscription_id: int) -> None:
        self.conn.execute(
            hub_deliveries.delete().where(hub_deliveries.c.subscription_id == subscription_id)
        )
        self.conn.execute(
            hub_subscriptions.delete().where(hub_subscriptions.c.id == subscription_id)
        )

    def end_subscription(self, subscription_id: int) -> None:
        """End a subscription (its callback answered 410 Gone)."""
        self._end(subscription_id)

    def expire(self, now: datetime, keep_topics: bool = False) -> int:
        """End the subscriptions whose lease has ended; how many. Unless `keep_topics`
        (external hubs are pinged for every topic), topics no one subscribes to any more
        are forgotten: nothing looks at them again until a subscription asks."""
        ended = sa.select(hub_subscriptions.c.id).where(hub_subscriptions.c.expires <= now)
        self.conn.execute(
            hub_deliveries.delete().where(hub_deliveries.c.subscription_id.in_(ended))
        )
        count = self.conn.execute(
            hub_subscriptions.delete().where(hub_subscriptions.c.expires <= now)
        ).rowcount
        if not keep_topics:
            self.conn.execute(
                hub_topics.delete().where(
                    hub_topics.c.topic.not_in(sa.select(hub_subscriptions.c.topic))
                )
            )
        return int(count)

    # The outbox and topics

    def drop_changes(self, upto: int) -> None:
        self.conn.execute(hub_changes.delete().where(hub_changes.c.seq <= upto))

    def put_topic(self, state: TopicState) -> None:
        values = {
            "etag": state.etag,
            "media_type": state.media_type,
            "links": state.links,
            "body": state.body,
            "changed": state.changed,
            "recheck": state.recheck,
        }
        key = hub_topics.c.topic == state.topic
        if not self.conn.execute(hub_topics.update().where(key).values(**values)).rowcount:
            self.conn.execute(hub_topics.insert().values(topic=state.topic, **values))

    def set_recheck(self, topic: str, recheck: datetime | None) -> None:
        self.conn.execute(
            hub_topics.update().where(hub_topics.c.topic == topic).values(recheck=recheck)
        )

    def drop_topic(self, topic: str) -> None:
        self.conn.execute(hub_topics.delete().where(hub_topics.c.topic == topic))

    # Deliveries

    def want_deliveries(self, topic: str, etag: str, now: datetime) -> int:
        """Make every current subscriber of `topic` due for a delivery of its bytes (etag)
        now; a delivery already waiting is brought forward and will carry them. How many."""
        ids = list(
            self.conn.scalars(
                sa.select(hub_subscriptions.c.id).where(
                    hub_subscriptions.c.topic == topic, hub_subscriptions.c.expires > now
                )
            )
        )
        if not ids:
            return 0
        waiting = set(
            self.conn.scalars(
                sa.select(hub_deliveries.c.subscription_id).where(
                    hub_deliveries.c.subscription_id.in_(ids)
                )
            )
        )
        # Failed attempts are kept: a subscriber that keeps failing is tried at once on a
        # change (WebSub §7), but after those that answer (claim_deliveries).
        fresh = {"etag": etag, "due": now, "made": now}
        if waiting:
            self.conn.execute(
                hub_deliveries.update()
                .where(hub_deliveries.c.subscription_id.in_(waiting))
                .values(**fresh)
            )
        new = [{"subscription_id": i, "attempts": 0, **fresh} for i in ids if i not in waiting]
        if new:
            self.conn.execute(hub_deliveries.insert(), new)
        return len(ids)

    def claim_deliveries(
        self, now: datetime, limit: int, hold: timedelta, failing: int | None = None
    ) -> list[Delivery]:
        """Up to `limit` due deliveries, held for this worker for `hold`, with what to send:
        those to subscribers whose last attempt succeeded first, then at most `failing` (by
        default, any number) to subscribers whose last attempt failed."""
        d, s, t = hub_deliveries, hub_subscriptions, hub_topics
        free = sa.or_(d.c.claimed_until.is_(None), d.c.claimed_until < now)
        # Deliveries whose lease has ended go with their subscription (expire), never out.
        current = d.c.subscription_id.in_(
            sa.select(s.c.id)
            .join(t, t.c.topic == s.c.topic)
            .where(s.c.expires > now, t.c.etag != ABSENT)
        )
        query = sa.select(d.c.subscription_id).where(d.c.due <= now, free, current)
        healthy = query.where(d.c.attempts == 0).order_by(d.c.due).limit(limit)
        picked = list(self.conn.scalars(self._claimable(healthy)))
        rest = limit - len(picked) if failing is None else min(failing, limit - len(picked))
        if rest > 0:
            retried = query.where(d.c.attempts > 0).order_by(d.c.due).limit(rest)
            picked += self.conn.scalars(self._claimable(retried))
        if not picked:
            return []
        self.conn.execute(
            d.update().where(d.c.subscription_id.in_(picked)).values(claimed_until=now + hold)
        )
        rows = self.conn.execute(
            sa.select(s, d.c.attempts, d.c.made)
            .select_from(d.join(s, s.c.id == d.c.subscription_id))
            .where(d.c.subscription_id.in_(picked))
        ).all()
        # Each topic's row read once: its subscribers share its bytes (a feed of hundreds of
        # kilobytes, to thousands of them).
        states = {
            row.topic: _topic(row)
            for row in self.conn.execute(
                sa.select(t).where(t.c.topic.in_({row.topic for row in rows}))
            )
        }
        return [
            Delivery(
                subscription=_subscription(row),
                topic=states[row.topic],
                attempts=row.attempts,
                made=row.made,
            )
            for row in rows
            if row.topic in states
        ]

    def delivered(self, subscription_id: int, etag: str) -> None:
        """A delivery of the bytes `etag` succeeded: done, unless newer ones wait."""
        d = hub_deliveries
        key = d.c.subscription_id == subscription_id
        self.conn.execute(d.delete().where(key, d.c.etag == etag))
        self.conn.execute(d.update().where(key).values(claimed_until=None))

    def failed(self, subscription_id: int, etag: str, due: datetime, error: str) -> None:
        """A delivery of the bytes `etag` failed: tried again at `due`; at once, when newer
        bytes came meanwhile (a change the subscriber has not been sent)."""
        d = hub_deliveries
        key = d.c.subscription_id == subscription_id
        self.conn.execute(
            d.update()
            .where(key, d.c.etag == etag)
            .values(attempts=d.c.attempts + 1, due=due, claimed_until=None, error=error[:500])
        )
        self.conn.execute(
            d.update().where(key, d.c.etag != etag).values(claimed_until=None, error=error[:500])
        )

    def drop_deliveries(self, topic: str) -> None:
        """Forget the deliveries that wait for `topic`'s subscribers."""
        ids = sa.select(hub_subscriptions.c.id).where(hub_subscriptions.c.topic == topic)
        self.conn.execute(hub_deliveries.delete().where(hub_deliveries.c.subscription_id.in_(ids)))

    def drop_delivery(self, subscription_id: int) -> None:
        self.conn.execute(
            hub_deliveries.delete().where(hub_deliveries.c.subscription_id == subscription_id)
        )

    # Pings of external hubs

    def want_pings(self, hubs: Sequence[str], topic: str, now: datetime) -> None:
        for hub in hubs:
            key = (hub_pings.c.hub == hub) & (hub_pings.c.topic == topic)
            moved = self.conn.execute(
                hub_pings.update().where(key).values(due=now, attempts=0, claimed_until=None)
            )
            if not moved.rowcount:
                self.conn.execute(hub_pings.insert().values(hub=hub, topic=topic, due=now))

    def claim_pings(self, now: datetime, hold: timedelta) -> list[tuple[str, list[str], int]]:
        """Due pings, as (hub, up to PING_BATCH topics, attempts so far), held for `hold`."""
        p = hub_pings
        free = sa.or_(p.c.claimed_until.is_(None), p.c.claimed_until < now)
        rows = self.conn.execute(
            self._claimable(
                sa.select(p.c.hub, p.c.topic, p.c.attempts)
                .where(p.c.due <= now, free)
                .order_by(p.c.hub, p.c.topic)
                .limit(PING_BATCH * 20)
            )
        ).all()
        batches: dict[str, list[tuple[str, int]]] = {}
        for row in rows:
            batches.setdefault(row.hub, []).append((row.topic, row.attempts))
        claimed: list[tuple[str, list[str], int]] = []
        for hub, topics in batches.items():
            for start in range(0, len(topics), PING_BATCH):
                part = topics[start : start + PING_BATCH]
                names = [t for t, _ in part]
                self.conn.execute(
                    p.update()
                    .where(p.c.hub == hub, p.c.topic.in_(names))
                    .values(claimed_until=now + hold)
                )
                claimed.append((hub, names, max(a for _, a in part)))
        return claimed

    def pinged(self, hub: str, topics: Sequence[str]) -> None:
        p = hub_pings
        self.conn.execute(p.delete().where(p.c.hub == hub, p.c.topic.in_(list(topics))))

    def ping_failed(self, hub: str, topics: Sequence[str], due: datetime | None) -> None:
        """A ping failed: tried again at `due`, or given up (None)."""
        p = hub_pings
        where = (p.c.hub == hub) & p.c.topic.in_(list(topics))
        if due is None:
            self.conn.execute(p.delete().where(where))
        else:
            self.conn.execute(
                p.update()
                .where(where)
                .values(attempts=p.c.attempts + 1, due=due, claimed_until=None)
            )
