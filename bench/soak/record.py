"""What one soak run counted, shared by its threads: requests by kind, every check with how
often it held and the first failures, write-to-visible lags and memory samples."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

# Every check the soak makes: its name in the table, and what it holds to.
CHECKS: dict[str, str] = {
    "transport": "every request is answered: no refused, reset or timed-out connection",
    "status": "every answer has a status its request may get (a feed 200 or 304, ...)",
    "no-5xx": "no answer is 5xx, but a 503 with Retry-After",
    "retry-after": "every 429 and 503 carries Retry-After",
    "read-never-503": "no GET or HEAD is answered 503: a read never waits for a writer",
    "well-formed": "every 200 parses: RSS, Atom and OPML as XML, JSON Feed as JSON, HTML "
    "pages start with a doctype; a HEAD or 304 has no body",
    "etag-bytes": "an ETag always names the same bytes at its URL, and a gzip ETag the gzip "
    "of its identity ETag's bytes",
    "coding": "gzip exactly when accepted, its ETag the identity one's with -gz; every "
    "document has a strong ETag and Vary: Accept-Encoding",
    "304-match": "a 304 only when If-None-Match names its ETag, or (without If-None-Match) "
    "If-Modified-Since is not before its Last-Modified; none, 5 s after a change, to a date "
    "taken from an earlier version",
    "304-due": "direct to gunicorn, no 200 when the validators sent match the answer's own",
    "no-stale": "no answer carries an older ETag than one served for the same URL and "
    "coding before the request was sent",
    "last-modified": "Last-Modified moves forward with the ETag, is never after the answer's "
    "Date, and never before the document's own updated time (a new ETag not recorded yet "
    "goes out without one)",
    "archives": "an archive answered once always answers; prev-archive chains end, without "
    "cycles, with links under FEEDS_BASE_URL",
    "write-visible": "every API write and import shows on every gunicorn worker (article page "
    "and section feed): no request sent --visible-within seconds after it returned gets the "
    "old state, and none after the new",
    "import": "every `feeds import` exits 0 and counts exactly the files added and changed",
    "api": "every PUT and DELETE is answered as documented (201, 200, 204, or 503 with "
    "Retry-After)",
    "memory": "the resident memory of each process group grows by at most --rss-growth "
    "after warm-up",
    "workers": "no gunicorn worker is replaced during the run",
    "server-logs": "no traceback, worker timeout or error in gunicorn's log; nothing at "
    "[error] or worse in nginx's",
    "no-secret-logged": "no log of gunicorn or nginx holds the publish token or a partner's",
}


@dataclass
class Failure:
    check: str
    where: str  # a URL, a command or a process group
    what: str


@dataclass
class Traffic:
    """The answers of one kind of request to one target."""

    requests: int = 0
    conditional: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


@dataclass
class Record:
    examples: int = 5  # failures kept per check
    checked: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    traffic: dict[tuple[str, str], Traffic] = field(default_factory=dict)
    lags: dict[str, list[float]] = field(default_factory=dict)  # write kind -> seconds
    # write kind -> answers that showed the state before a write after it had returned
    old_answers: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def held(self, check: str, times: int = 1) -> None:
        with self._lock:
            self.checked[check] += times

    def fail(self, check: str, where: str, what: str) -> None:
        assert check in CHECKS, check
        with self._lock:
            self.checked[check] += 1
            self.failed[check] += 1
            if self.failed[check] <= self.examples:
                self.failures.append(Failure(check, where, what))

    def check(self, check: str, ok: bool, where: str, what: str) -> bool:
        if ok:
            self.held(check)
        else:
            self.fail(check, where, what)
        return ok

    def request(self, kind: str, target: str, status: int, conditional: bool) -> None:
        with self._lock:
            traffic = self.traffic.setdefault((kind, target), Traffic())
            traffic.requests += 1
            traffic.conditional += conditional
            traffic.statuses[status] += 1

    def lag(self, kind: str, seconds: float, old_answers: int) -> None:
        with self._lock:
            self.lags.setdefault(kind, []).append(seconds)
            self.old_answers[kind] += old_answers

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(text)

    @property
    def ok(self) -> bool:
        return not self.failed
