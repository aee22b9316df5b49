"""Feed documents: which articles each holds, its links, and its HTTP validators.

A feed (the site's, or a section's) is an RFC 5005 subscription document, the newest
FEEDS_PAGE_SIZE articles, plus archive documents: the older articles, one per calendar month of
publication (UTC), in numbered parts of at most FEEDS_ARCHIVE_SIZE in publication order. A plan
is decided from a cheap query of ids and revisions, so a conditional request is answered
without rendering anything.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from feeds import __version__
from feeds.config import Settings
from feeds.errors import StoreUnavailable
from feeds.formats import FORMATS
from feeds.model import Article, Entry, FeedDocument, FeedInfo, Tombstone
from feeds.partners import Partner
from feeds.store.database import EPOCH, Head, Reader, Scope

CLOSED_MAX_AGE = 86_400  # archives of closed months change only when one of their articles does


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def of(cls, moment: datetime) -> Month:
        utc = moment.astimezone(UTC)
        return cls(utc.year, utc.month)

    @property
    def span(self) -> tuple[datetime, datetime]:
        start = datetime(self.year, self.month, 1, tzinfo=UTC)
        end = datetime(self.year + self.month // 12, self.month % 12 + 1, 1, tzinfo=UTC)
        return start, end


@dataclass(frozen=True)
class DocKey:
    """Names one document: a section (None: the site) and, for an archive, month and part."""

    section: str | None = None
    month: Month | None = None
    part: int = 0
    author: str | None = None  # an author's slug
    partner: str | None = None

    def path(self, fmt: str) -> str:
        filename: str = FORMATS[fmt].FILENAME
        if self.partner is not None:
            return f"/partners/{self.partner}/{filename}"
        if self.author is not None:
            base = f"/feeds/authors/{self.author}"
        else:
            base = "/feeds" + (f"/{self.section}" if self.section else "")
        if self.month is not None:
            base += f"/archive/{self.month.year:04d}/{self.month.month:02d}/{self.part}"
        return f"{base}/{filename}"

    @property
    def subscription(self) -> DocKey:
        return DocKey(self.section, author=self.author)


@dataclass(frozen=True)
class Plan:
    """What a document holds, decided before anything is rendered."""

    key: DocKey
    scope: Scope
    heads: list[Head]
    prev: DocKey | None
    next: DocKey | None
    tombstones: list[Tombstone]
    moments: list[datetime]  # when its content last changed, as HTTP caches see it
    closed: bool  # an archive of a month that can no longer gain articles
    partner: Partner | None = None
    query: str = ""  # added to the self link: a partner's ?token=, which readers re-use


@dataclass(frozen=True)
class Validators:
    """A strong entity tag (without quotes) and the Last-Modified instant of a document."""

    etag: str
    last_modified: datetime


@functools.lru_cache(maxsize=4096)  # a document asks for the same ones with every rebuild
def article_path(article_id: str) -> str:
    return "/articles/" + quote(article_id, safe="")


def section_path(section: str) -> str:
    return "/sections/" + quote(section, safe="")


def feed_path(fmt: str, section: str | None = None) -> str:
    return DocKey(section).path(fmt)


def section_label(section: str) -> str:
    return section[:1].upper() + section[1:]


def fingerprint(settings: Settings) -> bytes:
    """Everything besides the entries that shapes a document's bytes: the release and every
    setting but those of the database and the server processes."""
    shaping = dataclasses.replace(
        settings,
        database="",
        bind="",
        workers=0,
        threads=0,
        max_body=0,
        clock="",
        cache_bytes=0,
    )
    return repr((__version__, shaping)).encode()


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


def validators(settings: Settings, found: Plan, fmt: str) -> Validators:
    """The ETag and Last-Modified of the planned document in format `fmt`."""
    digest = hashlib.sha256(fingerprint(settings))
    digest.update(f"{fmt}\n{found.key}\n{found.prev}\n{found.next}".encode())
    if found.partner is not None:
        digest.update(f"{found.partner.shaping}\n{found.query}".encode())
    for head in found.heads:
        digest.update(f"\n{head.id}\t{head.revision}".encode())
    for stone in found.tombstones if fmt == "atom" else ():  # only Atom shows tombstones
        digest.update(f"\n{stone.tag}\t{stone.when.isoformat()}".encode())
    return Validators(etag=digest.hexdigest()[:32], last_modified=max(found.moments, default=EPOCH))


def horizon(settings: Settings, found: Plan, now: datetime) -> datetime | None:
    """The first instant after `now` at which time alone (not the data) may change the
    document or its headers: its oldest tombstone expires, or its month ends. Embargo
    releases are the store's (Reader.next_release)."""
    moments = [
        stone.when.replace(microsecond=0) + timedelta(days=settings.tombstone_days, seconds=1)
        for stone in found.tombstones
    ]
    if found.key.month is not None and not found.closed:
        moments.append(found.key.month.span[1])
    return min((m for m in moments if m > now), default=None)


def lifetime(settings: Settings, found: Plan | None = None) -> int:
    """Cache lifetime before the clamp to the next embargo release: FEEDS_MAX_AGE, or a day
    or more for a closed archive."""
    if found is not None and found.closed:
        return max(settings.max_age, CLOSED_MAX_AGE)
    return settings.max_age


def max_age(reader: Reader, settings: Settings, now: datetime, found: Plan | None = None) -> int:
    """Cache lifetime: FEEDS_MAX_AGE (a day or more for closed archives), never past the
    next embargo release."""
    seconds = lifetime(settings, found)
    release = reader.next_release(now)
    if release is not None:
        seconds = min(seconds, max(0, math.ceil((release - now).total_seconds())))
    return seconds


def _urls(settings: Settings, key: DocKey | None) -> dict[str, str] | None:
    if key is None:
        return None
    return {name: settings.url(key.path(name)) for name in FORMATS}


def document(
    reader: Reader,
    settings: Settings,
    found: Plan,
    load: Callable[[Reader, list[Head]], list[Article]] | None = None,
) -> FeedDocument:
    """The planned document with its articles (read by `load`, if given), ready for any
    format."""
    articles = load(reader, found.heads) if load else reader.articles([h.id for h in found.heads])
    prefix, created = reader.fixed_meta("feed_id_prefix"), reader.fixed_meta("created")
    if prefix is None or created is None:
        raise StoreUnavailable("the store has no schema yet; run `feeds import` first")
    section, author, partner = found.key.section, found.key.author, found.partner
    if partner is not None:
        title = settings.title
        feed_id = f"{prefix}partners/{partner.name}"
    elif author is not None:
        title = f"{settings.title} — {reader.author_name(author) or author}"
        feed_id = f"{prefix}feeds/authors/{author}"
    else:
        title = settings.title + (f" — {section_label(section)}" if section else "")
        feed_id = prefix + "feeds" + (f"/{section}" if section else "")
    info = FeedInfo(
        feed_id=feed_id,
        title=title,
        description=settings.description,
        language=settings.language,
        author=settings.author,
        home_url=settings.url(section_path(section) if section else "/"),
        urls={name: url + found.query for name, url in (_urls(settings, found.key) or {}).items()},
        # With no entries, the store's creation: fixed, and a date readers find plausible.
        updated=max((a.updated for a in articles), default=datetime.fromisoformat(created)),
        generator="feeds",
        generator_version=__version__,
        prev_archive=_urls(settings, found.prev),
        next_archive=_urls(settings, found.next),
        current=_urls(settings, found.key.subscription) if found.key.month else None,
        rights=partner.rights or None if partner else None,
    )
    entries = tuple(Entry(a, settings.url(article_path(a.id))) for a in articles)
    return FeedDocument(
        info=info,
        entries=entries,
        tombstones=tuple(found.tombstones),
        summary_only=partner is not None and partner.content == "summary",
    )


def article_validators(settings: Settings, article: Article) -> Validators:
    """Validators of an article's page, from its id and revision."""
    digest = hashlib.sha256(fingerprint(settings))
    digest.update(f"page\n{article.id}\t{article.revision}".encode())
    return Validators(etag=digest.hexdigest()[:32], last_modified=article.modified)
