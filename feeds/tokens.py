"""Bearer tokens: random, shown once, stored as a SHA-256 digest, scoped, revocable."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from feeds.store.database import Reader, Writer
from feeds.store.schema import audit, tokens

from .errors import FeedsError

SCOPES = ("publish",)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class TokenError(FeedsError):
    """A token cannot be created or revoked as asked."""


@dataclass(frozen=True)
class Token:
    name: str
    scope: str
    created: datetime
    revoked: datetime | None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(writer: Writer, name: str, scope: str, now: datetime) -> str:
    """Store a new token and return its secret (256 random bits); only its digest is kept."""
    if not NAME.match(name):
        raise TokenError(f"{name!r} is not a token name (letters, digits, '.', '_', '-')")
    if scope not in SCOPES:
        raise TokenError(f"{scope!r} is not a scope; choose one of {', '.join(SCOPES)}")
    existing = writer.conn.execute(sa.select(tokens.c.revoked).where(tokens.c.name == name)).first()
    if existing is not None and existing.revoked is None:
        raise TokenError(f"an active token named {name!r} exists; revoke it first")
    secret = secrets.token_urlsafe(32)  # 256 random bits
    values = {"digest": digest(secret), "scope": scope, "created": now, "revoked": None}
    if existing is None:
        writer.conn.execute(tokens.insert().values(name=name, **values))
    else:  # a revoked name is given out again, with a new secret; the old one stays dead
        writer.conn.execute(tokens.update().where(tokens.c.name == name).values(**values))
    return secret


def revoke(writer: Writer, name: str, now: datetime) -> None:
    result = writer.conn.execute(
        tokens.update().where(tokens.c.name == name, tokens.c.revoked.is_(None)).values(revoked=now)
    )
    if result.rowcount == 0:
        raise TokenError(f"no active token named {name!r} (see `feeds token list`)")


def listing(reader: Reader) -> list[Token]:
    rows = reader.conn.execute(
        sa.select(tokens.c.name, tokens.c.scope, tokens.c.created, tokens.c.revoked).order_by(
            tokens.c.name
        )
    )
    return [Token(*row) for row in rows]


def authenticate(reader: Reader, secret: str, scope: str) -> str | None:
    """The name of the active token with this secret and scope, or None."""
    wanted = digest(secret)
    row = reader.conn.execute(
        sa.select(tokens.c.name, tokens.c.digest, tokens.c.scope, tokens.c.revoked).where(
            tokens.c.digest == wanted
        )
    ).first()
    # The lookup is by digest, so timing says nothing about the secret; the final comparison
    # is constant-time all the same.
    if row is None or not hmac.compare_digest(row.digest, wanted):
        return None
    if row.revoked is not None or row.scope != scope:
        return None
    name: str = row.name
    return name


def record(
    writer: Writer,
    at: datetime,
    token: str | None,
    method: str,
    article_id: str,
    status: int,
    detail: str = "",
) -> None:
    writer.conn.execute(
        audit.insert().values(
            at=at, token=token, method=method, article_id=article_id, status=status, detail=detail
        )
    )


def audit_log(reader: Reader, limit: int) -> list[tuple[datetime, str | None, str, str, int, str]]:
    rows = reader.conn.execute(
        sa.select(
            audit.c.at,
            audit.c.token,
            audit.c.method,
            audit.c.article_id,
            audit.c.status,
            audit.c.detail,
        )
        .order_by(audit.c.seq.desc())
        .limit(limit)
    )
    return [tuple(row) for row in rows]
