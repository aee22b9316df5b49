"""Which articles a document holds and where it leads, decided before anything renders.

A feed (the site's, a section's, an author's or a partner's) is an RFC 5005 subscription
document plus archive documents.

- The subscription document holds the FEEDS_PAGE_SIZE visible articles that changed last
  (by `modified`: entered the feed, were corrected, came out of embargo), the latest change
  first. So a client that polls it sees every correction, late article and embargo release
  on its next poll, and in Atom every withdrawal as a tombstone.
- Archive documents hold every article for good: each place (the site, a section, an
  author) lists its placements in the order they entered it, month by month (UTC) of
  entering, in parts of FEEDS_ARCHIVE_SIZE. A placement enters after every one before it
  and is never removed (a withdrawn article, or one moved to another section, leaves a
  gap), so part boundaries never move, an archive URL once served always answers, and an
  archive's entries change only when one of its own articles changes.

A plan is decided from cheap queries of ids, revisions and times, so a conditional request
is answered without rendering anything. A partner with a consumer profile is the exception:
its documents leave out the articles that profile's rules reject (profiles.py), so those
rules read its articles while the plan is made, and the subscription document takes the
next ones that changed last in their place, up to FEEDS_PAGE_SIZE.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from feeds.config import Settings
from feeds.model import Article, Head, Partner, Tombstone
from feeds.store import Reader, Scope

from .profiles import PROFILES, item_of
from .urls import DocKey, Month, article_path

MICROSECOND = timedelta(microseconds=1)
# How many times more articles than a page a profile's partner document looks through to
# fill its page when the profile rejects some.
SEARCHED_PAGES = 8

Load = Callable[[Reader, list[Head]], list[Article]]


@dataclass(frozen=True)
class Plan:
    """What a document holds, decided before anything is rendered."""

    key: DocKey
    scope: Scope
    heads: list[Head]
    prev: DocKey | None
    next: DocKey | None
    tombstones: list[Tombstone]
    moments: list[datetime]  # when its content changed: its updated time is the latest
    closed: bool  # an archive that can gain no article and whose links are fixed
    partner: Partner | None = None
    query: str = ""  # added to the self link: a partner's ?token=, which readers re-use
    author_name: str | None = None  # an author's feed is titled with the author's name
    created: datetime | None = None  # the store's creation
    turns: datetime | None = None  # when time alone changes what a partner's profile keeps

    @property
    def updated(self) -> datetime | None:
        """The latest instant the document's content changed; None if it never held any."""
        return max(self.moments, default=None)

    @property
    def changed(self) -> datetime | None:
        """Its updated time, and for a document that never held anything the store's
        creation: what the document says it was updated, and its Last-Modified."""
        return self.updated or self.created


def _present(moments: Iterable[datetime | None]) -> list[datetime]:
    return [m for m in moments if m is not None]


def created_at(reader: Reader) -> datetime | None:
    """When the store was made (None before its schema is)."""
    created = reader.fixed_meta("created")
    return None if created is None else datetime.fromisoformat(created)


def _author_name(reader: Reader, key: DocKey) -> str | None:
    return None if key.author is None else reader.author_name(key.author) or key.author


def _scope(key: DocKey, now: datetime, partner: Partner | None) -> Scope:
    if partner is not None:
        return Scope(None, now, sections=partner.sections)
    return Scope(key.section, now, author=key.author)


def _last_part(
    reader: Reader, settings: Settings, key: DocKey, scope: Scope, at: datetime
) -> DocKey:
    """The last part of the archive month of a placement that entered at `at`."""
    month = Month.of(at)
    count = reader.count_placed(scope, month.span)
    part = max(1, math.ceil(count / settings.archive_size))
    return dataclasses.replace(key.subscription, month=month, part=part)


@dataclass(frozen=True)
class _Profiled:
    """What a partner's profile keeps of some heads, read with `load`."""

    partner: Partner | None
    load: Load | None

    def kept(
        self, reader: Reader, settings: Settings, heads: list[Head], now: datetime
    ) -> tuple[list[Head], datetime | None]:
        """The heads whose articles the profile does not reject at `now`, and when time
        alone may change that (None: never, or no profile)."""
        partner = self.partner
        profile = (
            None if partner is None or partner.profile is None else PROFILES.get(partner.profile)
        )
        if partner is None or profile is None or not heads:
            return heads, None
        loaded = self.load(reader, heads) if self.load else reader.articles([h.id for h in heads])
        articles = {article.id: article for article in loaded}
        kept, turns = [], []
        for head in heads:
            article = articles.get(head.id)
            if article is None:
                continue
            item = item_of(
                article,
                settings.url(article_path(article.id)),
                partner.content == "summary",
                settings.author,
            )
            if not profile.rejects(item, now):
                kept.append(head)
            turn = profile.turns(item, now)
            if turn is not None:
                turns.append(turn)
        return kept, min(turns, default=None)

    def changed(
        self, reader: Reader, settings: Settings, scope: Scope, now: datetime
    ) -> tuple[list[Head], datetime | None]:
        """The FEEDS_PAGE_SIZE visible articles that changed last and that the profile keeps
        (looking through at most SEARCHED_PAGES pages of them)."""
        size = limit = settings.page_size
        while True:
            heads = reader.changed_heads(scope, limit)
            kept, turns = self.kept(reader, settings, heads, now)
            if len(kept) >= size or len(heads) < limit or limit >= size * SEARCHED_PAGES:
                return kept[:size], turns
            limit *= 2


def plan(
    reader: Reader,
    settings: Settings,
    key: DocKey,
    now: datetime,
    partner: Partner | None = None,
    query: str = "",
    load: Load | None = None,
) -> Plan | None:
    """The plan of the document named by `key` (a partner's when `partner` is given) as of
    `now`, or None if there is no such document. A partner's profile reads articles with
    `load` (default: from `reader`)."""
    scope = _scope(key, now, partner)
    profiled = _Profiled(partner, load)
    if key.month is not None:
        return _archive_plan(reader, settings, key, scope, profiled, query)
    heads, turns = profiled.changed(reader, settings, scope, now)
    latest = reader.placed_before(scope, now + MICROSECOND)
    if partner is None and (key.section or key.author) and latest is None and not heads:
        return None  # no article was ever seen there
    prev = None if latest is None else _last_part(reader, settings, key, scope, latest)
    since = now - timedelta(days=settings.tombstone_days)
    tombstones = reader.tombstones(scope, since, settings.page_size)  # bounded like entries
    moments = _present(
        [
            *(h.modified for h in heads),
            *(t.when for t in tombstones),
            reader.latest_departure(scope, None),
            reader.latest_left(scope),
        ]
    )
    name = _author_name(reader, key)
    return Plan(
        key,
        scope,
        heads,
        prev,
        None,
        tombstones,
        moments,
        False,
        partner,
        query,
        name,
        created_at(reader),
        turns,
    )


def partner_plan(
    reader: Reader, settings: Settings, partner: Partner, now: datetime, query: str = ""
) -> Plan:
    """A partner's subscription document: the articles of its sections that changed last."""
    planned = plan(reader, settings, DocKey(partner=partner.name), now, partner, query)
    assert planned is not None  # a partner's feed always exists
    return planned


def _archive_plan(
    reader: Reader,
    settings: Settings,
    key: DocKey,
    scope: Scope,
    profiled: _Profiled,
    query: str,
) -> Plan | None:
    assert key.month is not None
    partner = profiled.partner
    size, span, now = settings.archive_size, key.month.span, scope.now
    parts = math.ceil(reader.count_placed(scope, span) / size)
    if not 1 <= key.part <= parts:
        return None
    rows = reader.placed(scope, span, (key.part - 1) * size, size)
    heads, turns = profiled.kept(
        reader, settings, [row.head for row in rows if row.shown(now)], now
    )
    if key.part > 1:
        prev: DocKey | None = dataclasses.replace(key, part=key.part - 1)
    else:
        older = reader.placed_before(scope, span[0])
        prev = None if older is None else _last_part(reader, settings, key, scope, older)
    if key.part < parts:
        nxt: DocKey | None = dataclasses.replace(key, part=key.part + 1)
    else:
        newer = reader.placed_from(scope, span[1])
        nxt = None if newer is None else dataclasses.replace(key, month=Month.of(newer), part=1)
    # What changed what it shows: its articles' changes, withdrawals (their time), articles
    # leaving the place, and departures (re-dated, put under embargo again); a change to an
    # article it no longer shows is not one of them.
    left = [row for row in rows if not row.shown(now)]
    moments = _present(
        [
            *(h.modified for h in heads),
            # (what happened to an article after it left the place is not)
            *(row.left_at for row in left),
            *(row.withdrawn for row in left if row.left_at is None and row.withdrawn),
            reader.departed_among([row.id for row in rows if row.left_at is None], now),
        ]
    )
    # Closed: no article can join it (it is full, or its month is over) and its links are
    # fixed (a newer archive exists); only a change to one of its own articles changes it.
    closed = nxt is not None and (len(rows) == size or span[1] <= now)
    # A withdrawn article leaves a gap; tombstones live in subscription documents.
    name = _author_name(reader, key)
    return Plan(
        key,
        scope,
        heads,
        prev,
        nxt,
        [],
        moments,
        closed,
        partner,
        query,
        name,
        created_at(reader),
        turns,
    )
