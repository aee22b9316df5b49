"""Conditional requests (RFC 9110 §13): a 304 decided from validators alone, and whether a
client takes gzip."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

from werkzeug.http import parse_accept_header, parse_date, parse_etags

# Whether the request at hand needs the bytes of a document with this ETag and
# Last-Modified (False: it is answered 304).
NeedsBody = Callable[[str, datetime], bool]


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


def body_needed(if_none_match: str | None, if_modified_since: str | None) -> NeedsBody:
    """Whether a request with these headers (raw, None when absent) needs the bytes of a
    document with a given ETag (its gzip variant's is the same with "-gz") and
    Last-Modified."""
    since = parse_date(if_modified_since) if if_modified_since else None
    if if_none_match is None and since is None:
        return _always

    def needs_body(etag: str, last_modified: datetime) -> bool:
        return not not_modified(if_none_match, since, (etag, etag + "-gz"), last_modified)

    return needs_body


def _always(etag: str, last_modified: datetime) -> bool:
    return True


@functools.lru_cache(maxsize=256)
def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value accepts gzip (clients send few distinct values, so
    each is parsed once)."""
    return parse_accept_header(accept_encoding)["gzip"] > 0
