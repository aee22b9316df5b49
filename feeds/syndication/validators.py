"""A document's HTTP validators and lifetime, decided from its plan before anything renders.

The ETag is a digest of everything that shapes the document's bytes. Last-Modified is the
latest instant its content changed as caches see it, kept moving with the ETag by the ledger
policy (`stable_last_modified`). The lifetime is FEEDS_MAX_AGE (longer for closed archives),
never past the next embargo release or the instant time alone changes the document (`clamp`).
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta

from feeds import __version__
from feeds.config import Settings
from feeds.model import Article, Validators

from .plan import Plan

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CLOSED_MAX_AGE = 86_400  # archives of closed months change only when one of their articles does


def fingerprint(settings: Settings) -> bytes:
    """Everything besides the entries that shapes a document's bytes: the release and every
    setting that shapes documents (config.Settings.shaping)."""
    return repr((__version__, settings.shaping())).encode()


def validators(settings: Settings, plan: Plan, fmt: str) -> Validators:
    """The ETag and Last-Modified of the planned document in format `fmt` ("html" for the
    pages that list it)."""
    digest = hashlib.sha256(fingerprint(settings))
    digest.update(f"{fmt}\n{plan.key}\n{plan.prev}\n{plan.next}".encode())
    # The document's own updated time and title are in its bytes too.
    updated = plan.updated.isoformat() if plan.updated else ""
    digest.update(f"\n{updated}\n{plan.author_name}".encode())
    if plan.partner is not None:
        digest.update(f"{plan.partner.shaping}\n{plan.query}".encode())
    for head in plan.heads:
        digest.update(f"\n{head.id}\t{head.revision}".encode())
    for stone in plan.tombstones if fmt == "atom" else ():  # only Atom shows tombstones
        digest.update(f"\n{stone.tag}\t{stone.when.isoformat()}".encode())
    return Validators(etag=digest.hexdigest()[:32], last_modified=plan.changed or EPOCH)


def article_validators(settings: Settings, article: Article) -> Validators:
    """Validators of an article's page, from its id and revision."""
    digest = hashlib.sha256(fingerprint(settings))
    digest.update(f"page\n{article.id}\t{article.revision}".encode())
    return Validators(etag=digest.hexdigest()[:32], last_modified=article.modified)


def next_time_change(settings: Settings, plan: Plan, now: datetime) -> datetime | None:
    """The first instant after `now` at which time alone (not the data) may change the
    document or its headers: its oldest tombstone expires, its month ends, or a partner's
    profile stops keeping an article (it grows too old). Embargo releases are the store's
    (Reader.next_release)."""
    moments = [
        stone.when.replace(microsecond=0) + timedelta(days=settings.tombstone_days, seconds=1)
        for stone in plan.tombstones
    ]
    if plan.key.month is not None and not plan.closed:
        moments.append(plan.key.month.span[1])
    if plan.turns is not None:
        moments.append(plan.turns)
    return min((m for m in moments if m > now), default=None)


def lifetime(settings: Settings, plan: Plan | None = None) -> int:
    """Seconds a cache may keep the answer, before `clamp`: FEEDS_MAX_AGE, or a day or more
    for a closed archive (unless time alone changes what its partner's profile keeps)."""
    if plan is not None and plan.closed and plan.turns is None:
        return max(settings.max_age, CLOSED_MAX_AGE)
    return settings.max_age


def clamp(seconds: int, until: datetime | None, now: datetime) -> int:
    """`seconds` of lifetime from `now`, never past `until`: the next embargo release, or the
    instant time alone changes the document."""
    if until is None:
        return seconds
    return max(0, min(seconds, math.ceil((until - now).total_seconds())))


def stable_last_modified(
    recorded: Validators | None, computed: Validators, now: datetime
) -> datetime:
    """The Last-Modified to send with `computed.etag`, given what the ledger holds for the
    document: the one recorded with that ETag; for a new ETag, the computed one when it is
    later than the one recorded before, else `now` (never earlier than that one), so that a
    client revalidating by date alone sees every change."""
    if recorded is None:
        return computed.last_modified
    if recorded.etag == computed.etag:
        return recorded.last_modified
    if computed.last_modified > recorded.last_modified:
        return computed.last_modified
    return max(now, recorded.last_modified)
