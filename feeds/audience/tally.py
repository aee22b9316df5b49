"""This process's count of polls of subscription feeds since it last wrote them to the store:
kept in memory, under a lock held for one dictionary update, so that counting never slows
a poll. A poll is counted by (day, feed, address, User-Agent) only; what it says (its
reader, its network, whether the caps below let it count) is read when those counts are
folded into a batch, by `take` or once MAX_RAW clients were counted. `take` hands what was
counted to the flush and starts afresh; `restore` puts back what could not be written, so
nothing is lost while the store is busy or down.

Clients that report no subscribers are kept as (network, digest of the User-Agent) pairs
only until the flush turns each into a salted hash (see feeds.store.audience); at most
MAX_VISITORS pairs are held at once, and a new client past that is not counted as a
subscriber (its polls still are) until the next flush makes room.

So that one address cannot pass for a crowd, each process also remembers, for the current
day, what every (feed, network) was counted as: at most AGENTS_PER_NETWORK distinct
User-Agents of other clients and REPORTS_PER_NETWORK reporting aggregators' keys count from
one network for one feed; and at most NAMES_PER_FEED names of unknown readers per feed are
kept apart, the rest counting as OTHER. Past MAX_VISITORS (feed, network)s in a day the
caps are no longer checked for new networks: counting goes on rather than stopping.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from typing import TypeVar

from .agents import KNOWN_NAMES, MAX_AGENT, parse

MAX_VISITORS = 100_000  # (network, User-Agent digest) pairs held between flushes
MAX_RAW = 10_000  # (day, feed, address, User-Agent)s counted before they are folded (a
# fold of that many takes some 20 ms, under the lock)
MAX_REPORTERS = 10_000  # reporting aggregators' keys held between flushes
AGENTS_PER_NETWORK = 4  # User-Agents of other clients counted per feed and network a day
REPORTS_PER_NETWORK = 4  # reporting keys counted per feed and network a day
NAMES_PER_FEED = 20  # unknown readers' names kept apart per feed a day
OTHER = "other"  # the name of the unknown readers past NAMES_PER_FEED
DAY_S = 86_400

Feed = str
T = TypeVar("T")
Day = int  # days since 1970-01-01, UTC


@dataclass
class Reported:
    """The latest figure one aggregator reported for one feed."""

    subscribers: int
    seen: float  # time.time() of its latest poll


@dataclass
class Batch:
    """What was counted between two flushes."""

    # (day, feed) -> [polls, 304s, bytes of body sent]
    polls: dict[tuple[Day, Feed], list[int]] = field(default_factory=dict)
    # (feed, reader, key) -> the latest figure
    reporters: dict[tuple[Feed, str, str], Reported] = field(default_factory=dict)
    # (day, feed, reader) -> {(network, User-Agent digest)}
    visitors: dict[tuple[Day, Feed, str], set[tuple[str, bytes]]] = field(default_factory=dict)
    visitor_count: int = 0
    dropped: int = 0  # new clients not counted as subscribers: MAX_VISITORS was reached

    def empty(self) -> bool:
        return not (self.polls or self.reporters or self.visitors)


@functools.lru_cache(maxsize=8192)
def network(address: str) -> str:
    """The key of a client's address: an IPv6 client by its /64 (one household or host
    may hold the whole block and change addresses within it), an IPv4 one mapped into
    IPv6 (`::ffff:a.b.c.d`, from a dual-stack socket) as the IPv4 address, any other as
    it is."""
    if ":" not in address:
        return address
    try:
        mapped = IPv6Address(address).ipv4_mapped
        if mapped is not None:
            return str(mapped)
        return str(IPv6Network(f"{address}/64", strict=False))
    except ValueError:
        return address


@dataclass
class Today:
    """What this process counted from each network today, for the caps (see the module)."""

    day: Day = -1
    agents: dict[tuple[Feed, str], tuple[bytes, ...]] = field(default_factory=dict)
    keys: dict[tuple[Feed, str], tuple[str, ...]] = field(default_factory=dict)
    names: dict[Feed, set[str]] = field(default_factory=dict)


class Tally:
    """Thread-safe counts of this process's polls (see the module)."""

    def __init__(
        self, max_visitors: int = MAX_VISITORS, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_visitors = max_visitors
        self.clock = clock
        self._batch = Batch()
        self._today = Today()
        # (day, feed, address, User-Agent) -> [polls, 304s, bytes, time of the latest poll,
        # its place in the order of polls], folded into _batch by _fold
        self._raw: dict[tuple[Day, Feed, str, str], list[float]] = {}
        self._tick = 0
        self._lock = threading.Lock()

    def note(self, feed: Feed, address: str, user_agent: str, status: int, size: int) -> None:
        """A poll of `feed` (its public path) answered `status` (200 or 304; a 304 counts
        as a poll like a 200) with `size` bytes of body, from `address`. Only counted here,
        by (day, feed, address, User-Agent): what the poll says is read when the counts are
        folded (see `_fold`), once per client rather than once per poll."""
        now = self.clock()
        key = (int(now // DAY_S), feed, address, user_agent[:MAX_AGENT])
        with self._lock:
            self._tick += 1
            counts = self._raw.get(key)
            if counts is None:
                if len(self._raw) >= MAX_RAW:
                    self._fold()
                self._raw[key] = [1, status == 304, size, now, self._tick]
            else:
                counts[0] += 1
                counts[1] += status == 304
                counts[2] += size
                counts[3] = now
                counts[4] = self._tick

    def note_partner(self, feed: Feed, status: int, size: int) -> None:
        """A poll of a partner's feed (/partners/NAME/FILE): the partner is its one
        subscriber, so only the poll is counted."""
        day = int(self.clock() // DAY_S)
        with self._lock:
            self._count(self._batch, day, feed, status, size)

    @staticmethod
    def _count(batch: Batch, day: Day, feed: Feed, status: int, size: int) -> None:
        counts = batch.polls.get((day, feed))
        if counts is None:
            counts = batch.polls[(day, feed)] = [0, 0, 0]
        counts[0] += 1
        counts[1] += status == 304
        counts[2] += size

    def take(self) -> Batch:
        """What was counted since the last take, leaving the tally empty."""
        with self._lock:
            self._fold()
            batch, self._batch = self._batch, Batch()
        return batch

    def _fold(self) -> None:
        """Count the polls noted since the last fold into the batch, each client once, in
        the order they first polled (which is the order the caps see them in): its User-
        Agent read, its address as its network, checked against today's caps. The lock is
        held."""
        raw, self._raw = self._raw, {}
        batch = self._batch
        latest: dict[tuple[Feed, str, str], tuple[float, Reported]] = {}
        for (day, feed, address, user_agent), (polls, not_modified, size, now, tick) in raw.items():
            counts = batch.polls.get((day, feed))
            if counts is None:
                counts = batch.polls[(day, feed)] = [0, 0, 0]
            counts[0] += int(polls)
            counts[1] += int(not_modified)
            counts[2] += int(size)
            agent = parse(user_agent)
            net = network(address)
            today = self._today
            if today.day != day:
                today = self._today = Today(day)
            reader = agent.reader
            if reader not in KNOWN_NAMES:
                reader = _named(today, feed, reader)
            if agent.subscribers is not None:
                if not _within(today.keys, (feed, net), agent.key, REPORTS_PER_NETWORK):
                    continue
                key = (feed, reader, agent.key)
                held = latest.get(key)
                if held is None or held[0] < tick:  # the latest poll's figure wins
                    latest[key] = (tick, Reported(agent.subscribers, now))
                continue
            if not _within(today.agents, (feed, net), agent.digest, AGENTS_PER_NETWORK):
                continue
            pairs = batch.visitors.get((day, feed, reader))
            if pairs is None:
                pairs = batch.visitors[(day, feed, reader)] = set()
            pair = (net, agent.digest)
            if pair not in pairs:
                if batch.visitor_count >= self.max_visitors:
                    batch.dropped += int(polls)
                    continue
                pairs.add(pair)
                batch.visitor_count += 1
        for key, (_, figure) in latest.items():
            if key in batch.reporters or len(batch.reporters) < MAX_REPORTERS:
                batch.reporters[key] = figure

    def restore(self, batch: Batch) -> None:
        """Put back a batch that could not be written, merged with what came since (the
        later figure of an aggregator wins); pairs past MAX_VISITORS are dropped."""
        with self._lock:
            self._fold()
            current = self._batch
            for key, counts in batch.polls.items():
                into = current.polls.setdefault(key, [0, 0, 0])
                for i, n in enumerate(counts):
                    into[i] += n
            for reporter, figure in batch.reporters.items():
                later = current.reporters.get(reporter)
                if later is None or later.seen < figure.seen:
                    current.reporters[reporter] = figure
            for where, pairs in batch.visitors.items():
                into_pairs = current.visitors.setdefault(where, set())
                for pair in pairs:
                    if pair in into_pairs:
                        continue
                    if current.visitor_count >= self.max_visitors:
                        current.dropped += 1
                        continue
                    into_pairs.add(pair)
                    current.visitor_count += 1
            current.dropped += batch.dropped


def _named(today: Today, feed: Feed, reader: str) -> str:
    """`reader`, or OTHER once NAMES_PER_FEED other unknown names were seen for `feed`."""
    names = today.names.get(feed)
    if names is None:
        names = today.names[feed] = set()
    if reader in names:
        return reader
    if len(names) >= NAMES_PER_FEED:
        return OTHER
    names.add(reader)
    return reader


def _within(
    seen: dict[tuple[Feed, str], tuple[T, ...]], where: tuple[Feed, str], value: T, most: int
) -> bool:
    """Whether `value` counts at `where` today: it already did, or fewer than `most` did."""
    values = seen.get(where)
    if values is None:
        if len(seen) < MAX_VISITORS:
            seen[where] = (value,)
        return True
    if value in values:
        return True
    if len(values) >= most:
        return False
    seen[where] = (*values, value)
    return True
