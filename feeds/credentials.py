"""API tokens and partner feed tokens: how they are made, kept (only a SHA-256 digest) and
checked, and the rules for the names of their holders."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from .errors import PartnerError, TokenError
from .text import ID_PATTERN, clean_line

SCOPES = ("publish", "stats", "metrics")
TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
PARTNER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
CONTENT = ("full", "summary")


def new_secret() -> str:
    """A token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What is stored of a token."""
    return hashlib.sha256(secret.encode()).hexdigest()


# Compared against when there is no such partner, so that unknown names take as long.
NOBODY = digest("no such partner")


def matches(stored_digest: str, secret: str) -> bool:
    """Whether `secret` is the token whose digest is stored, in constant time."""
    return hmac.compare_digest(stored_digest, digest(secret))


def check_token(name: str, scope: str) -> None:
    """Raises TokenError unless a token may be made for `name` with `scope`."""
    if not TOKEN_NAME.fullmatch(name):  # match() with "$" would take a last "\n"
        raise TokenError(f"{name!r} is not a token name (letters, digits, '.', '_', '-')")
    if scope not in SCOPES:
        raise TokenError(f"{scope!r} is not a scope; choose one of {', '.join(SCOPES)}")


def check_partner(name: str, sections: list[str], content: str, rights: str) -> str:
    """The rights statement as stored; raises PartnerError naming what is wrong."""
    if not PARTNER_NAME.fullmatch(name):
        raise PartnerError(f"{name!r} is not a partner name (lower-case letters, digits, '-')")
    bad = [s for s in sections if not ID_PATTERN.match(s)]
    if not sections or bad:
        raise PartnerError("--sections needs a comma-separated list of section names")
    if content not in CONTENT:
        raise PartnerError("--content is full or summary")
    if clean_line(rights) != rights.strip():
        raise PartnerError("--rights must be one line of text without control characters")
    return rights.strip()
