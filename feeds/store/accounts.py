"""Tokens, the audit log, partners and their polls: the statements only. The rules (names,
secrets, digests) are feeds.credentials'."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feeds.model import AuditEntry, Partner, Token

from .hub import end_partner_subscriptions
from .schema import AUDIT_REFUSED, audit, partner_polls, partners, tokens

# What the audit log keeps of each value, in characters: every valid article id whole
# (apijson.MAX_ID_LENGTH is 200), of a longer value its start and a mark (see `kept`).
ID_KEPT, DETAIL_KEPT, TOKEN_KEPT, METHOD_KEPT = 200, 200, 128, 8
# Refused requests share a row per REFUSED_SPAN for each status, method and token, and only
# the newest REFUSED_KEPT of those rows stay: what any number of them costs is bounded
# (10,000 rows of at most about 600 characters), however fast they come.
REFUSED_SPAN = timedelta(minutes=1)
REFUSED_KEPT = 10_000
# What neither database can store as text: NUL (PostgreSQL) and lone surrogates (UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_AUDIT_COLUMNS = ("at", "token", "method", "article_id", "status", "detail", "count", "last_at")


def kept(value: str, limit: int) -> str:
    """`value` as the audit log keeps it: what no database can store as U+FFFD, and at most
    `limit` characters; a longer value keeps its start and ends with `…[N chars]`, N its
    length."""
    value = _UNSTORABLE.sub("\ufffd", value)
    if len(value) <= limit:
        return value
    mark = f"\u2026[{len(value)} chars]"
    return value[: limit - len(mark)] + mark if len(mark) < limit else value[:limit]


def _audit_values(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at,
        "token": None if entry.token is None else kept(entry.token, TOKEN_KEPT),
        "method": kept(entry.method, METHOD_KEPT),
        "article_id": kept(entry.article_id, ID_KEPT),
        "status": entry.status,
        "detail": kept(entry.detail, DETAIL_KEPT),
    }


def _partner(row: Any) -> Partner:
    return Partner(
        row.name,
        tuple(json.loads(row.sections)),
        row.content,
        row.rights,
        row.created,
        row.revoked,
        row.digest,
        row.profile,
    )


class AccountReads:
    conn: Connection

    def tokens(self) -> list[Token]:
        """Every token, by name (revoked ones too)."""
        columns = (tokens.c.name, tokens.c.scope, tokens.c.created, tokens.c.revoked)
        rows = self.conn.execute(sa.select(*columns).order_by(tokens.c.name))
        return [Token(*row) for row in rows]

    def token_holder(self, digest: str, scope: str) -> str | None:
        """The name of the active token with this digest and scope, or None."""
        row = self.conn.execute(
            sa.select(tokens.c.name, tokens.c.scope, tokens.c.revoked).where(
                tokens.c.digest == digest
            )
        ).first()
        if row is None or row.revoked is not None or row.scope != scope:
            return None
        name: str = row.name
        return name

    def audit_log(self, limit: int) -> list[AuditEntry]:
        """The latest `limit` entries of the audit log, newest first."""
        columns = (audit.c[name] for name in _AUDIT_COLUMNS)
        rows = self.conn.execute(sa.select(*columns).order_by(audit.c.seq.desc()).limit(limit))
        return [AuditEntry(*row) for row in rows]

    def partners(self) -> list[Partner]:
        """Every partner, by name (revoked ones too)."""
        return [_partner(row) for row in self.conn.execute(sa.select(partners).order_by("name"))]

    def partner(self, name: str) -> Partner | None:
        row = self.conn.execute(sa.select(partners).where(partners.c.name == name)).first()
        return None if row is None else _partner(row)


class RefusedCounts:
    """Counting refused API requests: done in a recorder's transaction (never waiting for
    the writers' lock) or a writer's."""

    conn: Connection

    def record_refused(self, entry: AuditEntry) -> None:
        """Count a refused request in the row of its REFUSED_SPAN for its status, method and
        token (that row keeps the id and detail of the first of them); a new row makes the
        oldest refused rows beyond REFUSED_KEPT go."""
        values = _audit_values(entry)
        start = entry.at.replace(second=0, microsecond=0)
        token = audit.c.token
        found = self.conn.execute(
            sa.select(audit.c.seq, audit.c.last_at)
            .where(
                AUDIT_REFUSED,
                audit.c.at >= start,
                audit.c.at < start + REFUSED_SPAN,
                audit.c.status == entry.status,
                audit.c.method == values["method"],
                token.is_(None) if values["token"] is None else token == values["token"],
            )
            .order_by(audit.c.seq.desc())
            .limit(1)
        ).first()
        if found is not None:
            last = entry.at if found.last_at is None else max(found.last_at, entry.at)
            self.conn.execute(
                audit.update()
                .where(audit.c.seq == found.seq)
                .values(count=audit.c.count + 1, last_at=last)
            )
            return
        self.conn.execute(audit.insert().values(**values, count=1, last_at=entry.at))
        first_dropped = (
            sa.select(audit.c.at)
            .where(AUDIT_REFUSED)
            .order_by(audit.c.at.desc())
            .offset(REFUSED_KEPT)
            .limit(1)
            .scalar_subquery()
        )
        self.conn.execute(audit.delete().where(AUDIT_REFUSED, audit.c.at <= first_dropped))


class AccountWrites(AccountReads, RefusedCounts):
    def put_token(self, name: str, scope: str, digest: str, now: datetime) -> bool:
        """Store a token under `name`, unless an active one has it (then False). A revoked
        name is given out again, with the new digest; the old token stays dead."""
        existing = self.conn.execute(
            sa.select(tokens.c.revoked).where(tokens.c.name == name)
        ).first()
        if existing is not None and existing.revoked is None:
            return False
        values = {"digest": digest, "scope": scope, "created": now, "revoked": None}
        if existing is None:
            self.conn.execute(tokens.insert().values(name=name, **values))
        else:
            self.conn.execute(tokens.update().where(tokens.c.name == name).values(**values))
        return True

    def revoke_token(self, name: str, now: datetime) -> bool:
        """Revoke the active token `name`; False when there is none."""
        done = self.conn.execute(
            tokens.update()
            .where(tokens.c.name == name, tokens.c.revoked.is_(None))
            .values(revoked=now)
        )
        return bool(done.rowcount)

    def record_audit(self, entry: AuditEntry) -> None:
        """Keep a write done through the API in a row of its own, each value `kept`."""
        self.conn.execute(audit.insert().values(**_audit_values(entry)))

    def add_partner(self, partner: Partner) -> bool:
        """Store a new partner; False when one of that name exists (revoked ones too)."""
        if self.conn.scalar(sa.select(partners.c.name).where(partners.c.name == partner.name)):
            return False
        self.conn.execute(
            partners.insert().values(
                name=partner.name,
                digest=partner.digest,
                sections=json.dumps(sorted(set(partner.sections))),
                content=partner.content,
                rights=partner.rights,
                created=partner.created,
                profile=partner.profile,
            )
        )
        return True

    def set_partner_digest(self, name: str, digest: str) -> bool:
        """Give the active partner `name` a new token digest; False when there is none."""
        done = self.conn.execute(
            partners.update()
            .where(partners.c.name == name, partners.c.revoked.is_(None))
            .values(digest=digest)
        )
        end_partner_subscriptions(self.conn, name)  # they were made with the old token
        return bool(done.rowcount)

    def revoke_partner(self, name: str, now: datetime) -> bool:
        """Revoke the active partner `name`, ending its subscriptions; False when there is
        none."""
        done = self.conn.execute(
            partners.update()
            .where(partners.c.name == name, partners.c.revoked.is_(None))
            .values(revoked=now)
        )
        end_partner_subscriptions(self.conn, name)
        return bool(done.rowcount)


class PollClaims:
    conn: Connection

    def claim_poll(self, partner: str, document: str, now: datetime, interval: int) -> int:
        """Take the partner's next full answer for `document`: 0 when granted (and recorded
        in the same transaction, so parallel requests cannot all pass), else seconds to
        wait."""
        where = (partner_polls.c.partner == partner, partner_polls.c.document == document)
        last = self.conn.scalar(sa.select(partner_polls.c.at).where(*where))
        if last is not None and interval:
            remaining = (last + timedelta(seconds=interval) - now).total_seconds()
            if remaining > 0:
                return int(remaining + 0.999)
        if last is None:
            values = {"partner": partner, "document": document, "at": now}
            self.conn.execute(partner_polls.insert().values(**values))
        else:
            self.conn.execute(partner_polls.update().where(*where).values(at=now))
        return 0
