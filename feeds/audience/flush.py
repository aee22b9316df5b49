"""Writing the tally to the store: every FEEDS_STATS_FLUSH seconds a daemon thread of each
process (started by the first poll it counts, so after gunicorn forks its workers) writes
what was counted in one transaction; what a busy or unavailable store refuses stays in
memory for the next attempt. A write that fails otherwise is retried a part at a time (the
polls of a feed and day, an aggregator's figure, a reader's clients of a feed and day), so
that only a part that can never be written is lost; nothing stops the thread. `close`
writes what is left (gunicorn's worker_exit): what it cannot write is lost, and the log
says how much."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from datetime import UTC, date, datetime, timedelta

from feeds.errors import StoreError
from feeds.store import Store
from feeds.store.audience import AudienceWrites, Polls, Reporter

from .tally import DAY_S, Batch, Tally

log = logging.getLogger(__name__)
EPOCH = date(1970, 1, 1)


def day_of(number: int) -> date:
    return EPOCH + timedelta(days=number)


def visitor_hash(salt: str, network: str, agent: bytes) -> str:
    """A client's key for one day: its network and its User-Agent's digest
    (agents.Agent.digest), hashed with the day's salt."""
    data = f"{salt}\n{network}\n{agent.hex()}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:32]


def described(batch: Batch) -> str:
    """How much `batch` holds, for the log."""
    polls = sum(counts[0] for counts in batch.polls.values())
    clients = sum(len(pairs) for pairs in batch.visitors.values())
    return f"{polls} polls, {len(batch.reporters)} aggregators' figures, {clients} other clients"


def parts(batch: Batch) -> list[Batch]:
    """`batch` cut into parts that are written or fail alone."""
    found = [Batch(polls={where: counts}) for where, counts in batch.polls.items()]
    found += [Batch(reporters={key: fig}) for key, fig in batch.reporters.items()]
    found += [
        Batch(visitors={where: pairs}, visitor_count=len(pairs))
        for where, pairs in batch.visitors.items()
    ]
    return found


def write(writes: AudienceWrites, batch: Batch, today: date, keep_days: int) -> None:
    """Add `batch` to the store's figures; forget salts of days before `today` and figures
    older than `keep_days`."""
    writes.add_polls(
        Polls(day_of(day), feed, *counts) for (day, feed), counts in sorted(batch.polls.items())
    )
    writes.put_reporters(
        Reporter(feed, reader, key, figure.subscribers, datetime.fromtimestamp(figure.seen, UTC))
        for (feed, reader, key), figure in sorted(batch.reporters.items())
    )
    salts: dict[int, str] = {}
    for (day, feed, reader), pairs in sorted(batch.visitors.items()):
        if day not in salts:
            when = day_of(day)
            # A day already over has no salt any more: its last clients are hashed with one
            # that is never stored (a client counted by another process that day may then
            # count twice), so no stored hash can be linked to an address afterwards.
            salts[day] = writes.salt(when) if when >= today else os.urandom(32).hex()
        hashes = {visitor_hash(salts[day], net, digest) for net, digest in pairs}
        writes.add_visitors(day_of(day), feed, reader, hashes)
    writes.drop_salts(today)
    oldest = today - timedelta(days=keep_days - 1)
    writes.forget_audience(oldest, datetime.combine(oldest, datetime.min.time(), UTC))


class Audience:
    """This process's tally and the thread that writes it to `store`."""

    def __init__(self, store: Store, every: float, keep_days: int, tally: Tally | None = None):
        self.store = store
        self.every = every
        self.keep_days = keep_days
        self.tally = tally or Tally()
        self._pid: int | None = None
        self._wake = threading.Event()
        self._lock = threading.Lock()  # one flush at a time
        self._starting = threading.Lock()
        self._cleared: date | None = None  # the day of the last write: salts before it are gone

    def note(self, feed: str, address: str, user_agent: str, status: int, size: int) -> None:
        """Count a poll (see Tally.note); starts this process's writer if it has none."""
        if self._pid != os.getpid():
            self._start()
        self.tally.note(feed, address, user_agent, status, size)

    def note_partner(self, feed: str, status: int, size: int) -> None:
        if self._pid != os.getpid():
            self._start()
        self.tally.note_partner(feed, status, size)

    def _start(self) -> None:
        with self._starting:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._wake = threading.Event()
            thread = threading.Thread(target=self._run, name="audience", daemon=True)
            thread.start()

    def _run(self) -> None:
        while not self._wake.wait(self.every):
            try:
                self.flush()
            except Exception:  # counting must go on whatever one write met
                log.exception("audience: a write of the figures failed")

    def flush(self, final: bool = False) -> bool:
        """Write what was counted; False (keeping it for the next time, unless `final`: the
        process is ending) when the store is busy or unavailable. Past days' salts are
        deleted even when nothing was counted."""
        with self._lock:
            batch = self.tally.take()
            today = day_of(int(self.tally.clock() // DAY_S))
            if batch.empty():
                return self._cleared == today or self._clear(today)
            if batch.dropped:
                log.warning(
                    "audience: %d new clients went uncounted (more than %d between writes)",
                    batch.dropped,
                    self.tally.max_visitors,
                )
                batch.dropped = 0
            try:
                with self.store.audience() as writes:
                    write(writes, batch, today, self.keep_days)
            except StoreError as e:
                self._kept(batch, final, e)
                return False
            except Exception:
                log.exception("audience: the figures could not be written; writing them apart")
                return self._apart(batch, today, final)
            self._cleared = today
            return True

    def _clear(self, today: date) -> bool:
        """Delete the salts of days before `today` and figures past keep_days."""
        try:
            with self.store.audience() as writes:
                write(writes, Batch(), today, self.keep_days)
        except StoreError as e:
            log.warning("audience: past days' salts not deleted yet: %s", e)
            return False
        self._cleared = today
        return True

    def _kept(self, batch: Batch, final: bool, error: Exception) -> None:
        """Keep what the store refused for the next write, or say it is lost."""
        if final:
            log.warning(
                "audience: figures lost, not written as the process ends (%s): %s",
                described(batch),
                error,
            )
        else:
            self.tally.restore(batch)
            log.warning("audience: figures kept in memory, not written: %s", error)

    def _apart(self, batch: Batch, today: date, final: bool) -> bool:
        """Write `batch` a part at a time: a part the store refuses for now is kept (see
        _kept), one that fails otherwise could never be written and is dropped."""
        refused, bad = Batch(), Batch()
        error: Exception | None = None
        for part in parts(batch):
            try:
                with self.store.audience() as writes:
                    write(writes, part, today, self.keep_days)
            except StoreError as e:
                _merge(refused, part)
                error = e
            except Exception as e:
                if bad.empty():
                    log.warning("audience: %s cannot be written: %r", described(part), e)
                _merge(bad, part)
        if not bad.empty():
            log.warning("audience: dropped, as they cannot be written: %s", described(bad))
        if error is not None:
            self._kept(refused, final, error)
            return False
        self._cleared = today
        return True

    def close(self) -> None:
        """Stop the writer and write what is left."""
        self._wake.set()
        self.flush(final=True)


def _merge(into: Batch, part: Batch) -> None:
    """Add a part (see parts) to `into`."""
    into.polls.update(part.polls)
    into.reporters.update(part.reporters)
    into.visitors.update(part.visitors)
    into.visitor_count += part.visitor_count
