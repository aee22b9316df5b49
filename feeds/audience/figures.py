"""Subscribers of each feed over the last N days, from what the store holds.

A feed's figure is the sum of four parts, each also given alone:
- reported: the latest figure of every aggregator key (agents.Agent.key) seen in the window;
- others: clients that report nothing, distinct per day, averaged over the window's days
  that have polls of the feed;
- websub: verified WebSub subscriptions to the feed whose lease has not ended;
- partners: 1 for a partner's feed (/partners/NAME/FILE) polled in the window.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from feeds.store import Reader
from feeds.text import ID_PATTERN

PARTNERS = "/partners/"
LONGEST_PATH = 512  # characters of a feed's path (audience_polls.feed)


def is_feed_path(path: str) -> bool:
    """Whether `path` can be a feed's path: names (feeds.text.ID_PATTERN) each after a
    slash, LONGEST_PATH characters at most. Checked before any lookup: PostgreSQL refuses
    text holding NUL, and no path of a feed holds anything but such names."""
    if len(path) > LONGEST_PATH or not path.startswith("/"):
        return False
    return all(ID_PATTERN.match(name) for name in path[1:].split("/"))


@dataclass(frozen=True)
class ReaderFigure:
    """Subscribers through one reader: `reported` when the aggregator said so itself,
    else the clients counted (averaged per day)."""

    reader: str
    subscribers: int
    reported: bool


@dataclass(frozen=True)
class FeedFigure:
    feed: str
    subscribers: int
    reported: int
    others: int
    websub: int
    partners: int
    readers: tuple[ReaderFigure, ...]
    polls: int
    not_modified: int
    bytes: int

    @property
    def not_modified_ratio(self) -> float:
        """The share of polls answered 304 (0 without polls)."""
        return self.not_modified / self.polls if self.polls else 0.0


def window_start(now: datetime, days: int) -> date:
    """The first day (UTC) of the last `days` days, today included."""
    return now.astimezone(UTC).date() - timedelta(days=days - 1)


def _average(total: int, days: int) -> int:
    return (2 * total + days) // (2 * days) if days else 0  # rounded half up


def figures(
    reader: Reader, now: datetime, days: int, base_url: str, feed: str | None = None
) -> list[FeedFigure]:
    """The figure of every feed with polls or WebSub subscriptions in the last `days` days
    (or of `feed` only), by path; `base_url` turns WebSub topics into paths."""
    start = window_start(now, days)
    since = datetime.combine(start, datetime.min.time(), UTC)
    polls: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    poll_days: dict[str, set[date]] = defaultdict(set)
    for row in reader.audience_polls(start, feed):
        counts = polls[row.feed]
        counts[0] += row.polls
        counts[1] += row.not_modified
        counts[2] += row.bytes
        poll_days[row.feed].add(row.day)
    reported: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for rep in reader.audience_reporters(since, feed):
        reported[rep.feed][rep.reader] += rep.subscribers
    others: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for vis in reader.audience_visitors(start, feed):
        others[vis.feed][vis.reader] += vis.clients
    websub: dict[str, int] = defaultdict(int)
    for topic, count in reader.active_subscriptions(now).items():
        if topic.startswith(base_url + "/"):
            path = topic[len(base_url) :]
            if feed is None or path == feed:
                websub[path] += count
    result = []
    for path in sorted(set(polls) | set(reported) | set(others) | set(websub)):
        n_days = len(poll_days[path])
        readers = [ReaderFigure(r, n, True) for r, n in reported[path].items()]
        readers += [ReaderFigure(r, _average(n, n_days), False) for r, n in others[path].items()]
        readers.sort(key=lambda r: (-r.subscribers, r.reader))
        partner = int(path.startswith(PARTNERS) and path in polls)
        if partner:
            readers.append(ReaderFigure("partner " + path.split("/")[2], 1, True))
        parts = (
            sum(reported[path].values()),
            _average(sum(others[path].values()), n_days),
            websub[path],
            partner,
        )
        p = polls.get(path, [0, 0, 0])
        result.append(FeedFigure(path, sum(parts), *parts, tuple(readers), p[0], p[1], p[2]))
    return result
