"""Writing the tally to the store: every FEEDS_STATS_FLUSH seconds a daemon thread of each
process (started by the first poll it counts, so after gunicorn forks its workers) writes
what was counted in one transaction; what a busy or unavailable store refuses stays in
memory for the next attempt. `close` writes what is left (gunicorn's worker_exit)."""

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


def visitor_hash(salt: str, network: str, user_agent: str) -> str:
    """A client's key for one day: its network and User-Agent, hashed with the day's salt."""
    data = f"{salt}\n{network}\n{user_agent}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:32]


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
        hashes = {visitor_hash(salts[day], net, agent) for net, agent in pairs}
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
            self.flush()

    def flush(self) -> bool:
        """Write what was counted; False (keeping it for the next time) when the store is
        busy or unavailable."""
        with self._lock:
            batch = self.tally.take()
            if batch.empty():
                return True
            if batch.dropped:
                log.warning(
                    "audience: %d new clients went uncounted (more than %d between writes)",
                    batch.dropped,
                    self.tally.max_visitors,
                )
                batch.dropped = 0
            today = day_of(int(self.tally.clock() // DAY_S))
            try:
                with self.store.audience() as writes:
                    write(writes, batch, today, self.keep_days)
            except StoreError as e:
                self.tally.restore(batch)
                log.warning("audience: figures kept in memory, not written: %s", e)
                return False
            return True

    def close(self) -> None:
        """Stop the writer and write what is left."""
        self._wake.set()
        self.flush()
