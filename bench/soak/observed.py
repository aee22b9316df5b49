"""What the soak has seen of each document, shared by all its threads: the versions (ETags)
of each URL and coding in the order they were first served, with their Last-Modified, and the
bytes each ETag named.

A version never comes back once a newer one was served: every write bumps the revisions an
ETag is made of, and every worker serves a change from the first request after its commit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from .transport import Reply

GZIP_SUFFIX = '-gz"'

Key = tuple[str, str, str]  # target, path (with its query), coding ("gzip" or "identity")


@dataclass(frozen=True)
class Version:
    etag: str  # as sent, quoted
    first_seen: float  # time.monotonic() when the first answer carrying it came in
    last_modified: datetime | None  # None when only a 304 carried it so far


class History:
    """The versions of every (target, path, coding) in the order first seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[Key, list[Version]] = {}
        self.same_second = 0  # ETag changes whose Last-Modified stayed the same second

    def observe(self, key: Key, etag: str, modified: datetime | None, reply: Reply) -> list[str]:
        """Record that `reply` carried `etag`; what is wrong with that ('stale: ...',
        'went back: ...')."""
        with self._lock:
            versions = self._versions.setdefault(key, [])
            at = next((i for i, v in enumerate(versions) if v.etag == etag), None)
            if at is not None:
                if modified is not None and versions[at].last_modified is None:
                    versions[at] = Version(etag, versions[at].first_seen, modified)
                newer = next(
                    (v for v in reversed(versions[at + 1 :]) if v.first_seen < reply.sent), None
                )
                if newer is None:
                    return []
                ahead = reply.sent - newer.first_seen
                return [
                    f"stale: answered {etag} though {newer.etag} had been served "
                    f"{ahead:.3f} s before this request was sent"
                ]
            return self._add(versions, Version(etag, reply.received, modified))

    def _add(self, versions: list[Version], version: Version) -> list[str]:
        dated = [v for v in versions if v.last_modified is not None]
        if version.last_modified is None or not dated:
            versions.append(version)
            return []
        latest = dated[-1]
        assert latest.last_modified is not None
        if version.last_modified < latest.last_modified:
            # Older than what was served before: keep the order of dates, so that answers
            # of the newer version are not taken for stale ones.
            at = next(
                i
                for i, v in enumerate(versions)
                if v.last_modified is not None and v.last_modified > version.last_modified
            )
            versions.insert(at, version)
            return [
                f"went back: new ETag {version.etag} has Last-Modified "
                f"{version.last_modified:%Y-%m-%d %H:%M:%S}, before the "
                f"{latest.last_modified:%Y-%m-%d %H:%M:%S} of {latest.etag} served earlier"
            ]
        if version.last_modified == latest.last_modified:
            self.same_second += 1
        versions.append(version)
        return []

    def latest(self, key: Key) -> Version | None:
        with self._lock:
            versions = self._versions.get(key)
            return versions[-1] if versions else None

    def older(self, key: Key) -> Version | None:
        """A version that is no longer the latest, if there is one."""
        with self._lock:
            versions = self._versions.get(key)
            return versions[-2] if versions and len(versions) > 1 else None

    def first_seen(self, key: Key, etag: str) -> float | None:
        with self._lock:
            versions = self._versions.get(key, [])
            return next((v.first_seen for v in versions if v.etag == etag), None)

    def modified(self, key: Key, etag: str) -> datetime | None:
        with self._lock:
            versions = self._versions.get(key, [])
            return next((v.last_modified for v in versions if v.etag == etag), None)


class Representations:
    """The bytes each strong ETag named, per path (every target together: nginx and the
    workers serve the same bytes), and what each gzip representation decodes to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._raw: dict[tuple[str, str], str] = {}  # (path, etag) -> sha256 of the bytes sent
        self._decoded: dict[tuple[str, str], tuple[str, str]] = {}  # (path, identity etag)
        self._updated: dict[tuple[str, str], datetime | None] = {}  # (path, etag)

    def record(self, path: str, etag: str, raw: str, decoded: str) -> tuple[bool, list[str]]:
        """Note that `etag` at `path` came with bytes of digest `raw`, `decoded` once its
        coding is undone: (whether these bytes were seen before, what is wrong)."""
        weak = etag.startswith("W/")
        tag = etag[2:] if weak else etag
        base = tag[: -len(GZIP_SUFFIX)] + '"' if tag.endswith(GZIP_SUFFIX) else tag
        problems = []
        with self._lock:
            before = (path, etag) in self._raw
            seen = self._raw.setdefault((path, etag), raw)
            if seen != raw and not weak:
                problems.append(f"ETag {etag} named other bytes before (sha256 {seen[:12]}…)")
            known = self._decoded.setdefault((path, base), (decoded, etag))
            if known[0] != decoded:
                problems.append(
                    f"{etag} decodes to other bytes than {known[1]} (sha256 {decoded[:12]}… "
                    f"against {known[0][:12]}…)"
                )
        return before and not problems, problems

    def updated(self, path: str, etag: str) -> datetime | None:
        """The document's own updated time, as noted for these bytes."""
        with self._lock:
            return self._updated.get((path, etag))

    def note_updated(self, path: str, etag: str, updated: datetime | None) -> None:
        with self._lock:
            self._updated[(path, etag)] = updated
