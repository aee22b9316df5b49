"""Settings: defaults, then FEEDS_* environment variables, then explicit overrides.

This is the only module that reads the environment. `load_settings` raises ConfigError
naming the first bad variable.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError

# RFC 4151 §2.1: taggingEntity = authorityName; a DNS name or an e-mail address.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DNS_NAME = rf"{_LABEL}(?:\.{_LABEL})*"
_TAG_AUTHORITY = re.compile(rf"^(?:{_DNS_NAME}|[^@\s,:]+@{_DNS_NAME})$")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ufffe\uffff]")
_BIND = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$|^unix:/.+$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class Settings:
    """Every setting of the service, validated."""

    database: str = "sqlite:///var/feeds.db"
    base_url: str = "http://127.0.0.1:8000"
    timezone: str = "Europe/London"
    title: str = "Newsroom"
    description: str = "The latest articles from the newsroom."
    language: str = "en-GB"
    author: str = "Newsroom"
    page_size: int = 50
    archive_size: int = 100
    max_age: int = 300
    tombstone_days: int = 30
    max_body: int = 2 * 1024 * 1024
    partner_min_interval: int = 60
    tag_authority: str = ""
    content: str = "content"
    bind: str = "127.0.0.1:8000"
    workers: int = 2
    threads: int = 4
    cache_bytes: int = 32 * 1024 * 1024  # rendered documents kept by each worker
    clock: str = ""  # a file holding the current instant, for previews and tests

    def now(self) -> datetime:
        """The current instant (whole seconds, UTC): FEEDS_CLOCK's if set, else the system's."""
        moment = read_clock(self.clock) if self.clock else datetime.now(UTC)
        return moment.replace(microsecond=0)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def url(self, path: str) -> str:
        """The absolute public URL of an app path such as '/feeds/rss.xml'."""
        return self.base_url + path


# Whole-number settings and their ranges.
_INT_FIELDS = {
    "page_size": (1, 1000),
    "archive_size": (1, 10_000),
    "tombstone_days": (0, 3650),
    "max_body": (1024, 1024**3),
    "partner_min_interval": (0, 86_400),
    "max_age": (0, 31_536_000),
    "workers": (1, 64),
    "threads": (1, 256),
    "cache_bytes": (0, 1 << 40),
}


def _env_name(field: str) -> str:
    return "FEEDS_" + field.upper()


def _check(settings: Settings) -> Settings:
    base = settings.base_url.rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            "FEEDS_BASE_URL",
            f"{settings.base_url!r} is not an absolute http(s) URL (e.g. https://news.example.com)",
        )
    if parts.query or parts.fragment:
        raise ConfigError("FEEDS_BASE_URL", "must not carry a query or a fragment")
    authority = settings.tag_authority or parts.hostname
    if not _TAG_AUTHORITY.match(authority):
        raise ConfigError(
            "FEEDS_TAG_AUTHORITY",
            f"{authority!r} is not a domain name or an "
            "e-mail address (RFC 4151), e.g. news.example.com",
        )
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ConfigError(
            "FEEDS_TIMEZONE", f"{settings.timezone!r} is not an IANA time zone (e.g. Europe/London)"
        ) from e
    if not _LANGUAGE.match(settings.language):
        raise ConfigError(
            "FEEDS_LANGUAGE", f"{settings.language!r} is not a language tag (e.g. en-GB)"
        )
    for name in ("title", "description", "author"):
        value = getattr(settings, name)
        if not value.strip():
            raise ConfigError(_env_name(name), "must not be empty")
        if _CONTROL.search(value):
            raise ConfigError(_env_name(name), "must not contain control characters")
    if not _BIND.match(settings.bind):
        raise ConfigError("FEEDS_BIND", f"{settings.bind!r} is not HOST:PORT (e.g. 127.0.0.1:8000)")
    for name, (low, high) in _INT_FIELDS.items():
        value = getattr(settings, name)
        if not low <= value <= high:
            raise ConfigError(_env_name(name), f"{value} is out of range ({low}..{high})")
    if not settings.database.strip():
        raise ConfigError("FEEDS_DATABASE", "must be a SQLAlchemy URL, e.g. sqlite:///var/feeds.db")
    if settings.clock:
        read_clock(settings.clock)
    return dataclasses.replace(settings, base_url=base, tag_authority=authority.lower())


def read_clock(path: str) -> datetime:
    """The instant in a FEEDS_CLOCK file (RFC 3339 with an offset), in UTC."""
    try:
        moment = datetime.fromisoformat(Path(path).read_text().strip().replace("Z", "+00:00"))
    except (OSError, ValueError) as e:
        raise ConfigError(
            "FEEDS_CLOCK",
            f"{path!r} must be a readable file holding an instant "
            f"such as 2026-01-15T12:00:00Z ({e})",
        ) from e
    if moment.tzinfo is None:
        raise ConfigError("FEEDS_CLOCK", f"the instant in {path!r} needs an offset or 'Z'")
    return moment.astimezone(UTC)


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build Settings from defaults, FEEDS_* variables in `environ`, then `overrides`."""
    env = os.environ if environ is None else environ
    known = {_env_name(f.name) for f in dataclasses.fields(Settings)}
    for name in sorted(env):
        if name.startswith("FEEDS_") and name not in known:
            raise ConfigError(name, "unknown setting (see the README for the FEEDS_* list)")
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Settings):
        raw = env.get(_env_name(field.name))
        if raw is None:
            continue
        if field.name in _INT_FIELDS:
            try:
                values[field.name] = int(raw.strip())
            except ValueError as e:
                raise ConfigError(_env_name(field.name), f"{raw!r} is not a whole number") from e
        else:
            values[field.name] = raw.strip()
    values.update(overrides or {})
    unknown = set(values) - {f.name for f in dataclasses.fields(Settings)}
    if unknown:
        raise ConfigError(", ".join(sorted(unknown)), "unknown setting")
    return _check(Settings(**values))
