"""The hub worker (`feeds hub run`, and beside `feeds serve`): one asyncio loop that

- dispatches: turns the outbox (feeds.store.hub: one row per write transaction that changed
  documents) and the topics that time alone may have changed into deliveries and pings.
  Each candidate topic is rendered as a GET of it answers (feeds.web.topics); only topics
  whose ETag moved since the hub last saw them are notified. One process at a time
  dispatches (Store.hub_dispatch), so topics are compared in the order changes happen;
- verifies subscribe and unsubscribe requests (WebSub §5.3) and sends denials (§5.2);
- delivers (§7): POSTs each topic's whole document to its subscribers, signed with
  X-Hub-Signature sha256 when the subscriber gave a secret, retrying failures with
  exponential backoff until the lease ends; many at a time, none waiting for another;
- pings external hubs (FEEDS_HUBS) with hub.mode=publish, ten topics a request.

Every row of work is claimed for twice FEEDS_HUB_TIMEOUT and half a minute, longer than its
request may take, and only when it can start at once: a worker that dies holding one leaves
it to be taken again when the claim runs out. Verifications (strangers' callbacks) may take
a quarter of the worker's FEEDS_HUB_CONCURRENCY slots, deliveries to subscribers whose last
attempt failed half of the rest, so that slow strangers never hold up good subscribers.
Times of work are the wall clock's; documents are rendered at the documents' time
(FEEDS_CLOCK when set).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Flask

from feeds import metrics
from feeds.errors import StoreError
from feeds.model import Delivery, HubRequest, TopicState
from feeds.store.hub import ABSENT, HubWrites
from feeds.text import shown
from feeds.web import topics
from feeds.web.service import Service

from .net import Failed, Net, Refused

log = logging.getLogger("feeds.push")

POLL_S = 0.05  # how often the store is asked for new work while there is none
EXPIRE_S = 60.0  # how often ended leases are cleared
MAX_WAIT = 3600  # the longest wait between two attempts of one delivery, in seconds
PING_ATTEMPTS = 12  # attempts of one ping before it is given up
PINGS_AT_ONCE = 8  # pings of external hubs under way at once
LATENCIES = 10_000
RESPONSE_LIMIT = 64 * 1024  # bytes of a subscriber's or hub's answer read


def wall() -> datetime:
    return datetime.now(UTC)


def signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature of `body` (WebSub §7.1)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(first: int, attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure (1, 2, ...): `first`, doubling, at most an hour."""
    return timedelta(seconds=min(MAX_WAIT, first * 2 ** min(attempts - 1, 20)))


@dataclass
class Counts:
    """What the worker did since it started (printed by `feeds hub run` as it stops)."""

    delivered: int = 0
    failed: int = 0
    verified: int = 0
    refused: int = 0
    pings: int = 0
    dispatches: int = 0
    # Seconds from a change found to its delivery answered, the latest LATENCIES of them.
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCIES))


@dataclass(frozen=True)
class _Outcome:
    delivery: Delivery
    ok: bool
    gone: bool
    error: str


@dataclass(frozen=True)
class _Verified:
    request: HubRequest
    ok: bool
    error: str


class Worker:
    """One hub worker over the app's store and settings."""

    def __init__(self, app: Flask, alive: Callable[[], bool] | None = None) -> None:
        self.svc = Service.of(app)
        self.settings = self.svc.settings
        self.store = self.svc.store
        self.counts = Counts()
        self._alive = alive or (lambda: True)
        self._inflight: set[asyncio.Task[None]] = set()
        self._running: Counter[str] = Counter()  # requests under way, by kind
        # Longer than any request may take: a claim never runs out while its request runs.
        self.claim = timedelta(seconds=2 * self.settings.hub_timeout + 30)
        self._outcomes: list[_Outcome] = []
        self._verified: list[_Verified] = []
        self._pinged: list[tuple[str, list[str], int, bool]] = []
        self._expired_at = 0.0
        self._full = True  # the first dispatch looks at every subscribed topic

    # The loop

    async def run(self, stop: asyncio.Event) -> None:
        async with Net(self.settings) as net:
            self.net = net
            while not stop.is_set() and self._alive():
                try:
                    worked = await self.step()
                except StoreError as e:  # busy or unavailable: try again soon
                    log.warning("hub: %s", e)
                    worked = False
                    await _sleep(stop, 1.0)
                except Exception:  # a defect: said, and the worker goes on
                    log.exception("hub: a round of work failed")
                    worked = False
                    await _sleep(stop, 1.0)
                if not worked:
                    await _sleep(stop, POLL_S)
            await self._drain()

    async def step(self) -> bool:
        """One round of every kind of work; whether there was any."""
        worked = await asyncio.to_thread(self.dispatch)
        now = wall()
        total = self.settings.hub_concurrency
        running = self._running
        verifying = max(1, total // 4) - running["verify"]
        delivering = total - running["verify"] - running["deliver"] - running["ping"]
        failing = max(1, (total - total // 4) // 2) - running["retry"]
        pinging = PINGS_AT_ONCE - running["ping"]
        requests: list[HubRequest] = []
        deliveries: list[Delivery] = []
        pings: list[tuple[str, list[str], int]] = []
        with self.store.read() as reader:  # a read: claims take the writers' turn on SQLite
            next_due = reader.next_due(now)
        if next_due is not None and next_due <= now:
            with self.store.hub() as hub:
                if verifying > 0:
                    requests = hub.claim_requests(now, verifying, self.claim)
                if delivering > 0:
                    deliveries = hub.claim_deliveries(now, delivering, self.claim, max(0, failing))
                if pinging > 0 and self.settings.external_hubs:
                    pings = hub.claim_pings(now, self.claim)[:pinging]
        for request in requests:
            self._spawn(self._verify(request), "verify")
        for delivery in deliveries:
            self._spawn(self._deliver(delivery), "retry" if delivery.attempts else "deliver")
        for hub_url, names, attempts in pings:
            self._spawn(self._ping(hub_url, names, attempts), "ping")
        worked = worked or bool(requests or deliveries or pings)
        await asyncio.sleep(0)  # let the new requests start before recording the done ones
        worked = self._record() or worked
        if time.monotonic() - self._expired_at > EXPIRE_S:
            self._expired_at = time.monotonic()
            keep = bool(self.settings.external_hubs)
            with self.store.read() as reader:  # a write only when there is something to do:
                due = reader.anything_to_expire(wall(), keep)  # it takes the writers' turn
            if due:
                with self.store.hub() as hub:
                    hub.expire(wall(), keep_topics=keep)
        return worked

    def _spawn(self, work: Coroutine[Any, Any, None], kind: str) -> None:
        task = asyncio.ensure_future(work)
        self._inflight.add(task)
        self._running[kind] += 1
        if kind == "retry":
            self._running["deliver"] += 1  # retries are deliveries too

        def done(finished: asyncio.Task[None]) -> None:
            self._inflight.discard(finished)
            self._running[kind] -= 1
            if kind == "retry":
                self._running["deliver"] -= 1
            if not finished.cancelled() and finished.exception() is not None:
                log.error("hub: a %s failed", kind, exc_info=finished.exception())

        task.add_done_callback(done)

    async def _drain(self) -> None:
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=self.settings.hub_timeout + 1)
        self._record()

    # Dispatch

    def dispatch(self) -> bool:
        """Turn the outbox and due rechecks into deliveries and pings; whether there was
        anything to look at. Runs in a thread: rendering is not asynchronous."""
        with self.store.hub_dispatch() as mine:
            if not mine:
                return False
            return self._dispatch()

    def _dispatch(self) -> bool:
        now, at = self.settings.now(), wall()
        external = self.settings.external_hubs
        full, self._full = self._full, False
        with self.store.read() as reader:
            pending = reader.pending_changes()
            due = reader.due_rechecks(now)
            if pending is None and not due and not full:
                return False
            subscribed = reader.subscribed_topics(at)
            places = None
            if pending is not None and pending[1] is not None:
                places = reader.places_of_articles(pending[1])
            sections = reader.sections(now) if pending and pending[1] is None else []
        changed: dict[str, topics.Topic] = {}  # topics a change may have touched
        if pending is not None:
            if places is None:  # too many articles to name: every document
                keys = topics.keys_of_places(["*", *(f"s:{s}" for s in sections)])
            else:
                keys = topics.keys_of_places(places)
            for topic in topics.topics_of(self.svc, keys):
                if (external and topic.partner is None) or topic.url in subscribed:
                    changed[topic.url] = topic
            for url in subscribed:  # partners' topics (their sections), authors of a bulk
                if url not in changed and (places is None or "/partners/" in url):
                    found = topics.topic(self.svc, url)
                    if found is not None:
                        changed[url] = found
        looked: dict[str, topics.Topic] = dict(changed)
        for url in [*due, *(subscribed if full else [])]:
            if url not in looked and (found := topics.topic(self.svc, url)) is not None:
                looked[url] = found
        rendered = [(t, topics.render(self.svc, t, now)) for t in looked.values()]
        # A topic with no document now (a section whose one article is under embargo, a
        # partner gone) is kept as absent, looked at again when the next embargo ends.
        release = None
        if any(document is None for _, document in rendered):
            with self.store.read() as reader:
                release = reader.next_release(now)
        if not rendered and pending is None:
            return True  # nothing to compare or drop: no write (it takes the writers' turn)
        with self.store.hub() as hub:
            known = hub.topic_etags(looked)
            for topic, document in rendered:
                self._compare(
                    hub, topic, document, known.get(topic.url), topic.url in changed, at, release
                )
            if pending is not None:
                hub.drop_changes(pending[0])
        self.counts.dispatches += 1
        return True

    def _compare(
        self,
        hub: HubWrites,
        topic: topics.Topic,
        document: topics.TopicDocument | None,
        known: str | None,
        changed: bool,
        at: datetime,
        release: datetime | None,
    ) -> None:
        url = topic.url
        if document is None:
            # Nothing to deliver: deliveries that wait for it go (they would carry bytes no
            # GET answers), and the topic is absent until a document appears.
            if known != ABSENT:
                hub.drop_deliveries(url)
                hub.put_topic(TopicState(url, ABSENT, "", "", b"", at, release))
            else:
                hub.set_recheck(url, release)
            return
        if document.etag == known:
            hub.set_recheck(url, document.changes)
            return
        hub.put_topic(_state(url, document, at))
        # A topic seen for the first time is notified only when a change named it: one
        # found otherwise (the first look at subscribed topics) is where later ones start.
        # One that was absent is notified when its document appears.
        if known is not None or changed:
            made = hub.want_deliveries(url, document.etag, at)
            if topic.partner is None:  # external hubs are told of public topics alone
                hub.want_pings(self.settings.external_hubs, url, at)
            log.info("hub: %s changed; %d deliveries", url, made)

    # Verification (WebSub §5.3) and denial (§5.2)

    async def _verify(self, request: HubRequest) -> None:
        params = [("hub.mode", request.mode), ("hub.topic", request.topic)]
        challenge = secrets.token_urlsafe(32)
        if request.mode == "denied":
            params.append(("hub.reason", request.reason or "denied"))
        else:
            params.append(("hub.challenge", challenge))
            if request.mode == "subscribe":
                params.append(("hub.lease_seconds", str(request.lease_seconds)))
        try:
            answer = await self.net.request(
                "GET", request.callback, params=params, limit=RESPONSE_LIMIT
            )
        except (Refused, Failed) as e:
            self._verified.append(_Verified(request, False, str(e)))
            return
        ok = 200 <= answer.status < 300
        if request.mode != "denied":
            ok = ok and answer.body.strip() == challenge.encode()
        error = "" if ok else f"answered {answer.status} without the challenge"
        self._verified.append(_Verified(request, ok, error))

    def _record_verified(self, done: list[_Verified]) -> None:
        now, at = self.settings.now(), wall()
        baselines: dict[str, topics.TopicDocument | None] = {}
        for item in done:
            request = item.request
            found = topics.topic(self.svc, request.topic)
            if item.ok and request.mode == "subscribe" and found is not None:
                if found.url not in baselines:
                    baselines[found.url] = topics.render(self.svc, found, now)
        with self.store.hub() as hub:
            for item in done:
                request = item.request
                if not hub.drop_request(request):
                    # Withdrawn while it was verified (its partner's token was revoked or
                    # rotated) or recorded already: it makes, renews or ends nothing.
                    continue
                found = topics.topic(self.svc, request.topic)
                if request.mode != "denied":
                    metrics.VERIFICATIONS.labels("ok" if item.ok else "refused").inc()
                if not item.ok or request.mode == "denied" or found is None:
                    self.counts.refused += not item.ok
                    if not item.ok:
                        log.info(
                            "hub: %s of %s not verified: %s",
                            request.mode,
                            request.callback,
                            item.error,
                        )
                    continue
                self.counts.verified += 1
                if request.mode == "unsubscribe":
                    hub.unsubscribe(found.url, request.callback)
                    continue
                if request.partner is not None and not self._partner_active(request.partner):
                    continue
                hub.subscribe(
                    found.url,
                    request.callback,
                    request.secret,
                    request.lease_seconds,
                    request.partner,
                    at,
                )
                document = baselines.get(found.url)
                if document is not None and hub.topic_state(found.url) is None:
                    hub.put_topic(_state(found.url, document, at))

    def _partner_active(self, name: str) -> bool:
        with self.store.read() as reader:
            partner = reader.partner(name)
        return partner is not None and partner.revoked is None

    # Delivery (WebSub §7)

    async def _deliver(self, delivery: Delivery) -> None:
        subscription, topic = delivery.subscription, delivery.topic
        headers = {"Content-Type": topic.media_type, "Link": topic.links}
        if subscription.secret:
            headers["X-Hub-Signature"] = signature(subscription.secret, topic.body)
        try:
            answer = await self.net.request(
                "POST",
                subscription.callback,
                content=topic.body,
                headers=headers,
                limit=RESPONSE_LIMIT,
            )
        except (Refused, Failed) as e:
            self._outcomes.append(_Outcome(delivery, False, False, str(e)))
            return
        ok = 200 <= answer.status < 300
        latency = (wall() - delivery.made).total_seconds()
        self.counts.latencies.append(latency)
        metrics.DELIVERY_SECONDS.observe(latency)
        error = "" if ok else f"answered {answer.status}"
        self._outcomes.append(_Outcome(delivery, ok, answer.status == 410, error))

    # Pings of external hubs

    async def _ping(self, hub_url: str, names: list[str], attempts: int) -> None:
        form = [("hub.mode", "publish")]
        form += [("hub.url", name) for name in names] + [("hub.topic", name) for name in names]
        body = urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        try:
            answer = await self.net.request(
                "POST", hub_url, content=body, headers=headers, limit=RESPONSE_LIMIT
            )
            ok = 200 <= answer.status < 300
            error = f"answered {answer.status}"
        except (Refused, Failed) as e:
            ok, error = False, str(e)
        if not ok:
            log.warning("hub: ping of %s failed: %s", hub_url, error)
        self._pinged.append((hub_url, names, attempts, ok))

    # Recording what was done

    def _record(self) -> bool:
        outcomes, self._outcomes = self._outcomes, []
        verified, self._verified = self._verified, []
        pinged, self._pinged = self._pinged, []
        if verified:
            with self.store.hub_dispatch() as mine:  # baselines in the order of changes
                if mine:
                    self._record_verified(verified)
                else:
                    self._verified.extend(verified)
        if not (outcomes or pinged):
            return bool(verified)
        at = wall()
        first = self.settings.hub_retry
        with self.store.hub() as hub:
            for outcome in outcomes:
                sid = outcome.delivery.subscription.id
                metrics.DELIVERIES.labels(_result(outcome)).inc()
                if outcome.ok:
                    self.counts.delivered += 1
                    hub.delivered(sid, outcome.delivery.topic.etag)
                elif outcome.gone:
                    hub.end_subscription(sid)
                else:
                    self.counts.failed += 1
                    due = at + backoff(first, outcome.delivery.attempts + 1)
                    if due >= outcome.delivery.subscription.expires:
                        hub.drop_delivery(sid)  # the lease ends first: no more tries
                    else:
                        hub.failed(sid, outcome.delivery.topic.etag, due, outcome.error)
                    log.info(
                        "hub: delivery to %s failed (%s)",
                        shown(outcome.delivery.subscription.callback),
                        outcome.error,
                    )
            for hub_url, names, attempts, ok in pinged:
                metrics.PINGS.labels("ok" if ok else "failed").inc()
                if ok:
                    self.counts.pings += 1
                    hub.pinged(hub_url, names)
                else:
                    again = attempts + 1 < PING_ATTEMPTS
                    hub.ping_failed(
                        hub_url, names, at + backoff(first, attempts + 1) if again else None
                    )
        return True


def _result(outcome: _Outcome) -> str:
    return "delivered" if outcome.ok else "gone" if outcome.gone else "failed"


def _state(url: str, document: topics.TopicDocument, at: datetime) -> TopicState:
    return TopicState(
        topic=url,
        etag=document.etag,
        media_type=document.media_type,
        links=document.links,
        body=document.body,
        changed=at,
        recheck=document.changes,
    )


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


def parent_alive(parent: int) -> Callable[[], bool]:
    """Whether the process that started this one still runs (a worker beside `feeds serve`
    ends with it, even after kill -9)."""
    return lambda: os.getppid() == parent
