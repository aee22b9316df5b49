"""Syndication partners: each gets its own feeds of the sections it bought, with full text or
summaries and its rights statement, behind a feed token that never reveals whether a partner
exists."""

from __future__ import annotations

import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from feeds.store.database import Reader, Writer
from feeds.store.schema import partner_polls, partners

from .errors import FeedsError
from .text import ID_PATTERN, clean_line
from .tokens import digest

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
CONTENT = ("full", "summary")
_NOBODY = digest("no such partner")  # compared against, so unknown names take as long


class PartnerError(FeedsError):
    """A partner cannot be added, rotated or revoked as asked."""


@dataclass(frozen=True)
class Partner:
    name: str
    sections: tuple[str, ...]
    content: str
    rights: str
    created: datetime
    revoked: datetime | None

    @property
    def shaping(self) -> str:
        """What of the partner's terms shapes its feeds' bytes."""
        return repr((self.sections, self.content, self.rights))


def _row(row: sa.Row[tuple[object, ...]]) -> Partner:
    return Partner(
        row.name, tuple(json.loads(row.sections)), row.content, row.rights, row.created, row.revoked
    )


def add(
    writer: Writer, name: str, sections: list[str], content: str, rights: str, now: datetime
) -> str:
    """Create a partner; return its feed token (256 random bits), shown only this once."""
    if not NAME.match(name):
        raise PartnerError(f"{name!r} is not a partner name (lower-case letters, digits, '-')")
    bad = [s for s in sections if not ID_PATTERN.match(s)]
    if not sections or bad:
        raise PartnerError("--sections needs a comma-separated list of section names")
    if content not in CONTENT:
        raise PartnerError("--content is full or summary")
    if clean_line(rights) != rights.strip():
        raise PartnerError("--rights must be one line of text without control characters")
    rights = rights.strip()
    if writer.conn.scalar(sa.select(partners.c.name).where(partners.c.name == name)):
        raise PartnerError(f"a partner named {name!r} exists (see `feeds partner list`)")
    secret = secrets.token_urlsafe(32)
    writer.conn.execute(
        partners.insert().values(
            name=name,
            digest=digest(secret),
            sections=json.dumps(sorted(set(sections))),
            content=content,
            rights=rights,
            created=now,
        )
    )
    return secret


def rotate(writer: Writer, name: str) -> str:
    """Give a partner a new feed token; the old one stops working at once."""
    secret = secrets.token_urlsafe(32)
    done = writer.conn.execute(
        partners.update()
        .where(partners.c.name == name, partners.c.revoked.is_(None))
        .values(digest=digest(secret))
    )
    if done.rowcount == 0:
        raise PartnerError(f"no active partner named {name!r}")
    return secret


def revoke(writer: Writer, name: str, now: datetime) -> None:
    done = writer.conn.execute(
        partners.update()
        .where(partners.c.name == name, partners.c.revoked.is_(None))
        .values(revoked=now)
    )
    if done.rowcount == 0:
        raise PartnerError(f"no active partner named {name!r}")


def listing(reader: Reader) -> list[Partner]:
    rows = reader.conn.execute(sa.select(partners).order_by(partners.c.name))
    return [_row(row) for row in rows]


def authenticate(reader: Reader, name: str, secret: str) -> Partner | None:
    """The active partner `name` if `secret` is its token; None otherwise, in about the same
    time whether or not the partner exists."""
    row = reader.conn.execute(sa.select(partners).where(partners.c.name == name)).first()
    expected = row.digest if row is not None else _NOBODY
    matches = hmac.compare_digest(expected, digest(secret))
    if row is None or not matches or row.revoked is not None:
        return None
    return _row(row)


def claim_full_answer(
    writer: Writer, partner: str, document: str, now: datetime, interval: int
) -> int:
    """Take the partner's next full answer for `document`: 0 when granted (and recorded in
    the same write transaction, so parallel requests cannot all pass), else seconds to wait."""
    where = (partner_polls.c.partner == partner, partner_polls.c.document == document)
    last = writer.conn.scalar(sa.select(partner_polls.c.at).where(*where))
    if last is not None and interval:
        remaining = (last + timedelta(seconds=interval) - now).total_seconds()
        if remaining > 0:
            return int(remaining + 0.999)
    if last is None:
        values = {"partner": partner, "document": document, "at": now}
        writer.conn.execute(partner_polls.insert().values(**values))
    else:
        writer.conn.execute(partner_polls.update().where(*where).values(at=now))
    return 0
