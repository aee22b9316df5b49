"""The render cache: each document rendered once per change, kept per worker as bytes, gzip
and prebuilt headers.

An entry is fresh while the store's data version (one indexed lookup per request, see
store/version.py) is the one it was built at and time alone cannot have changed it (an
embargo lifts, a tombstone expires, a month closes; at the latest RECHECK after its build).
A rebuild that gives the same ETag keeps the bytes; one that does not renders only the
entries not kept (formats/parts.py). A 304 never renders. Last-Modified moves with every new
ETag through the ledger (store/ledger.py), which a request records without ever waiting for
a writer: while the writers' lock is taken, a new ETag is served without a Last-Modified (no
date a client or cache keeps can then hide it), and recorded at a rebuild RETRY later.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from werkzeug.datastructures import Headers
from werkzeug.http import http_date

from feeds import metrics
from feeds.errors import StoreBusy
from feeds.formats import EntryParts
from feeds.lru import ByteLRU
from feeds.model import Article, Head, Validators
from feeds.store import Reader, Store
from feeds.syndication.validators import clamp, stable_last_modified

from .compression import CompressedParts
from .conditional import GZIP_SUFFIX, NeedsBody

# However the data stands, an entry is looked at again after this long: a bound on any way
# time could change a document that the builders do not foresee. A look costs queries, not a
# render, when the ETag stays the same.
RECHECK = timedelta(seconds=60)
# How soon an entry whose Last-Modified could not be recorded (a writer held the lock) is
# built again, to record it.
RETRY = timedelta(seconds=1)
BUILD_LOCKS = 64
# What a feed's answer depends on: the coding, and whether a browser navigates to it
# (web/feed_view.py), for a cache between the service and its clients (RFC 9110 §12.5.5).
NAVIGABLE_VARY = "Accept-Encoding, Sec-Fetch-Mode, Sec-Fetch-Dest"


@dataclass(frozen=True)
class Built:
    """What a builder decides about one document, before anything is rendered."""

    validators: Validators
    media_type: str
    render: Callable[[], Sequence[bytes]]  # the document in parts (formats/parts.py)
    max_age: int  # before the clamp to the next change (Rendered.changes)
    links: str  # the Link header
    valid_until: datetime | None = None  # when time alone may change the document
    ledger: bool = True  # keep Last-Modified moving with the ETag (see the module)
    private: bool = False  # for one client only (a partner's): Cache-Control private
    # What it is, for the figures kept of its answers (web/observe.py): its format (the
    # Format's NAME, or html, opml, sitemap), whether readers subscribe to it (a site,
    # section, author or partner feed: its polls are counted as its audience's), and the
    # route template that serves it (set by responses.cached).
    format: str = ""
    subscription: bool = False
    route: str = ""
    # A feed, or the page a browser is shown for one (web/feed_view.py): which of the two a
    # request gets depends on its Sec-Fetch-Mode and Sec-Fetch-Dest, so Vary names them.
    navigable: bool = False
    # When its newest entry became publishable (the latest of its dateline and last change):
    # the publish-to-visible lag is measured from it (feeds.metrics.VISIBLE_LAG).
    newest: datetime | None = None


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
    validators: Validators
    recorded: bool  # its Last-Modified is the ledger's
    dated: bool  # served with its Last-Modified (see the module)
    media_type: str
    body: bytes | None  # None until a request needs it (a 304 never renders)
    gzipped: bytes | None
    max_age: int
    # When max-age must end: the next embargo release, or the instant time alone changes the
    # document (Built.valid_until: an article ages out, a tombstone expires), whichever first.
    changes: datetime | None
    links: str
    private: bool = False
    format: str = ""  # as in Built
    subscription: bool = False
    route: str = ""
    navigable: bool = False
    newest: datetime | None = None
    size: int = field(init=False)

    identity_variant: Variant = field(init=False)
    gzip_variant: Variant = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", len(self.body or b"") + len(self.gzipped or b"") + 1024)
        last_modified = http_date(self.validators.last_modified)
        vary = NAVIGABLE_VARY if self.navigable else "Accept-Encoding"
        for name, body, suffix, extra in (
            ("identity_variant", self.body, "", []),
            ("gzip_variant", self.gzipped, GZIP_SUFFIX, [("Content-Encoding", "gzip")]),
        ):
            common = [
                ("ETag", f'"{self.etag}{suffix}"'),
                ("Vary", vary),
                ("Link", self.links),
            ]
            # A date only once the ledger holds it (see the module): a cache that kept an
            # older one with this ETag would keep it, as a 304 does not replace it.
            dated = [("Last-Modified", last_modified)] if self.dated else []
            headers = [*common, *dated, *extra]
            for header in headers:  # checked here once, as werkzeug checks each header it adds
                Headers([header])
            object.__setattr__(self, name, Variant(body, headers, common))

    @property
    def etag(self) -> str:
        return self.validators.etag

    @property
    def last_modified(self) -> datetime | None:
        """The Last-Modified it is served with: None while the ledger does not hold one."""
        return self.validators.last_modified if self.dated else None

    def cache_control(self, now: datetime) -> tuple[str, str]:
        seconds = clamp(self.max_age, self.changes, now)
        return ("Cache-Control", f"{'private' if self.private else 'public'}, max-age={seconds}")

    def fresh(self, version: int, now: datetime, needs_body: NeedsBody) -> bool:
        # Equal, not at least: a store restored to an earlier version is rebuilt from, too.
        if not (self.version == version and self.built_at <= now < self.valid_until):
            return False
        return self.body is not None or not needs_body(self.etag, self.last_modified)


class Articles:
    """Stored articles by (id, revision, modified), in an LRU bounded by the size of their
    text: a document rebuilt after one of its articles changed reads only that one."""

    def __init__(self, max_bytes: int) -> None:
        self.kept: ByteLRU[tuple[str, int, datetime], Article] = ByteLRU(max_bytes)

    def load(self, reader: Reader, heads: list[Head]) -> list[Article]:
        keys = [(h.id, h.revision, h.modified) for h in heads]
        known = {key: article for key in keys if (article := self.kept.get(key)) is not None}
        for article in reader.articles([key[0] for key in keys if key not in known]):
            key = (article.id, article.revision, article.modified)
            known[key] = article
            self.kept.put(key, article, _article_size(article))
        return [known[key] for key in keys if key in known]


def _article_size(article: Article) -> int:
    """Memory an article takes, about: its strings as Python holds them (1, 2 or 4 bytes a
    character), the body counted twice for the HTML made of it (Article.html)."""
    text = sum(map(sys.getsizeof, article.paragraphs)) + sys.getsizeof(article.body_html or "")
    return 512 + sys.getsizeof(article.title) + 2 * text


Builder = Callable[[Reader, datetime], Built | None]


def _note_lag(built: Built, previous: Rendered | None, now: datetime) -> None:
    """The publish-to-visible lag of a subscription feed's newest entry, when this rebuild is
    the worker's first to show it (a worker's first build of a feed shows nothing new)."""
    newest = built.newest
    if previous is None or newest is None or not built.subscription:
        return
    if previous.newest is None or newest > previous.newest:
        metrics.VISIBLE_LAG.observe(max(0.0, (now - newest).total_seconds()))


class RenderCache:
    """Rendered documents of one worker process, in an LRU bounded by bytes."""

    def __init__(self, store: Store, max_bytes: int) -> None:
        self.store = store
        self.max_bytes = max_bytes
        # An eighth of the budget each for articles and their entries as rendered in each
        # format, a quarter for the entries compressed, the rest for whole documents (so that
        # a document up to an eighth of the budget, 16 MiB by default, can be kept).
        self.articles = Articles(max_bytes // 8)
        self.entry_parts: EntryParts = ByteLRU(max_bytes // 8)
        self.compressed = CompressedParts(max_bytes // 4)
        self.documents: ByteLRU[str, Rendered] = ByteLRU(max_bytes - max_bytes // 2)
        # One build of a document at a time (the others then find it built); documents share
        # these locks by the hash of their key, so a slow build holds up few others.
        self._builds = [threading.Lock() for _ in range(BUILD_LOCKS)]

    def __len__(self) -> int:
        return len(self.documents)

    @property
    def total(self) -> int:
        """Bytes kept, all told (never more than the budget)."""
        kept = (self.documents, self.articles.kept, self.entry_parts, self.compressed.kept)
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
        self, key: str, now: datetime, build: Builder, needs_body: NeedsBody
    ) -> Rendered | None:
        """The document under `key` as of `now`, built with `build` when missing or out of
        date; None when `build` finds no such document. Its bytes are rendered only when
        `needs_body` says the request needs them."""
        version = self.store.data_version()
        entry = self._fresh(key, version, now, needs_body)
        if entry is not None:
            return entry
        with self._builds[hash(key) % BUILD_LOCKS]:
            entry = self._fresh(key, version, now, needs_body)
            if entry is not None:
                return entry
            started = time.perf_counter()
            entry = self._rebuild(key, now, build, needs_body, self.documents.get(key))
        if entry is None:
            metrics.CACHE_BUILDS.labels("missing").inc()
            return None
        metrics.REBUILD_SECONDS.labels(entry.format).observe(time.perf_counter() - started)
        self.documents.put(key, entry, entry.size)  # one too big to keep is served, not kept
        metrics.CACHE_BYTES.set(self.total)
        metrics.CACHE_BUDGET.set(self.max_bytes)  # here: processes that build nothing add 0
        return entry

    def _rebuild(
        self,
        key: str,
        now: datetime,
        build: Builder,
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
            validators, recorded, dated = built.validators, True, True
            if built.ledger:
                validators, recorded, dated = self._last_modified(reader, key, validators, now)
            release = reader.next_release(now)
            body: bytes | None = None
            gzipped: bytes | None = None
            result = "unrendered"
            if previous is not None and previous.etag == validators.etag:
                body, gzipped = previous.body, previous.gzipped
                result = "kept"
            since = validators.last_modified if dated else None
            if body is None and needs_body(validators.etag, since):
                started = time.perf_counter()
                parts = built.render()
                body = b"".join(parts)
                gzipped = self.compressed.gzip(parts)
                metrics.RENDER_SECONDS.labels(built.format).observe(time.perf_counter() - started)
                metrics.DOCUMENT_BYTES.labels(built.format).observe(len(body))
                result = "rendered"
        metrics.CACHE_BUILDS.labels(result).inc()
        _note_lag(built, previous, now)
        changes = min((t for t in (built.valid_until, release) if t is not None), default=None)
        limits = [now + (RECHECK if recorded else RETRY)] + ([changes] if changes else [])
        return Rendered(
            version=version,
            built_at=now,
            valid_until=min(limits),
            validators=validators,
            recorded=recorded,
            dated=dated,
            media_type=built.media_type,
            body=body,
            gzipped=gzipped,
            max_age=built.max_age,
            changes=changes,
            links=built.links,
            private=built.private,
            format=built.format,
            subscription=built.subscription,
            route=built.route,
            navigable=built.navigable,
            newest=built.newest,
        )

    def _last_modified(
        self, reader: Reader, key: str, computed: Validators, now: datetime
    ) -> tuple[Validators, bool, bool]:
        """`computed` with the Last-Modified that every worker sends with its ETag, whether
        the ledger holds it, and whether it is sent at all. Recording never waits for a
        writer (Store.record)."""
        recorded = reader.ledger_entry(key)
        if recorded is not None and recorded.etag == computed.etag:
            return recorded, True, True
        try:
            with self.store.record() as recorder:
                current = recorder.ledger_entry(key)
                if current is not None and current.etag == computed.etag:  # another was first
                    return current, True, True
                moment = stable_last_modified(current, computed, now)
                if current is not None and moment <= current.last_modified:
                    # A new ETag in the second of the last one: HTTP dates cannot tell them
                    # apart, so it goes out undated and is recorded, a second later, at
                    # that later time.
                    return computed, False, False
                recorder.record_last_modified(key, computed.etag, moment, new=current is None)
        except StoreBusy:
            # Undated until recorded, a document never seen too: the snapshot read from
            # may be older than what another worker recorded, with a later date.
            return computed, False, False
        return Validators(computed.etag, moment), True, True
