"""Conditional requests (RFC 9110 §13): a 304 decided from validators alone, and whether a
client takes gzip.

Each content coding of a document is a representation of its own, with a strong ETag of its
own: the gzip one is the identity one with GZIP_SUFFIX. If-None-Match is compared with the
ETag of the representation the request selects (by its Accept-Encoding) and with no other,
so that a client or cache holding one coding's bytes never gets a 304 for the other's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

from werkzeug.http import parse_accept_header, parse_date, parse_etags

# The gzip representation's ETag is the identity one's with this after it.
GZIP_SUFFIX = "-gz"

# Whether the request at hand needs the bytes of the document with this ETag (the
# identity representation's, unquoted) and Last-Modified, None when it is served without one
# (False: it is answered 304).
NeedsBody = Callable[[str, datetime | None], bool]


def not_modified(
    if_none_match: str | None,
    if_modified_since: datetime | None,
    etag: str,
    last_modified: datetime | None,
) -> bool:
    """True when the client's copy of the selected representation is current.
    `if_none_match` is the raw header (None when absent); `etag` is the entity tag
    (unquoted) of the representation selected, never of another."""
    # RFC 9110 §13.2.2: If-None-Match is evaluated first; when it is present at all,
    # If-Modified-Since is ignored, even if If-None-Match cannot be parsed.
    if if_none_match is not None:
        tags = parse_etags(if_none_match)
        if tags.star_tag or tags.is_strong("*"):  # "*" alone or in a list
            return True
        # Weak comparison (§8.8.3.2): W/"x" matches "x".
        return tags.contains_weak(etag)
    if if_modified_since is not None and last_modified is not None:
        return last_modified.replace(microsecond=0) <= if_modified_since
    return False


def body_needed(if_none_match: str | None, if_modified_since: str | None, gz: bool) -> NeedsBody:
    """Whether a request with these headers (raw, None when absent), which selects the gzip
    representation when `gz` and the identity one otherwise, needs the bytes of a document
    with a given ETag and Last-Modified."""
    since = parse_date(if_modified_since) if if_modified_since else None
    if if_none_match is None and since is None:
        return _always
    suffix = GZIP_SUFFIX if gz else ""

    def needs_body(etag: str, last_modified: datetime | None) -> bool:
        return not not_modified(if_none_match, since, etag + suffix, last_modified)

    return needs_body


def _always(etag: str, last_modified: datetime | None) -> bool:
    return True


@functools.lru_cache(maxsize=256)
def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value accepts gzip (clients send few distinct values, so
    each is parsed once)."""
    return parse_accept_header(accept_encoding)["gzip"] > 0
