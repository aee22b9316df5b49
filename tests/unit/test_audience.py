"""Audience figures in this process: the User-Agents of tests/agents.txt read as recorded,
the tally's rules (a 304 is a poll, an aggregator counts once per key with its latest figure,
other clients once a day, IPv6 by /64, a bound on what is held), what the flush writes, and
that a store that cannot be written loses no counts."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from feeds.audience.agents import MAX_AGENT, parse
from feeds.audience.figures import figures, is_feed_path
from feeds.audience.flush import Audience
from feeds.audience.tally import (
    AGENTS_PER_NETWORK,
    DAY_S,
    OTHER,
    Batch,
    Reported,
    Tally,
    network,
)
from feeds.config import Settings
from feeds.store import Store
from tests.support import IMPORT_TIME, POSTGRES, new_database

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


def test_a_reporting_key_is_its_feed_id_else_its_name_else_the_agent_masked() -> None:
    assert parse(FEEDBIN_1).key == "1373711"
    assert parse(FEEDLY.format(9)).key == parse(FEEDLY.format("1,234")).key == "Feedly"
    generic = "Planet/2.0 (+https://planet.example; {} subscribers)"
    assert parse(generic.format(9)).key == parse(generic.format("1,234")).key
    assert "#" in parse(generic.format(9)).key and "9" not in parse(generic.format(9)).key


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


def polls_written(store: Store) -> int:
    with store.read() as reader:
        return sum(p.polls for p in reader.audience_polls(date(2000, 1, 1)))


@pytest.mark.parametrize(
    "agent",
    [
        "Bot/1 " + "9" * 20 + " subscribers",  # past SQLite's 64-bit INTEGER
        "Bot/1 3,000,000,000 subscribers",  # past PostgreSQL's 32-bit integer
        "Bot/1 10,000,001 subscribers",  # past the ceiling
    ],
)
def test_a_figure_past_the_ceiling_is_no_count_and_the_flush_goes_on(
    tmp_path: Path, agent: str
) -> None:
    assert parse(agent).subscribers is None
    assert parse("Bot/1 10,000,000 subscribers").subscribers == 10_000_000
    store = migrated(tmp_path)
    tally, _ = clocked()
    audience = Audience(store, 60, 90, tally)
    tally.note(FEED, "198.51.100.7", agent, 200, 1)
    tally.note(FEED, "203.0.113.9", MINIFLUX, 200, 500)
    assert audience.flush()
    assert polls_written(store) == 2
    with store.read() as reader:
        (fig,) = figures(reader, now_of(T0), 7, BASE)
    assert (fig.reported, fig.others) == (0, 2)
    store.close()


def test_a_user_agent_holding_surrogates_is_counted_and_written(tmp_path: Path) -> None:
    store = migrated(tmp_path)
    tally, _ = clocked()
    audience = Audience(store, 60, 90, tally)
    tally.note(FEED, "198.51.100.7", "Ev\ud800il/1 (\udfff) 5 subscribers", 200, 1)
    tally.note(FEED, "198.51.100.8", "Odd\udcff/2", 200, 1)
    assert audience.flush()
    with store.read() as reader:
        (fig,) = figures(reader, now_of(T0), 7, BASE)
    assert {(r.reader, r.subscribers) for r in fig.readers} == {("Evil", 5), ("Odd", 1)}
    store.close()


class Unwritable(Exception):
    """Not a StoreError: what a database may raise that the store does not expect."""


def test_a_write_that_fails_unexpectedly_loses_only_what_cannot_be_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = migrated(tmp_path)
    tally, _ = clocked()
    audience = Audience(store, 60, 90, tally)
    # A figure no column holds (SQLite: OverflowError, not a StoreError), as a batch kept
    # from before would bring it.
    tally.restore(Batch(reporters={(FEED, "Bot", "1"): Reported(10**20, T0)}))
    tally.note(FEED, "198.51.100.2", FEEDLY.format(40), 200, 1)
    tally.note(FEED, "203.0.113.9", MINIFLUX, 200, 500)
    with caplog.at_level(logging.WARNING):
        assert audience.flush()
    assert "dropped, as they cannot be written: 0 polls, 1 aggregators' figures" in caplog.text
    with store.read() as reader:
        (fig,) = figures(reader, now_of(T0), 7, BASE)
    assert (fig.polls, fig.reported, fig.others) == (2, 40, 1)
    assert tally.take().empty()  # nothing kept to fail again
    store.close()


def test_the_writer_thread_outlives_a_failing_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = migrated(tmp_path)
    audience = Audience(store, 0.01, 90, Tally())
    calls = []

    def failing(final: bool = False) -> bool:
        calls.append(final)
        raise Unwritable("no")

    monkeypatch.setattr(audience, "flush", failing)
    audience.note(FEED, "192.0.2.1", MINIFLUX, 200, 1)  # starts the writer
    for _ in range(1000):  # until it went on after failures, or gave up for good
        if len(calls) >= 3:
            break
        audience._wake.wait(0.01)
    audience._wake.set()
    assert len(calls) >= 3, calls
    store.close()


def test_only_the_first_characters_of_a_user_agent_are_read() -> None:
    assert parse("Bot/1 " + "x" * MAX_AGENT + " 5 subscribers").subscribers is None
    assert parse("Bot/1 " + "x" * (MAX_AGENT - 30) + " 5 subscribers").subscribers == 5
    # A long run of digit groups before no keyword, or before one: no count, read once.
    assert parse("X" + " 111" * 2000).subscribers is None
    assert parse("X" + " 111" * 2000 + " subscribers").subscribers is None
    assert parse("Bot/1 (x" + " " * 100 + "5 subscribers)").subscribers == 5
    assert parse("Bot/1 1,2345 subscribers").subscribers is None  # not the tail of a number


def test_a_generic_count_needs_a_plausible_product_name() -> None:
    for agent in ("5 subscribers", "http://x 5 subscribers", "Mozilla/5.0 (X11) 5 readers"):
        assert parse(agent).subscribers is None, agent
    assert parse("Planet 5 subscribers").subscribers is None  # a name without a version
    assert parse("Planet/2 5 subscribers").subscribers == 5
    assert parse("Mozilla/5.0 (compatible; Planet/2; 5 subscribers)").subscribers == 5


def test_what_is_held_of_a_client_is_a_digest_of_its_user_agent() -> None:
    tally, _ = clocked()
    for n in range(3):
        tally.note(FEED, f"192.0.2.{n}", "Newsboat/2.36 " + str(n) * 8000, 200, 1)
    held = [agent for pairs in tally.take().visitors.values() for _, agent in pairs]
    assert len(held) == 3 and all(len(agent) == 16 for agent in held)


def test_ipv4_clients_on_a_dual_stack_socket_count_apart() -> None:
    assert network("::ffff:192.0.2.1") == "192.0.2.1"
    tally, _ = clocked()
    tally.note(FEED, "::ffff:192.0.2.1", MINIFLUX, 200, 1)
    tally.note(FEED, "::ffff:198.51.100.9", MINIFLUX, 200, 1)
    tally.note(FEED, "192.0.2.1", MINIFLUX, 200, 1)  # the same client on an IPv4 socket
    assert tally.take().visitor_count == 2


def test_one_client_cannot_report_a_billion_subscribers(tmp_path: Path) -> None:
    store = migrated(tmp_path)
    tally, _ = clocked()
    audience = Audience(store, 60, 90, tally)
    for n in range(50):  # one address, fifty made-up feed ids, at the ceiling
        tally.note(FEED, "198.51.100.7", f"Bot/1 (feed-id={n}; 9999999 subscribers)", 200, 1)
    for n in range(50):  # and past it
        tally.note(FEED, "198.51.100.7", f"Bot/1 (feed-id={n}; 2000000000 subscribers)", 200, 1)
    assert audience.flush()
    with store.read() as reader:
        (fig,) = figures(reader, now_of(T0), 7, BASE)
    assert fig.reported == 4 * 9_999_999, fig.reported
    store.close()


def test_one_address_cannot_count_as_a_thousand_clients(tmp_path: Path) -> None:
    store = migrated(tmp_path)
    tally, now = clocked()
    audience = Audience(store, 60, 90, tally)
    for n in range(1000):
        tally.note(FEED, "198.51.100.7", f"Newsboat/2.{n} (Linux x86_64)", 200, 1)
        if n == 500:
            assert audience.flush()  # the cap holds across writes
    tally.note(FEED, "198.51.100.8", "Newsboat/2.0 (Linux x86_64)", 200, 1)  # another client
    assert audience.flush()
    with store.read() as reader:
        (fig,) = figures(reader, now_of(now[0]), 1, BASE)
    assert (fig.others, fig.polls) == (AGENTS_PER_NETWORK + 1, 1001)
    now[0] += DAY_S  # a new day: the same address counts again
    tally.note(FEED, "198.51.100.7", "Newsboat/2.999 (Linux x86_64)", 200, 1)
    assert tally.take().visitor_count == 1
    store.close()


def test_unknown_readers_past_a_few_names_count_as_other() -> None:
    tally, _ = clocked()
    for n in range(30):
        tally.note(FEED, f"192.0.2.{n}", f"Reader{n}/1.0", 200, 1)
    tally.note(FEED, "192.0.2.99", MINIFLUX, 200, 1)  # a known reader keeps its name
    readers = [reader for _, _, reader in tally.take().visitors]
    assert len(readers) == 22 and OTHER in readers and "Miniflux" in readers


def test_an_aggregator_without_feed_ids_counts_once_with_its_latest_figure(
    tmp_path: Path,
) -> None:
    # Feedly's older fetcher and newer poller (both in tests/agents.txt) for one feed.
    store = migrated(tmp_path)
    tally, now = clocked()
    audience = Audience(store, 60, 90, tally)
    old = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 2,300 subscribers; like Feed"
    tally.note(FEED, "198.51.100.1", old + "Fetcher-Google)", 200, 1)
    now[0] += 3600
    new = "Feedly/1.0 (+https://feedly.com/poller.html; 2,375 subscribers; )"
    tally.note(FEED, "198.51.100.2", new, 200, 1)
    assert audience.flush()
    with store.read() as reader:
        (fig,) = figures(reader, now_of(now[0]), 7, BASE)
    assert fig.reported == 2375, fig.reported
    store.close()


def test_a_days_salt_is_gone_after_the_day_even_without_polls(tmp_path: Path) -> None:
    store = migrated(tmp_path)
    tally, now = clocked()
    audience = Audience(store, 60, 90, tally)
    tally.note(FEED, "203.0.113.9", MINIFLUX, 200, 500)
    assert audience.flush()
    assert len(salts(store)) == 1
    assert audience.flush()  # nothing to write, the same day: the salt stays
    assert len(salts(store)) == 1
    now[0] += 2 * DAY_S  # a quiet feed: nobody polls for two days; the writer runs on
    assert audience.flush()
    assert salts(store) == []
    store.close()


def test_a_write_failing_as_the_process_ends_says_what_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(new_database(tmp_path, "later"))  # no schema: every write fails
    tally, _ = clocked()
    audience = Audience(store, 60, 90, tally)
    tally.note(FEED, "192.0.2.1", FEEDLY.format(5), 200, 100)
    tally.note(FEED, "192.0.2.2", MINIFLUX, 304, 0)
    with caplog.at_level(logging.WARNING):
        audience.close()
    assert "lost" in caplog.text and "kept in memory" not in caplog.text
    assert "2 polls, 1 aggregators' figures, 1 other clients" in caplog.text
    assert tally.take().empty()


def test_a_feeds_path_is_names_between_slashes() -> None:
    for good in ("/feeds/rss.xml", "/feeds/world/atom.xml", "/partners/globe/feed.json"):
        assert is_feed_path(good), good
    for bad in ("feeds/rss.xml", "/feeds/%00x", "/feeds/\x00x", "/feeds//rss.xml", "/", "/" * 600):
        assert not is_feed_path(bad), bad


@pytest.mark.skipif(not POSTGRES, reason="PostgreSQL's integer is 32 bits, SQLite's 64")
def test_a_count_of_three_billion_is_written_as_none_on_postgresql(tmp_path: Path) -> None:
    store = migrated(tmp_path)
    tally, _ = clocked()
    audience = Audience(store, 60, 90, tally)
    tally.note(FEED, "198.51.100.7", "Bot/1 3,000,000,000 subscribers", 200, 1)
    tally.note(FEED, "198.51.100.7", "Bot/1 (feed-id=\x00; 7 subscribers)", 200, 1)
    assert audience.flush()
    assert polls_written(store) == 2
    store.close()
