"""Whether a write shows on every gunicorn worker: after it returns, its article's page and
its section's feed are asked for over new connections, directly, until every worker has shown
it and no answer shows the old state any more.

A write fails when a request sent more than `within` seconds after it returned was answered
with the old state (or none showed it within `patience`). Its lag is the time from its return
to the sending of the first request of those that all showed it: an upper bound, which when no
answer showed the old state is only how soon the soak asked."""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass

from .checks import Inspector
from .transport import Client, TransportError

PAUSE = 0.02  # seconds between two rounds of asking
STREAK = 3  # rounds in a row that must show the write


@dataclass(frozen=True)
class Expected:
    """What a write must show: the article's page with `title` (None: withdrawn, 410), and
    the feed of `section` with (or, withdrawn, without) it, and that of `left`, a section
    the article moved from, without it."""

    article: str
    title: str | None
    section: str | None
    left: str | None = None


@dataclass(frozen=True)
class Seen:
    worker: int | None
    shown: bool
    sent: float  # when the request went out
    what: str


class Visibility:
    def __init__(self, client: Client, inspector: Inspector, within: float, patience: float):
        self.client = client
        self.inspector = inspector
        self.within = within
        self.patience = patience  # give up waiting after this many seconds

    def wait(self, kind: str, expected: list[Expected], since: float) -> None:
        """Ask until every write of `expected` shows everywhere, or patience runs out; the
        writes are asked for in turns, so each one's lag counts from `since`."""
        seen: dict[str, list[Seen]] = {e.article: [] for e in expected}
        pending = list(expected)
        while pending and time.monotonic() - since < self.patience:
            workers = set(self.client.workers("direct", again=True))
            # Every page first, the feeds (slower) after them: each write is looked at as
            # soon as it can be.
            for each in pending:
                seen[each.article].extend(self.ask_page(each))
            for each in list(pending):
                seen[each.article].extend(self.ask_feeds(each))
                if _settled(seen[each.article], workers, STREAK * self._per_round(each)):
                    pending.remove(each)
            if pending:
                time.sleep(PAUSE)
        workers = set(self.client.workers("direct", again=True))
        for each in expected:
            self._judge(kind, each, seen[each.article], since, workers)

    def _judge(
        self, kind: str, expected: Expected, seen: list[Seen], since: float, workers: set[int]
    ) -> None:
        record = self.inspector.record
        where = f"{kind} {expected.article}"
        went_back = _went_back(seen)
        record.check("write-visible", not went_back, where, went_back)
        streak = _streak(seen)
        if not streak:
            last = seen[-1].what if seen else "no answer"
            record.fail("write-visible", where, f"not shown after {self.patience:.0f} s: {last}")
            return
        lag = max(0.0, streak[0].sent - since)
        old = [s for s in seen[: len(seen) - len(streak)] if not s.shown]
        record.lag(kind, lag, len(old))
        confirmed = {s.worker for s in streak}
        if not workers <= confirmed and None not in confirmed:
            record.note(
                f"{where}: shown by workers {sorted(w for w in confirmed if w)} only, "
                f"not by {sorted(workers - confirmed)}, in {self.patience:.0f} s"
            )
        late = old[-1].sent - since if old else 0.0
        record.check(
            "write-visible",
            late <= self.within,
            where,
            f"a request sent {late:.3f} s after the write returned still got the old state "
            f"({old[-1].what if old else ''}); {len(old)} answers showed it",
        )

    @staticmethod
    def _per_round(expected: Expected) -> int:
        return 1 + (expected.section is not None) + (expected.left is not None)

    def ask_page(self, expected: Expected) -> list[Seen]:
        """The article's page, over a new connection."""
        found = self._page(expected)
        return [] if found is None else [found]

    def ask_feeds(self, expected: Expected) -> list[Seen]:
        """The feeds that must show the write, each over a new connection."""
        found = []
        if expected.section is not None:
            found.append(self._feed(expected, expected.section, expected.title))
        if expected.left is not None:
            found.append(self._feed(expected, expected.left, None))
        return [s for s in found if s is not None]

    def _get(
        self, path: str, kind: str, expect: frozenset[int]
    ) -> tuple[int, bytes, int | None, float]:
        reply = self.client.request("direct", "GET", path, fresh=True, find_worker=True)
        self.inspector.record.held("transport")
        body = self.inspector.answer(reply, kind, expect)
        return reply.status, body or b"", reply.worker, reply.sent

    def _page(self, expected: Expected) -> Seen | None:
        try:
            status, body, worker, sent = self._get(
                f"/articles/{expected.article}", "probe", frozenset({200, 404, 410})
            )
        except TransportError as e:
            self.inspector.record.fail("transport", expected.article, str(e))
            return None
        if expected.title is None:
            shown = status == 410
        else:
            shown = status == 200 and html.escape(expected.title).encode() in body
        return Seen(worker, shown, sent, f"page answered {status}")

    def _feed(self, expected: Expected, section: str, title: str | None) -> Seen | None:
        path = f"/feeds/{section}/feed.json"
        try:
            status, body, worker, sent = self._get(path, "probe", frozenset({200}))
        except TransportError as e:
            self.inspector.record.fail("transport", path, str(e))
            return None
        if status != 200 or not body:
            return Seen(worker, False, sent, f"{path} answered {status}")
        suffix = f"/articles/{expected.article}"
        items = [i for i in json.loads(body).get("items", []) if i.get("url", "").endswith(suffix)]
        if title is None:
            shown = not items
        else:
            shown = bool(items) and items[0].get("title") == title
        what = f"{path} had {items[0].get('title') if items else 'no such item'}"
        return Seen(worker, shown, sent, what)


def _streak(seen: list[Seen]) -> list[Seen]:
    """The answers after the last one that did not show the write."""
    stale = [i for i, s in enumerate(seen) if not s.shown]
    return seen[stale[-1] + 1 :] if stale else seen


def _settled(seen: list[Seen], workers: set[int], answers: int) -> bool:
    """Whether the last `answers` or more showed the write, on every worker (where the
    workers can be told apart)."""
    streak = _streak(seen)
    confirmed = {s.worker for s in streak}
    return len(streak) >= answers and (None in confirmed or workers <= confirmed)


def _went_back(seen: list[Seen]) -> str:
    """The first answer that showed the old state on a worker that had shown the new."""
    shown: set[int | None] = set()
    for s in seen:
        if s.shown:
            shown.add(s.worker)
        elif s.worker in shown and s.worker is not None:
            return f"worker {s.worker} showed the write, then the old state again ({s.what})"
    return ""
