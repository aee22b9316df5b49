"""The service's metrics, in the Prometheus text format (the only module that imports
prometheus_client).

Under gunicorn every process of the server (the workers, the hub worker beside them) keeps
its figures in files of PROMETHEUS_MULTIPROC_DIR, which prometheus_client reads when first
imported: the entry points set it from FEEDS_METRICS_DIR before anything imports this module
(server.metrics_directory). A scrape then sums every process's files in a registry of its
own. Without the variable (the Flask test client) the figures live in this process's default
registry. Imports run as commands of their own: their figures are running totals in the
store (`import_figures` gives what one adds), read at each scrape with the hub's.

The hot path (`served`) costs one dictionary update under a lock: the answers are added to
the metrics a second later, each kind with one increment.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

# No *_created series: rate() and increase() do without them.
disable_created_metrics()  # type: ignore[no-untyped-call]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
log = logging.getLogger(__name__)

_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SIZES = tuple(float(1024 * 4**n) for n in range(8))  # 1 KiB .. 16 MiB
_LAG = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0, 86400.0)
_IMPORT = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)

# Serving (web): every answer, by route template (never the path), format and status.
REQUESTS = Counter(
    "feeds_requests",
    "Answers by route template, format (none: not a document) and status.",
    ["route", "format", "status"],
)
SENT = Counter("feeds_sent_bytes", "Body bytes sent in answers from the render cache.", ["format"])
# The render cache (web/cache.py), per worker, summed. Its hits are the answers of documents
# (feeds_requests with a format) less its builds: no third increment on the hot path.
CACHE_BUILDS = Counter(
    "feeds_cache_builds",
    "Documents (re)built because missing or out of date; result rendered (new bytes), "
    "kept (same ETag, bytes kept), unrendered (a 304 needed none) or missing (no document).",
    ["result"],
)
CACHE_BYTES = Gauge(
    "feeds_cache_bytes", "Bytes the render caches keep.", multiprocess_mode="livesum"
)
CACHE_BUDGET = Gauge(
    "feeds_cache_budget_bytes",
    "The render caches' budget (FEEDS_CACHE_BYTES per worker).",
    multiprocess_mode="livesum",
)
RENDER_SECONDS = Histogram(
    "feeds_render_seconds",
    "Rendering and compressing a document's bytes.",
    ["format"],
    buckets=_SECONDS,
)
REBUILD_SECONDS = Histogram(
    "feeds_rebuild_seconds",
    "A whole rebuild: queries, Last-Modified, rendering when needed.",
    ["format"],
    buckets=_SECONDS,
)
DOCUMENT_BYTES = Histogram(
    "feeds_document_bytes", "Sizes of rendered documents (identity).", ["format"], buckets=_SIZES
)
VISIBLE_LAG = Histogram(
    "feeds_publish_visible_seconds",
    "From a subscription feed's newest entry becoming publishable (its dateline, or the "
    "embargo's end, or its last change, whichever is latest) to the first rebuild of that "
    "feed in a worker that shows it.",
    buckets=_LAG,
)
# The publishing API (web/api.py).
API_WRITES = Counter(
    "feeds_api_writes",
    "API writes by method and result (the answer's status).",
    ["method", "status"],
)
# The hub worker (push/worker.py).
DELIVERIES = Counter(
    "feeds_hub_deliveries",
    "Deliveries to subscribers by result (delivered, failed, gone).",
    ["result"],
)
DELIVERY_SECONDS = Histogram(
    "feeds_hub_delivery_seconds",
    "From a change found to the subscriber's answer to its delivery.",
    buckets=_SECONDS + (30.0, 60.0, 300.0, 1800.0, 3600.0),
)
VERIFICATIONS = Counter(
    "feeds_hub_verifications",
    "Subscription requests verified, by result (ok, refused).",
    ["result"],
)
PINGS = Counter("feeds_hub_pings", "Pings of external hubs, by result (ok, failed).", ["result"])

_Noted = tuple[Callable[[float], None], Callable[[float], None]]
_children: dict[tuple[str, str, int], _Noted] = {}
# Answers counted since they were last added to the metrics, by (route, format, status):
# [answers, body bytes]. A poll costs one dictionary update under a lock; FOLD_S later (and
# before a scrape of this process, and as a worker exits) they are added to the metrics,
# each key's with one increment.
_pending: dict[tuple[str, str, int], list[int]] = {}
_pending_lock = threading.Lock()
_folding: list[int] = []  # the process whose folding thread runs: one after a fork
FOLD_S = 1.0


def served(route: str, fmt: str, status: int, size: int) -> None:
    """One answer of a document from the render cache: `status` (200, 304) with `size` body
    bytes; in the figures within FOLD_S."""
    key = (route, fmt, status)
    with _pending_lock:
        counts = _pending.get(key)
        if counts is None:
            _pending[key] = [1, size]
        else:
            counts[0] += 1
            counts[1] += size
    if not _folding or _folding[0] != os.getpid():
        _start_folding()


def _start_folding() -> None:
    with _pending_lock:
        if _folding and _folding[0] == os.getpid():
            return
        _folding[:] = [os.getpid()]
    threading.Thread(target=_fold_every, name="metrics", daemon=True).start()


def _fold_every() -> None:
    while True:
        time.sleep(FOLD_S)
        fold()


def fold() -> None:
    """Add the answers counted since the last fold to the metrics."""
    global _pending
    with _pending_lock:
        taken, _pending = _pending, {}
    try:
        for key, (answers, size) in taken.items():
            try:
                count, sent = _children[key]
            except KeyError:
                route, fmt, status = key
                count = REQUESTS.labels(route, fmt, str(status)).inc
                sent = SENT.labels(fmt).inc
                _children[key] = count, sent
            count(answers)
            if size:
                sent(size)
    except OSError as e:  # the directory of the figures is gone: the answers went out anyway
        _lost(e)


def _lost(error: OSError) -> None:
    global _told
    if not _told:
        _told = True
        log.error("metrics: figures cannot be kept (%s); answers go on uncounted", error)


_told = False


def answered(route: str, status: int) -> None:
    """An answer that is no document from the render cache (errors, the API, /hub)."""
    served(route, "none", status, 0)


# Imports (ingest/importer.py): running totals in the store, by (figure, label).
IMPORT_RESULTS = ("stored", "dry_run", "failed")
IMPORT_OUTCOMES = ("added", "updated", "unchanged", "rejected", "withdrawn")
ImportFigures = Mapping[tuple[str, str], float]


def import_figures(
    result: str, outcomes: Mapping[str, int] | None = None, seconds: float | None = None
) -> dict[tuple[str, str], float]:
    """What one import adds to the stored totals: a run with `result`, the article files of
    each outcome, and its duration in its histogram bucket (labelled by the bucket's upper
    bound) and in the sum."""
    added = {("runs", result): 1.0}
    for outcome, n in (outcomes or {}).items():
        added[("articles", outcome)] = float(n)
    if seconds is not None:
        bound = next((b for b in _IMPORT if seconds <= b), math.inf)
        added[("seconds", _le(bound))] = 1.0
        added[("seconds_sum", "")] = seconds
    return added


def _le(bound: float) -> str:
    """A bucket's upper bound as the text format writes it ("0.5", "+Inf")."""
    return "+Inf" if bound == math.inf else repr(bound)


class Stored(NamedTuple):
    """What the store says at a scrape: of the hub, and the imports' running totals."""

    subscriptions: int
    backlog: Mapping[str, int]  # rows waiting, by queue
    imports: ImportFigures


class _StoreCollector(Collector):
    """Figures read from the store at each scrape: the hub's (its worker may run anywhere)
    and the imports' (each a process of its own, which may have run on any machine)."""

    def __init__(self, read: Callable[[], Stored | None]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        stored = self.read()
        yield GaugeMetricFamily(
            "feeds_store_readable",
            "1 when the store answered the scrape's reads, 0 when it could not be read.",
            value=0 if stored is None else 1,
        )
        if stored is None:
            return
        yield GaugeMetricFamily(
            "feeds_hub_subscriptions", "Active hub subscriptions.", value=stored.subscriptions
        )
        queue = GaugeMetricFamily(
            "feeds_hub_queue", "Rows waiting in each hub queue.", labels=["queue"]
        )
        for name, rows in stored.backlog.items():
            queue.add_metric([name], rows)
        yield queue
        yield from _imports(stored.imports)


def _imports(totals: ImportFigures) -> Iterator[Metric]:
    def labelled(figure: str, known: tuple[str, ...]) -> list[tuple[str, float]]:
        labels = dict.fromkeys(known, 0.0)
        labels.update({label: v for (f, label), v in totals.items() if f == figure})
        return list(labels.items())

    runs = CounterMetricFamily(
        "feeds_import_runs", "Imports, by result (stored, dry_run, failed).", labels=["result"]
    )
    for result, value in labelled("runs", IMPORT_RESULTS):
        runs.add_metric([result], value)
    yield runs
    articles = CounterMetricFamily(
        "feeds_import_articles",
        "Article files of stored imports, by outcome (added, updated, unchanged, rejected, "
        "withdrawn).",
        labels=["outcome"],
    )
    for outcome, value in labelled("articles", IMPORT_OUTCOMES):
        articles.add_metric([outcome], value)
    yield articles
    # Stored per bucket; the text format wants each bound's count of durations up to it.
    counts = [(float(label), v) for (f, label), v in totals.items() if f == "seconds"]
    buckets = [
        (_le(bound), sum(v for le, v in counts if le <= bound)) for bound in (*_IMPORT, math.inf)
    ]
    yield HistogramMetricFamily(
        "feeds_import_seconds",
        "Stored imports, from their start to their commit.",
        buckets=buckets,
        sum_value=totals.get(("seconds_sum", ""), 0.0),
    )


def multiprocess_dir() -> str | None:
    """The directory the processes keep their figures in; None: this process alone."""
    return os.environ.get(MULTIPROC_ENV) or None


def scrape(stored: Callable[[], Stored | None] | None = None) -> bytes:
    """Every figure in the text format: summed over the server's processes in multi-process
    mode, this process's otherwise, and the store's as `stored` reads them now."""
    fold()  # this process's answers at least are in to the last one
    text = b""
    if multiprocess_dir() is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    if stored is not None:
        extra = CollectorRegistry()
        extra.register(_StoreCollector(stored))
        text += generate_latest(extra)
    return text


def mark_dead(pid: int) -> None:
    """A server process ended: its live gauges go (its counters stay in the sums)."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
