"""Audience figures in this process: the User-Agents of tests/agents.txt read as recorded,
the tally's rules (a 304 is a poll, an aggregator counts once per key with its latest figure,
other clients once a day, IPv6 by /64, a bound on what is held), what the flush writes, and
that a store that cannot be written loses no counts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from feeds.audience.agents import parse
from feeds.audience.figures import figures
from feeds.audience.flush import Audience
from feeds.audience.tally import DAY_S, Tally, network
from feeds.config import Settings
from feeds.store import Store
from tests.support import IMPORT_TIME, new_database

AGENTS = Path(__file__).parent.parent / "agents.txt"
BASE = "https://news.example.com"
FEED = "/feeds/rss.xml"
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
FEEDBIN_1 = "Feedbin feed-id:1373711 - 7 subscribers"
FEEDBIN_2 = "Feedbin feed-id:2287741 - 1 subscribers"
FEEDLY = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; {} subscribers; like FeedFetcher-Google)"
MINIFLUX = "Mozilla/5.0 (compatible; Miniflux/2.1.3; +https://miniflux.app)"


def recorded() -> list[tuple[str, int | None, str | None, str]]:
    cases = []
    for line in AGENTS.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        reader, count, feed_id, agent = (part.strip() for part in line.split(" | ", 3))
        cases.append(
            (
                reader,
                None if count == "-" else int(count),
                None if feed_id == "-" else feed_id,
                agent,
            )
        )
    return cases


@pytest.mark.parametrize(("reader", "count", "feed_id", "agent"), recorded())
def test_recorded_user_agents_read_as_expected(
    reader: str, count: int | None, feed_id: str | None, agent: str
) -> None:
    got = parse(agent)
    assert (got.reader, got.subscribers, got.feed_id) == (reader, count, feed_id)


def test_a_reporting_key_is_its_feed_id_else_the_agent_with_digits_masked() -> None:
    assert parse(FEEDBIN_1).key == "1373711"
    assert parse(FEEDLY.format(9)).key == parse(FEEDLY.format("1,234")).key
    assert "#" in parse(FEEDLY.format(9)).key and "9" not in parse(FEEDLY.format(9)).key


def test_an_unknown_client_is_named_by_its_first_token_bounded_and_clean() -> None:
    assert parse("x" * 500 + "/1.0").reader == "x" * 64
    assert parse("Evil\x1b[31mBot/1\n").reader == "Evil[31mBot"
    assert parse("").reader == "unknown"


def clocked(start: float = T0) -> tuple[Tally, list[float]]:
    now = [start]
    return Tally(clock=lambda: now[0]), now


def test_a_304_and_a_head_count_as_polls_and_bytes_add_up() -> None:
    tally, _ = clocked()
    tally.note(FEED, "192.0.2.1", MINIFLUX, 200, 1000)
    tally.note(FEED, "192.0.2.1", MINIFLUX, 304, 0)
    tally.note(FEED, "192.0.2.1", MINIFLUX, 200, 0)  # a HEAD
    batch = tally.take()
    assert batch.polls == {(int(T0 // DAY_S), FEED): [3, 1, 1000]}
    assert tally.take().empty()


def test_other_clients_count_once_a_day_and_ipv6_by_its_64() -> None:
    tally, now = clocked()
    for address in ("192.0.2.1", "192.0.2.1", "2001:db8:1:2::5", "2001:db8:1:2:ffff::9"):
        tally.note(FEED, address, MINIFLUX, 200, 10)
    assert network("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    now[0] += DAY_S
    tally.note(FEED, "192.0.2.1", MINIFLUX, 304, 0)
    batch = tally.take()
    day = int(T0 // DAY_S)
    assert {k: len(v) for k, v in batch.visitors.items()} == {
        (day, FEED, "Miniflux"): 2,
        (day + 1, FEED, "Miniflux"): 1,
    }


def test_past_the_cap_new_clients_go_uncounted_but_their_polls_count() -> None:
    tally = Tally(max_visitors=2, clock=lambda: T0)
    for n in range(5):
        tally.note(FEED, f"192.0.2.{n}", MINIFLUX, 200, 1)
    batch = tally.take()
    assert batch.visitor_count == 2 and batch.dropped == 3
    assert batch.polls[(int(T0 // DAY_S), FEED)][0] == 5


def migrated(tmp_path: Path, name: str = "audience") -> Store:
    store = Store(new_database(tmp_path, name))
    store.migrate(IMPORT_TIME, "news.example.com,2020")
    return store


def now_of(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


def test_the_flush_writes_figures_each_aggregator_key_once_with_its_latest(
    tmp_path: Path,
) -> None:
    store = migrated(tmp_path)
    tally, now = clocked()
    audience = Audience(store, 60, 90, tally)
    tally.note(FEED, "198.51.100.1", FEEDLY.format(10), 200, 500)
    tally.note(FEED, "198.51.100.1", FEEDBIN_1, 304, 0)
    tally.note(FEED, "198.51.100.2", FEEDBIN_2, 304, 0)
    tally.note(FEED, "203.0.113.9", MINIFLUX, 200, 500)
    assert audience.flush()
    now[0] += 60
    tally.note(FEED, "198.51.100.1", FEEDLY.format("1,234"), 304, 0)  # the latest figure wins
    tally.note(FEED, "203.0.113.9", MINIFLUX, 304, 0)  # the same client, the same day
    tally.note(FEED, "203.0.113.10", "Newsboat/2.36 (Linux x86_64)", 200, 500)
    assert audience.flush()
    with store.read() as reader:
        (fig,) = figures(reader, now_of(now[0]), 7, BASE)
    assert (fig.feed, fig.polls, fig.not_modified, fig.bytes) == (FEED, 7, 4, 1500)
    assert (fig.reported, fig.others, fig.websub, fig.partners) == (1234 + 7 + 1, 2, 0, 0)
    assert fig.subscribers == 1234 + 8 + 2
    shown = {(r.reader, r.subscribers, r.reported) for r in fig.readers}
    assert shown == {
        ("Feedly", 1234, True),
        ("Feedbin", 8, True),
        ("Miniflux", 1, False),
        ("Newsboat", 1, False),
    }
    with store.read() as reader:
        assert figures(reader, now_of(now[0]), 7, BASE, "/feeds/atom.xml") == []
    store.close()


def test_other_clients_are_averaged_over_the_days_with_polls(tmp_path: Path) -> None:
    store = migrated(tmp_path)
    tally, now = clocked()
    audience = Audience(store, 60, 90, tally)
    for n in range(4):
        tally.note(FEED, f"192.0.2.{n}", MINIFLUX, 200, 1)
    now[0] += 2 * DAY_S  # a day without polls between
    for n in range(2):
        tally.note(FEED, f"192.0.2.{n}", MINIFLUX, 200, 1)
    assert audience.flush()
    with store.read() as reader:
        (fig,) = figures(reader, now_of(now[0]), 7, BASE)
        assert fig.others == 3
        (recent,) = figures(reader, now_of(now[0]), 1, BASE)
        assert recent.others == 2
    store.close()


def test_a_days_salt_is_gone_once_the_day_is_over(tmp_path: Path) -> None:
    store = migrated(tmp_path)
    tally, now = clocked()
    audience = Audience(store, 60, 90, tally)
    tally.note(FEED, "192.0.2.1", MINIFLUX, 200, 1)
    assert audience.flush()
    with store.audience() as writes:
        first = writes.salt(now_of(now[0]).date())
    now[0] += DAY_S
    tally.note(FEED, "192.0.2.1", MINIFLUX, 200, 1)
    assert audience.flush()
    rows = salts(store)
    assert [str(day) for day, _ in rows] == [str(now_of(now[0]).date())]
    assert first not in [salt for _, salt in rows]
    store.close()


def salts(store: Store) -> list[tuple[object, str]]:
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text("SELECT day, salt FROM audience_salts"))]


def test_figures_older_than_the_days_kept_are_deleted(tmp_path: Path) -> None:
    store = migrated(tmp_path)
    tally, now = clocked()
    audience = Audience(store, 60, 3, tally)
    tally.note(FEED, "192.0.2.1", MINIFLUX, 200, 1)
    tally.note(FEED, "192.0.2.1", FEEDBIN_1, 200, 1)
    assert audience.flush()
    now[0] += 3 * DAY_S
    tally.note("/feeds/atom.xml", "192.0.2.1", MINIFLUX, 200, 1)
    assert audience.flush()
    with store.read() as reader:
        assert [f.feed for f in figures(reader, now_of(now[0]), 3650, BASE)] == ["/feeds/atom.xml"]
    store.close()


def test_a_store_that_cannot_be_written_loses_no_counts(tmp_path: Path) -> None:
    url = new_database(tmp_path, "later")
    store = Store(url)  # no schema yet: every write fails, as on a store that is down
    tally, now = clocked()
    audience = Audience(store, 60, 90, tally)
    tally.note(FEED, "192.0.2.1", FEEDLY.format(5), 200, 100)
    tally.note(FEED, "192.0.2.2", MINIFLUX, 304, 0)
    assert not audience.flush()
    now[0] += 10
    tally.note(FEED, "192.0.2.1", FEEDLY.format(6), 304, 0)
    tally.note(FEED, "192.0.2.3", MINIFLUX, 200, 100)
    assert not audience.flush()
    store.migrate(IMPORT_TIME, "news.example.com,2020")
    assert audience.flush()
    with store.read() as reader:
        (fig,) = figures(reader, now_of(now[0]), 7, BASE)
    assert (fig.polls, fig.not_modified, fig.bytes) == (4, 2, 200)
    assert (fig.reported, fig.others) == (6, 2)
    store.close()


def test_websub_subscriptions_and_partners_count_apart(store: Store, settings: Settings) -> None:
    tally = Tally(clock=lambda: T0)
    audience = Audience(store, 60, 90, tally)
    with store.hub() as hub:
        for n in range(3):
            hub.subscribe(BASE + FEED, f"https://r{n}.example/cb", None, 86400, None, now_of(T0))
        hub.subscribe(BASE + "/feeds/atom.xml", "https://old.example/cb", None, 1, None, now_of(0))
    tally.note_partner("/partners/globe/rss.xml", 200, 100)
    tally.note_partner("/partners/globe/rss.xml", 304, 0)
    assert audience.flush()
    with store.read() as reader:
        found = {f.feed: f for f in figures(reader, now_of(T0), 7, BASE)}
    assert set(found) == {FEED, "/partners/globe/rss.xml"}
    assert (found[FEED].websub, found[FEED].subscribers, found[FEED].polls) == (3, 3, 0)
    partner = found["/partners/globe/rss.xml"]
    assert (partner.partners, partner.subscribers, partner.polls) == (1, 1, 2)
    assert [r.reader for r in partner.readers] == ["partner globe"]
