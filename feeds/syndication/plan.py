"""Which articles a document holds and where it leads, decided before anything renders.

A feed (the site's, a section's or an author's) is an RFC 5005 subscription document, the
newest FEEDS_PAGE_SIZE articles, plus archive documents: the older articles, one per calendar
month of publication (UTC), in numbered parts of at most FEEDS_ARCHIVE_SIZE in publication
order. A partner's feed is a subscription document of its sections, without archives. A plan
is decided from a cheap query of ids and revisions, so a conditional request is answered
without rendering anything.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from feeds.config import Settings
from feeds.model import Head, Partner, Tombstone
from feeds.store import Reader, Scope

from .urls import DocKey, Month


@dataclass(frozen=True)
class Plan:
    """What a document holds, decided before anything is rendered."""

    key: DocKey
    scope: Scope
    heads: list[Head]
    prev: DocKey | None
    next: DocKey | None
    tombstones: list[Tombstone]
    moments: list[datetime]  # when its content changed, as HTTP caches see it
    closed: bool  # an archive of a month that can no longer gain articles
    partner: Partner | None = None
    query: str = ""  # added to the self link: a partner's ?token=, which readers re-use


def _head_moments(
    reader: Reader,
    scope: Scope,
    heads: list[Head],
    full: bool,
    span: tuple[datetime, datetime] | None,
) -> list[datetime]:
    moments = [h.modified for h in heads]
    if span is None:  # a subscription document: departures at or after its oldest entry
        since, until = (heads[-1].published if full and heads else None), None
    else:
        since, until = span
    departed = reader.latest_departure(scope, since, until)
    return moments + ([departed] if departed is not None else [])


def _archive_key(
    reader: Reader, scope: Scope, boundary: Head, published: datetime | None, size: int, last: bool
) -> DocKey | None:
    """The first or last part of the month of `published`, if any."""
    if published is None:
        return None
    month = Month.of(published)
    if not last:
        return DocKey(scope.section, month, 1, scope.author)
    count = reader.count_archived(scope, boundary, month.span)
    return DocKey(scope.section, month, max(1, math.ceil(count / size)), scope.author)


def plan(reader: Reader, settings: Settings, key: DocKey, now: datetime) -> Plan | None:
    """The plan of the document named by `key` as of `now`, or None if there is no such
    document."""
    scope = Scope(key.section, now, author=key.author)
    # One more than a page: the extra one, if any, is the newest archived article.
    newest = reader.newest_heads(scope, settings.page_size + 1)
    beyond = newest.pop() if len(newest) > settings.page_size else None
    if (key.section is not None or key.author is not None) and not newest:
        return None
    full = len(newest) >= settings.page_size
    boundary = newest[-1] if full else None
    sub_moments = _head_moments(reader, scope, newest, full, None)
    if key.month is None:
        since = now - timedelta(days=settings.tombstone_days)
        prev = None
        if boundary is not None and beyond is not None:
            older = beyond.published
            prev = _archive_key(reader, scope, boundary, older, settings.archive_size, True)
        tombstones = reader.tombstones(scope, since)
        moments = sub_moments + [stone.when for stone in tombstones]
        return Plan(key, scope, newest, prev, None, tombstones, moments, False)
    if boundary is None:
        return None
    return _archive_plan(reader, settings, key, scope, boundary, sub_moments)


def partner_plan(
    reader: Reader, settings: Settings, partner: Partner, now: datetime, query: str = ""
) -> Plan:
    """A partner's feed: the newest articles of its sections (no archives)."""
    scope = Scope(None, now, sections=partner.sections)
    newest = reader.newest_heads(scope, settings.page_size)
    full = len(newest) >= settings.page_size
    tombstones = reader.tombstones(scope, now - timedelta(days=settings.tombstone_days))
    moments = _head_moments(reader, scope, newest, full, None) + [t.when for t in tombstones]
    key = DocKey(partner=partner.name)
    return Plan(key, scope, newest, None, None, tombstones, moments, False, partner, query)


def _archive_plan(
    reader: Reader,
    settings: Settings,
    key: DocKey,
    scope: Scope,
    boundary: Head,
    sub_moments: list[datetime],
) -> Plan | None:
    assert key.month is not None
    size, span = settings.archive_size, key.month.span
    parts = math.ceil(reader.count_archived(scope, boundary, span) / size)
    if not 1 <= key.part <= parts:
        return None
    heads = reader.archived_heads(scope, boundary, span, (key.part - 1) * size, size)
    if key.part > 1:
        prev: DocKey | None = dataclasses.replace(key, part=key.part - 1)
    else:
        older = reader.newest_archived_before(scope, boundary, span[0])
        prev = _archive_key(reader, scope, boundary, older, size, True)
    if key.part < parts:
        nxt: DocKey | None = dataclasses.replace(key, part=key.part + 1)
    else:
        newer = reader.oldest_archived_from(scope, boundary, span[1])
        nxt = _archive_key(reader, scope, boundary, newer, size, False)
    moments = _head_moments(reader, scope, heads, False, span)
    if nxt is None:
        # The newest archive takes in what leaves the subscription document, and leads on
        # to it, so that every archive sits in a chain of links (a lone archive with
        # neither link reads as an incomplete one).
        moments += sub_moments
        nxt = key.subscription
    # Closed: the month is over, no entry of it is in the subscription document, and a newer
    # archive exists (the newest one's next-archive link moves when another appears).
    closed = span[1] <= scope.now and boundary.published >= span[1] and nxt != key.subscription
    # A withdrawn article simply leaves its archive; tombstones live in subscription documents.
    return Plan(key, scope, heads, prev, nxt, [], moments, closed)
