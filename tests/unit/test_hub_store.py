"""The hub's statements (feeds.store.hub) against a real store: claims that exclude each
other until they run out, one waiting delivery per subscription that carries the newest
bytes, leases that end, partners whose subscriptions end with their token, pings ten
topics at a time, and the outbox every write transaction leaves."""

from __future__ import annotations

from datetime import timedelta

from feeds.config import Settings
from feeds.model import Partner, TopicState
from feeds.store import Store
from feeds.store.hub import ABSENT, PING_BATCH, HubWrites
from tests.conftest import ImportFn
from tests.support import IMPORT_TIME, Content, article_text

NOW = IMPORT_TIME
HOLD = timedelta(seconds=120)
TOPIC = "https://news.example.com/feeds/world/atom.xml"
DAY = 86_400


def state(topic: str = TOPIC, etag: str = '"e1"') -> TopicState:
    return TopicState(topic, etag, "application/atom+xml", "", b"<feed/>", NOW, None)


def subscribed(hub: HubWrites, callback: str, lease: int = DAY, partner: str | None = None) -> int:
    return hub.subscribe(TOPIC, callback, None, lease, partner, NOW).id


def newer_while_on_its_way(hub: HubWrites) -> tuple[int, str]:
    """A subscriber whose delivery of "e1" is claimed when "e2" comes: its id, e1."""
    hub.put_topic(state())
    sid = subscribed(hub, "https://a.example/cb")
    hub.want_deliveries(TOPIC, '"e1"', NOW)
    (sent,) = hub.claim_deliveries(NOW, 10, HOLD)
    hub.put_topic(state(etag='"e2"'))
    hub.want_deliveries(TOPIC, '"e2"', NOW)
    return sid, sent.topic.etag


def test_a_claim_excludes_every_other_until_it_runs_out(store: Store, settings: Settings) -> None:
    other = Store(settings.database)  # another worker: its own connections
    with store.hub() as hub:
        hub.put_topic(state())
        subscribed(hub, "https://a.example/cb")
        hub.want_deliveries(TOPIC, '"e1"', NOW)
        hub.add_request("subscribe", TOPIC, "https://b.example/cb", NOW, lease_seconds=DAY)
        hub.want_pings(["https://hub.example/"], TOPIC, NOW)
    with store.hub() as hub:
        assert len(hub.claim_deliveries(NOW, 10, HOLD)) == 1
        assert len(hub.claim_requests(NOW, 10, HOLD)) == 1
        assert len(hub.claim_pings(NOW, HOLD)) == 1
    later = NOW + HOLD - timedelta(seconds=1)
    with other.hub() as hub:
        assert hub.claim_deliveries(later, 10, HOLD) == []
        assert hub.claim_requests(later, 10, HOLD) == []
        assert hub.claim_pings(later, HOLD) == []
        assert hub.next_due(later) is None
    after = NOW + HOLD + timedelta(seconds=1)  # the first worker died holding them
    with other.hub() as hub:
        assert [d.subscription.callback for d in hub.claim_deliveries(after, 10, HOLD)] == [
            "https://a.example/cb"
        ]
        assert [r.callback for r in hub.claim_requests(after, 10, HOLD)] == ["https://b.example/cb"]
        assert hub.claim_pings(after, HOLD) == [("https://hub.example/", [TOPIC], 0)]
    other.close()


def test_changes_while_a_delivery_waits_make_one_delivery_of_the_newest(store: Store) -> None:
    with store.hub() as hub:
        hub.put_topic(state())
        sid = subscribed(hub, "https://a.example/cb")
        assert hub.want_deliveries(TOPIC, '"e1"', NOW) == 1
        hub.failed(sid, '"e1"', NOW + timedelta(hours=1), "answered 500")
        hub.put_topic(state(etag='"e2"'))
        assert hub.want_deliveries(TOPIC, '"e2"', NOW + timedelta(seconds=5)) == 1
        # Due now, its failures kept: it is tried at once, after subscribers that answer.
        assert hub.waiting_deliveries() == {sid: (1, "answered 500")}
        (delivery,) = hub.claim_deliveries(NOW + timedelta(seconds=5), 10, HOLD)
    assert delivery.topic.etag == '"e2"' and delivery.attempts == 1


def test_subscribers_that_answer_are_served_before_those_that_fail(store: Store) -> None:
    with store.hub() as hub:
        hub.put_topic(state())
        failing = [subscribed(hub, f"https://f{n}.example/cb") for n in range(3)]
        hub.want_deliveries(TOPIC, '"e1"', NOW)
        for sid in failing:
            hub.failed(sid, '"e1"', NOW, "answered 500")
        good = [subscribed(hub, f"https://g{n}.example/cb") for n in range(3)]
        hub.want_deliveries(TOPIC, '"e1"', NOW + timedelta(seconds=1))
        later = NOW + timedelta(seconds=1)
        first = hub.claim_deliveries(later, 4, HOLD, failing=1)
        ids = {d.subscription.id for d in first}
        assert len(first) == 4 and set(good) < ids and len(ids & set(failing)) == 1
        assert len(hub.claim_deliveries(later, 10, HOLD, failing=0)) == 0


def test_a_delivery_done_while_a_newer_change_came_leaves_the_newer_waiting(
    store: Store,
) -> None:
    with store.hub() as hub:
        sid, sent = newer_while_on_its_way(hub)
        hub.delivered(sid, sent)
        (again,) = hub.claim_deliveries(NOW, 10, HOLD)  # not held by the done one's claim
        assert again.topic.etag == '"e2"'
        hub.delivered(sid, '"e2"')
        assert hub.waiting_deliveries() == {}


def test_a_failed_delivery_waits_and_counts_its_attempts(store: Store) -> None:
    with store.hub() as hub:
        hub.put_topic(state())
        sid = subscribed(hub, "https://a.example/cb")
        hub.want_deliveries(TOPIC, '"e1"', NOW)
        hub.claim_deliveries(NOW, 10, HOLD)
        hub.failed(sid, '"e1"', NOW + timedelta(seconds=30), "answered 500")
        assert hub.waiting_deliveries() == {sid: (1, "answered 500")}
        assert hub.claim_deliveries(NOW + timedelta(seconds=29), 10, HOLD) == []
        (again,) = hub.claim_deliveries(NOW + timedelta(seconds=30), 10, HOLD)
    assert again.attempts == 1


def test_renewing_keeps_one_subscription_with_the_later_lease(store: Store) -> None:
    with store.hub() as hub:
        first = hub.subscribe(TOPIC, "https://a.example/cb", "s1", 60, None, NOW)
        later = NOW + timedelta(seconds=30)
        renewed = hub.subscribe(TOPIC, "https://a.example/cb", None, 600, None, later)
        assert [s.id for s in hub.subscriptions()] == [first.id] == [renewed.id]
    assert renewed.expires == later + timedelta(seconds=600)
    assert renewed.created == NOW and renewed.secret is None


def test_ended_leases_end_their_subscriptions_and_deliveries(store: Store) -> None:
    with store.hub() as hub:
        hub.put_topic(state())
        subscribed(hub, "https://short.example/cb", lease=60)
        kept = subscribed(hub, "https://long.example/cb", lease=DAY)
        assert hub.want_deliveries(TOPIC, '"e1"', NOW) == 2
        assert not hub.anything_to_expire(NOW + timedelta(seconds=59))
        assert hub.expire(NOW + timedelta(seconds=59)) == 0
        assert hub.anything_to_expire(NOW + timedelta(seconds=60))
        assert hub.expire(NOW + timedelta(seconds=60)) == 1
        assert not hub.anything_to_expire(NOW + timedelta(seconds=61))
        assert [s.id for s in hub.subscriptions()] == [kept]
        assert list(hub.waiting_deliveries()) == [kept]
        assert hub.subscribed_topics(NOW + timedelta(seconds=61)) == {TOPIC}
        assert hub.want_deliveries(TOPIC, '"e2"', NOW + timedelta(days=2)) == 0
        # Once no one follows a topic, it is forgotten, unless external hubs want all.
        hub.put_topic(state("https://news.example.com/feeds/uk/atom.xml"))
        assert hub.anything_to_expire(NOW, keep_topics=False)
        assert not hub.anything_to_expire(NOW, keep_topics=True)


def partner(name: str) -> Partner:
    return Partner(name, ("world",), "full", "", NOW, None, digest="d1")


def test_a_partners_subscriptions_end_when_its_token_is_rotated_or_revoked(
    store: Store,
) -> None:
    with store.write() as w:
        w.add_partner(partner("rotated"))
        w.add_partner(partner("revoked"))
        w.put_token("rotated", "publish", "t1", NOW)  # an API token of the same name
    with store.hub() as hub:
        hub.put_topic(state())
        for name in ("rotated", "revoked"):
            subscribed(hub, f"https://{name}.example/cb", partner=name)
            hub.add_request("subscribe", TOPIC, f"https://{name}.example/2", NOW, partner=name)
        hub.want_deliveries(TOPIC, '"e1"', NOW)
    with store.write() as w:
        assert w.revoke_token("rotated", NOW)  # a token is no partner: nothing ends
    with store.read() as reader:
        assert len(reader.subscriptions()) == 2
    with store.write() as w:
        assert w.set_partner_digest("rotated", "d2")
        assert w.revoke_partner("revoked", NOW)
    with store.hub() as hub:
        assert hub.subscriptions() == []
        assert hub.waiting_deliveries() == {}
        assert hub.claim_requests(NOW, 10, HOLD) == []


def test_pings_go_ten_topics_a_request(store: Store) -> None:
    topics = [f"https://news.example.com/feeds/s{n:02}/atom.xml" for n in range(25)]
    with store.hub() as hub:
        for topic in topics:
            hub.want_pings(["https://hub.example/"], topic, NOW)
        claimed = hub.claim_pings(NOW, HOLD)
    assert [len(names) for _, names, _ in claimed] == [PING_BATCH, PING_BATCH, 5]
    assert sorted(name for _, names, _ in claimed for name in names) == topics


def test_every_write_that_changes_documents_leaves_an_outbox_row(
    store: Store, run_import: ImportFn, content: Content
) -> None:
    content.write("world/a1.txt", article_text(title="One"))
    content.write("uk/a2.txt", article_text(title="Two"))
    run_import()
    run_import()  # nothing changed: no row
    content.write("world/a1.txt", article_text(title="One, corrected"))
    run_import()
    with store.read() as reader:
        last, named = reader.pending_changes() or (0, None)
        assert named == {"a1", "a2"}
        assert reader.backlog()["changes"] == 2
    with store.hub() as hub:
        hub.drop_changes(last)
        assert hub.pending_changes() is None


def test_a_delivery_that_fails_while_a_newer_change_came_sends_the_newer_at_once(
    store: Store,
) -> None:
    with store.hub() as hub:
        sid, sent = newer_while_on_its_way(hub)
        hub.failed(sid, sent, NOW + timedelta(hours=1), "answered 500")
        (again,) = hub.claim_deliveries(NOW, 10, HOLD)  # no backoff for the newer bytes
    assert again.topic.etag == '"e2"' and again.attempts == 0


def test_deliveries_of_a_topic_without_a_document_are_dropped_not_sent(store: Store) -> None:
    with store.hub() as hub:
        hub.put_topic(state())
        sid = subscribed(hub, "https://a.example/cb")
        hub.want_deliveries(TOPIC, '"e1"', NOW)
        hub.put_topic(state(etag=ABSENT))  # the document went
        assert hub.claim_deliveries(NOW, 10, HOLD) == []
        hub.drop_deliveries(TOPIC)
        assert hub.waiting_deliveries() == {}
    assert sid
