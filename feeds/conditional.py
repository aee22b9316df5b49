"""Conditional requests (RFC 9110 §13): decide a 304 from validators alone."""

from __future__ import annotations

from datetime import UTC, datetime

from werkzeug.datastructures import ETags
from werkzeug.http import http_date


def not_modified(
    if_none_match: ETags,
    if_modified_since: datetime | None,
    etags: tuple[str, ...],
    last_modified: datetime,
) -> bool:
    """True when the client's copy is current. `etags` are the entity tags (unquoted) that
    denote this document, e.g. its identity and gzip variants."""
    # RFC 9110 §13.2.2: If-None-Match is evaluated first; when present, If-Modified-Since
    # is ignored. Weak comparison (§8.8.3.2), lists and "*" are handled by werkzeug's ETags.
    if if_none_match:
        if if_none_match.star_tag or if_none_match.is_strong("*"):  # "*" alone or in a list
            return True
        return any(if_none_match.contains_weak(tag) for tag in etags)
    if if_modified_since is not None:
        return last_modified.replace(microsecond=0) <= if_modified_since
    return False


def last_modified_header(moment: datetime, now: datetime | None = None) -> str:
    """An HTTP-date for Last-Modified, never later than now (RFC 9110 §8.8.2.1)."""
    current = now or datetime.now(UTC)
    return http_date(min(moment, current))
