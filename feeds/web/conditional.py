"""Conditional requests (RFC 9110 §13): decide a 304 from validators alone."""

from __future__ import annotations

from datetime import datetime

from werkzeug.http import parse_etags


def not_modified(
    if_none_match: str | None,
    if_modified_since: datetime | None,
    etags: tuple[str, ...],
    last_modified: datetime,
) -> bool:
    """True when the client's copy is current. `if_none_match` is the raw header (None when
    absent); `etags` are the entity tags (unquoted) that denote this document, e.g. its
    identity and gzip variants."""
    # RFC 9110 §13.2.2: If-None-Match is evaluated first; when it is present at all,
    # If-Modified-Since is ignored, even if If-None-Match cannot be parsed.
    if if_none_match is not None:
        tags = parse_etags(if_none_match)
        if tags.star_tag or tags.is_strong("*"):  # "*" alone or in a list
            return True
        # Weak comparison (§8.8.3.2): W/"x" matches "x".
        return any(tags.contains_weak(tag) for tag in etags)
    if if_modified_since is not None:
        return last_modified.replace(microsecond=0) <= if_modified_since
    return False
