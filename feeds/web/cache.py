"""Render once per change: each document's bytes and their gzip, kept per worker until the data
(or the clock) changes them.

Every write that changes what a document can show bumps the store's data version in the same
transaction (see `Store.write`); each request reads that number (`Store.data_version`, one
indexed lookup on a connection its thread keeps), so while nothing changes a request costs no
other query and no render, and a change is served from the first request after its commit.
A document is rebuilt when the version moves or when time alone may change it (an embargo
lifts, a tombstone expires, a month closes); a rebuild that gives the same ETag keeps the
bytes it has, and one that does not renders only the entries it has not kept (see
formats/parts.py). What is kept is bounded by its total size in bytes. When the version
cannot be read, nothing is served from the cache.
"""

from __future__ import annotations

import functools
import math
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from werkzeug.datastructures import Headers
from werkzeug.http import http_date, parse_accept_header, parse_date

from feeds.formats.parts import Entries
from feeds.lru import Kept
from feeds.model import Article
from feeds.store.database import Head, Reader, Store
from feeds.syndication.plan import Validators

from .compression import Pieces
from .conditional import not_modified

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# However the data stands, an entry is looked at again after this long: a bound on any way
# time could change a document that the builders do not foresee. A look costs queries, not a
# render, when the ETag stays the same.
RECHECK = timedelta(seconds=60)
BUILD_LOCKS = 64


@dataclass(frozen=True)
class Built:
    """What a builder decides about one document, before anything is rendered."""

    validators: Validators
    media_type: str
    render: Callable[[], Sequence[bytes]]  # the document in parts (formats/parts.py)
    max_age: int  # before the clamp to the next embargo release
    links: str  # the Link header
    valid_until: datetime | None = None  # when time alone may change the document
    settle: bool = True  # keep Last-Modified moving with the ETag (Store.settle)


@dataclass(frozen=True)
class Variant:
    """One encoding of a rendered document: its bytes (None until needed) and the headers of
    its 200 and 304 answers but Cache-Control, whose max-age may depend on the time."""

    body: bytes | None
    headers: list[tuple[str, str]]
    not_modified: list[tuple[str, str]]


@dataclass(frozen=True)
class Rendered:
    """One document as served: validators, headers and bytes in both encodings."""

    version: int
    built_at: datetime
    valid_until: datetime
    etag: str
    last_modified: datetime
    last_modified_http: str
    media_type: str
    body: bytes | None  # None until a request needs it (a 304 never renders)
    gzipped: bytes | None
    max_age: int
    release: datetime | None  # the next embargo release, when max-age must end
    links: str
    size: int = field(init=False)

    identity_variant: Variant = field(init=False)
    gzip_variant: Variant = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", len(self.body or b"") + len(self.gzipped or b"") + 1024)
        for name, body, suffix, extra in (
            ("identity_variant", self.body, "", []),
            ("gzip_variant", self.gzipped, "-gz", [("Content-Encoding", "gzip")]),
        ):
            common = [
                ("ETag", f'"{self.etag}{suffix}"'),
                ("Vary", "Accept-Encoding"),
                ("Link", self.links),
            ]
            headers = [*common, ("Last-Modified", self.last_modified_http), *extra]
            for header in headers:  # checked here once, as werkzeug checks each header it adds
                Headers([header])
            object.__setattr__(self, name, Variant(body, headers, common))

    def cache_control(self, now: datetime) -> tuple[str, str]:
        return ("Cache-Control", f"public, max-age={self.seconds(now)}")

    def fresh(self, version: int, now: datetime, needs_body: NeedsBody) -> bool:
        # Equal, not at least: a store restored to an earlier version is rebuilt from, too.
        if not (self.version == version and self.built_at <= now < self.valid_until):
            return False
        return self.body is not None or not needs_body(self.etag, self.last_modified)

    def seconds(self, now: datetime) -> int:
        """max-age for an answer at `now`: never past the next embargo release."""
        if self.release is None:
            return self.max_age
        return max(0, min(self.max_age, math.ceil((self.release - now).total_seconds())))


class Articles:
    """Stored articles by (id, revision, modified), least recently used first out, bounded by
    the size of their text: a document rebuilt after one of its articles changed reads only
    that one."""

    def __init__(self, max_bytes: int) -> None:
        self.kept: Kept[tuple[str, int, datetime], Article] = Kept(max_bytes)

    def load(self, reader: Reader, heads: list[Head]) -> list[Article]:
        keys = [(h.id, h.revision, h.modified) for h in heads]
        found = {key: article for key in keys if (article := self.kept.get(key)) is not None}
        for article in reader.articles([key[0] for key in keys if key not in found]):
            key = (article.id, article.revision, article.modified)
            found[key] = article
            self.kept.put(key, article, _article_size(article))
        return [found[key] for key in keys if key in found]


def _article_size(article: Article) -> int:
    """Memory an article takes, about: its strings as Python holds them (1, 2 or 4 bytes a
    character), the body counted twice for the HTML made of it (Article.html)."""
    text = sum(map(sys.getsizeof, article.paragraphs)) + sys.getsizeof(article.body_html or "")
    return 512 + sys.getsizeof(article.title) + 2 * text


Builder = Callable[[Reader, datetime], Built | None]
Settle = Callable[[Reader, str, Validators, datetime], Validators]
# Whether the request at hand needs the bytes of a document with this ETag and
# Last-Modified (False: it will be answered 304).
NeedsBody = Callable[[str, datetime], bool]


class RenderCache:
    """Rendered documents of one worker process, least recently used first out."""

    def __init__(self, store: Store, max_bytes: int) -> None:
        self.store = store
        # An eighth of the budget each for articles and their entries as rendered in each
        # format, a quarter for the entries compressed, the rest for whole documents (so that
        # a document up to an eighth of the budget, 4 MiB by default, can be kept).
        self.articles = Articles(max_bytes // 8)
        self.entries: Entries = Kept(max_bytes // 8)
        self.pieces = Pieces(max_bytes // 4)
        self.documents: Kept[str, Rendered] = Kept(max_bytes - max_bytes // 2)
        # One build of a document at a time (the others then find it built); documents share
        # these locks by the hash of their path, so a slow build holds up few others.
        self._builds = [threading.Lock() for _ in range(BUILD_LOCKS)]

    def __len__(self) -> int:
        return len(self.documents)

    @property
    def total(self) -> int:
        """Bytes kept, all told (never more than the budget)."""
        kept = (self.documents, self.articles.kept, self.entries, self.pieces.kept)
        return sum(part.total for part in kept)

    def _fresh(
        self, key: str, version: int | None, now: datetime, needs_body: NeedsBody
    ) -> Rendered | None:
        if version is None:
            return None
        entry = self.documents.get(key)
        return entry if entry is not None and entry.fresh(version, now, needs_body) else None

    def peek(self, key: str, now: datetime, needs_body: NeedsBody) -> Rendered | None:
        """The document under `key` if it is kept and up to date; never builds."""
        if key not in self.documents:  # most paths that are not documents: no query
            return None
        return self._fresh(key, self.store.data_version(), now, needs_body)

    def get(
        self, key: str, now: datetime, build: Builder, settle: Settle, needs_body: NeedsBody
    ) -> Rendered | None:
        """The document under `key` (its path) as of `now`, built with `build` when missing
        or out of date; None when `build` finds no such document. Its bytes are rendered
        only when `needs_body` says the request needs them."""
        version = self.store.data_version()
        entry = self._fresh(key, version, now, needs_body)
        if entry is not None:
            return entry
        with self._builds[hash(key) % BUILD_LOCKS]:
            entry = self._fresh(key, version, now, needs_body)
            if entry is not None:
                return entry
            previous = self.documents.get(key)
            entry = self._rebuild(key, now, build, settle, needs_body, previous)
        if entry is not None:  # one too big to keep is served, not kept
            self.documents.put(key, entry, entry.size)
        return entry

    def _rebuild(
        self,
        key: str,
        now: datetime,
        build: Builder,
        settle: Settle,
        needs_body: NeedsBody,
        previous: Rendered | None,
    ) -> Rendered | None:
        with self.store.read() as reader:
            # Read in the snapshot the document is built from, so the entry is never labelled
            # newer than its data.
            version = reader.data_version()
            built = build(reader, now)
            if built is None:
                return None
            found = settle(reader, key, built.validators, now) if built.settle else built.validators
            release = reader.next_release(now)
            body: bytes | None = None
            gzipped: bytes | None = None
            if previous is not None and previous.etag == found.etag:
                body, gzipped = previous.body, previous.gzipped
            if body is None and needs_body(found.etag, found.last_modified):
                parts = built.render()
                body = b"".join(parts)
                gzipped = self.pieces.gzip(parts)
        limits = [now + RECHECK] + [t for t in (built.valid_until, release) if t is not None]
        return Rendered(
            version=version,
            built_at=now,
            valid_until=min(limits),
            etag=found.etag,
            last_modified=found.last_modified,
            last_modified_http=http_date(found.last_modified),
            media_type=built.media_type,
            body=body,
            gzipped=gzipped,
            max_age=built.max_age,
            release=release,
            links=built.links,
        )


def conditions(if_none_match: str | None, if_modified_since: str | None) -> NeedsBody:
    """Whether a request with these headers needs the bytes of a document with a given ETag
    and Last-Modified (RFC 9110 §13: If-None-Match first; If-Modified-Since only without it)."""
    since = parse_date(if_modified_since) if if_modified_since else None
    if if_none_match is None and since is None:
        return _always

    def needs_body(etag: str, last_modified: datetime) -> bool:
        variants = (etag, etag + "-gz")
        return not not_modified(if_none_match, since, variants, last_modified)

    return needs_body


def _always(etag: str, last_modified: datetime) -> bool:
    return True


def answer(
    entry: Rendered, now: datetime, gz: bool, needs_body: NeedsBody
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of the answer to a GET for `entry`: 304 (no body, the same
    ETag, Cache-Control, Vary and Link as the 200) or 200 in the encoding asked for."""
    variant = entry.gzip_variant if gz else entry.identity_variant
    cache_control = entry.cache_control(now)
    if variant.body is None or not needs_body(entry.etag, entry.last_modified):
        return 304, [*variant.not_modified, cache_control], b""
    headers = [
        ("Content-Type", entry.media_type),
        ("Content-Length", str(len(variant.body))),
        *variant.headers,
        cache_control,
    ]
    return 200, headers, variant.body


@functools.lru_cache(maxsize=256)
def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value accepts gzip (clients send few distinct values, so
    each is parsed once)."""
    return parse_accept_header(accept_encoding)["gzip"] > 0


_REASONS = {200: "200 OK", 304: "304 Not Modified"}


class CacheHits:
    """WSGI middleware in front of the Flask app: a GET or HEAD for a document the render
    cache holds up to date is answered here, from its prebuilt headers and bytes, without
    routing or a request context; everything else goes on to the app, which builds and keeps
    what it serves."""

    def __init__(self, app: WSGIApplication, cache: RenderCache, now: Callable[[], datetime]):
        self.app = app
        self.cache = cache
        self.now = now

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method == "GET" or method == "HEAD":
            path = environ.get("PATH_INFO", "")
            needs_body = conditions(
                environ.get("HTTP_IF_NONE_MATCH"), environ.get("HTTP_IF_MODIFIED_SINCE")
            )
            now = self.now()
            entry = self.cache.peek(path, now, needs_body)
            if entry is not None:
                gz = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", ""))
                status, headers, body = answer(entry, now, gz, needs_body)
                start_response(_REASONS[status], headers)
                return [body] if method == "GET" and body else []
        return self.app(environ, start_response)
