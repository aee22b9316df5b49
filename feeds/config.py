"""Settings: defaults, then FEEDS_* environment variables, then explicit overrides.

This is the only module that reads the environment. `load_settings` raises ConfigError
naming the first bad variable.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Network, IPv6Network, ip_network
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
# HOST:PORT, unix:PATH, or fd://N: a listening socket the server inherits (socket activation).
_BIND = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$|^unix:/.+$|^fd://[0-9]+$")
_DATABASE = re.compile(r"^(sqlite|postgresql)(\+\w+)?://")
_HUB_SEPARATORS = re.compile(r"[\s,]+")
# What a URL in a Link header (RFC 8288 §3: <URI-Reference>) may hold: printable ASCII but
# '"', '<' and '>'.
_LINK_URL = re.compile(r"^[!#-;=?-~]+$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
IPNetwork = IPv4Network | IPv6Network


def _setting(default: Any, *, shapes: bool, low: int | None = None, high: int | None = None) -> Any:
    """A field of Settings. `shapes`: whether its value shapes documents (their bytes or
    validators); a setting that does not (the database, the server processes) can differ
    between servers that must give the same ETags. `low`, `high`: the range of a number."""
    metadata: dict[str, object] = {"shapes": shapes}
    if low is not None:
        metadata["range"] = (low, high)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    """Every setting of the service, validated."""

    database: str = _setting("sqlite:///var/feeds.db", shapes=False)
    base_url: str = _setting("http://127.0.0.1:8000", shapes=True)
    timezone: str = _setting("Europe/London", shapes=True)
    title: str = _setting("Newsroom", shapes=True)
    description: str = _setting("The latest articles from the newsroom.", shapes=True)
    language: str = _setting("en-GB", shapes=True)
    author: str = _setting("Newsroom", shapes=True)
    page_size: int = _setting(50, shapes=True, low=1, high=1000)
    archive_size: int = _setting(100, shapes=True, low=1, high=10_000)
    max_age: int = _setting(300, shapes=True, low=0, high=31_536_000)
    tombstone_days: int = _setting(30, shapes=True, low=0, high=3650)
    max_body: int = _setting(2 * 1024 * 1024, shapes=False, low=1024, high=1024**3)
    partner_min_interval: int = _setting(60, shapes=True, low=0, high=86_400)
    tag_authority: str = _setting("", shapes=True)
    content: str = _setting("content", shapes=True)
    bind: str = _setting("127.0.0.1:8000", shapes=False)
    workers: int = _setting(2, shapes=False, low=1, high=64)
    threads: int = _setting(4, shapes=False, low=1, high=256)
    # Rendered documents kept by each worker.
    cache_bytes: int = _setting(128 * 1024 * 1024, shapes=False, low=0, high=1 << 40)
    clock: str = _setting("", shapes=False)  # a file holding the current instant
    # WebSub (feeds.push): external hubs named in every subscription document beside the
    # built-in one at /hub, separated by spaces or commas.
    hubs: str = _setting("", shapes=True)
    hub_lease: int = _setting(864_000, shapes=False, low=60, high=31_536_000)  # 10 days
    hub_lease_min: int = _setting(3600, shapes=False, low=1, high=31_536_000)
    hub_lease_max: int = _setting(2_592_000, shapes=False, low=60, high=31_536_000)
    hub_retry: int = _setting(30, shapes=False, low=1, high=86_400)  # the first; doubling
    hub_timeout: int = _setting(10, shapes=False, low=1, high=300)  # per request, all told
    hub_allow_loopback: int = _setting(0, shapes=False, low=0, high=1)  # for tests
    hub_rate: int = _setting(60, shapes=False, low=1, high=100_000)  # requests/min/client
    hub_concurrency: int = _setting(200, shapes=False, low=1, high=10_000)
    # Proxies in front (addresses or networks, separated by spaces or commas) whose
    # X-Forwarded-For names the client: what audience counting and /metrics see as the
    # client's address.
    trusted_proxies: str = _setting("127.0.0.1 ::1", shapes=False)
    # Who may read /metrics without a token with the metrics scope: addresses or networks.
    metrics_from: str = _setting("127.0.0.1 ::1", shapes=False)
    # Where the server's processes keep their metrics between scrapes (prometheus_client's
    # multi-process files), wiped when the server starts; empty: a temporary directory of the
    # server's own, removed when it stops.
    metrics_dir: str = _setting("", shapes=False)
    stats_flush: int = _setting(10, shapes=False, low=1, high=3600)  # seconds between writes
    stats_days: int = _setting(90, shapes=False, low=1, high=3650)  # days of figures kept

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

    @property
    def hub_url(self) -> str:
        """The built-in WebSub hub's public URL."""
        return self.url("/hub")

    @property
    def external_hubs(self) -> tuple[str, ...]:
        return (
            tuple(dict.fromkeys(_HUB_SEPARATORS.split(self.hubs.strip())))
            if self.hubs.strip()
            else ()
        )

    @property
    def all_hubs(self) -> tuple[str, ...]:
        """Every hub a subscription document names: the built-in one first."""
        return (self.hub_url, *(h for h in self.external_hubs if h != self.hub_url))

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return networks(self.trusted_proxies)

    @property
    def metrics_networks(self) -> tuple[IPNetwork, ...]:
        return networks(self.metrics_from)

    def shaping(self) -> Settings:
        """These settings with every one that does not shape documents blanked (empty, or
        zero): what document validators take into account."""
        blank = {
            f.name: type(getattr(self, f.name))()
            for f in dataclasses.fields(self)
            if not f.metadata["shapes"]
        }
        return dataclasses.replace(self, **blank)


def networks(value: str) -> tuple[IPNetwork, ...]:
    """The addresses or networks (e.g. '127.0.0.1 10.0.0.0/8, ::1') in a setting's value;
    raises ValueError naming one that is neither."""
    return tuple(ip_network(item, strict=False) for item in _HUB_SEPARATORS.split(value) if item)


# Whole-number settings and their ranges.
_INT_FIELDS = {
    f.name: f.metadata["range"] for f in dataclasses.fields(Settings) if "range" in f.metadata
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
        raise ConfigError(
            "FEEDS_BIND",
            f"{settings.bind!r} is not HOST:PORT (e.g. 127.0.0.1:8000), unix:PATH or fd://N",
        )
    for name, (low, high) in _INT_FIELDS.items():
        value = getattr(settings, name)
        if not low <= value <= high:
            raise ConfigError(_env_name(name), f"{value} is out of range ({low}..{high})")
    if not _DATABASE.match(settings.database):
        raise ConfigError(
            "FEEDS_DATABASE",
            f"{settings.database!r} is not a SQLite or PostgreSQL URL (e.g. "
            "sqlite:///var/feeds.db or postgresql+psycopg://USER:PASSWORD@HOST/DB)",
        )
    if settings.clock:
        read_clock(settings.clock)
    for hub in settings.external_hubs:
        parts = urlsplit(hub)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
            raise ConfigError(
                "FEEDS_HUBS",
                f"{hub!r} is not an absolute http(s) URL (e.g. https://pubsubhubbub.appspot.com/)",
            )
        if not _LINK_URL.match(hub):
            raise ConfigError(
                "FEEDS_HUBS",
                f"{hub!r} holds characters a Link header cannot carry ('\"', '<', '>' or any "
                "outside ASCII): percent-encode them, and give a host name in its xn-- form",
            )
    for name in ("trusted_proxies", "metrics_from"):
        try:
            networks(getattr(settings, name))
        except ValueError as e:
            raise ConfigError(
                _env_name(name),
                f"{e}: give addresses or networks, separated by spaces or commas "
                "(e.g. 127.0.0.1 10.0.0.0/8 ::1)",
            ) from e
    if not settings.hub_lease_min <= settings.hub_lease <= settings.hub_lease_max:
        raise ConfigError(
            "FEEDS_HUB_LEASE",
            f"{settings.hub_lease} must lie between FEEDS_HUB_LEASE_MIN "
            f"({settings.hub_lease_min}) and FEEDS_HUB_LEASE_MAX ({settings.hub_lease_max})",
        )
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
    for item in dataclasses.fields(Settings):
        raw = env.get(_env_name(item.name))
        if raw is None:
            continue
        if item.name in _INT_FIELDS:
            try:
                values[item.name] = int(raw.strip())
            except ValueError as e:
                raise ConfigError(_env_name(item.name), f"{raw!r} is not a whole number") from e
        else:
            values[item.name] = raw.strip()
    values.update(overrides or {})
    unknown = set(values) - {f.name for f in dataclasses.fields(Settings)}
    if unknown:
        raise ConfigError(", ".join(sorted(unknown)), "unknown setting")
    return _check(Settings(**values))
