"""The checks every answer goes through (Inspector.answer): its status, coding, validators,
bytes and form, against what the soak has seen of the same document before."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
import xml.etree.ElementTree as ET
import zlib
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from .observed import GZIP_SUFFIX, History, Key, Representations
from .record import Record
from .transport import Reply

ATOM = "{http://www.w3.org/2005/Atom}"
_TAG = re.compile(r'\s*(W/)?("[^"]*")\s*(?:,|$)')
CLOCK_SLACK = timedelta(seconds=1)  # Date has whole seconds
# Seconds after a new ETag was first served within which a client revalidating by date may
# still get a 304 for the version before: the new one goes out undated until a worker records
# its Last-Modified (another writer holds the lock, or it falls in the second of the last
# one), a second later (web/cache.py); a date-only client is then answered from its old date.
SETTLE = 5.0


def entity_tags(header: str) -> tuple[bool, list[str]]:
    """If-None-Match as (star, the quoted opaque tags, W/ left off)."""
    if header.strip() == "*":
        return True, []
    return False, [match.group(2) for match in _TAG.finditer(header)]


def http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def form_of(path: str) -> str:
    """How a document at `path` is written: rss, atom, json, opml or html."""
    name = path.split("?", 1)[0].rsplit("/", 1)[-1]
    return {"rss.xml": "rss", "atom.xml": "atom", "feed.json": "json", "feeds.opml": "opml"}.get(
        name, "html"
    )


def own_updated(form: str, body: bytes) -> tuple[object | None, datetime | None]:
    """The parsed document (an XML root or JSON value; None for HTML) and its own updated
    time; raises ValueError when it does not parse."""
    if form == "json":
        return json.loads(body), None
    if form == "html":
        if not body.lstrip()[:15].lower().startswith(b"<!doctype html"):
            raise ValueError(f"no doctype: {body[:40]!r}")
        return None, None
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise ValueError(f"not XML: {e}") from e
    if form == "atom":
        text = root.findtext(f"{ATOM}updated")
        return root, datetime.fromisoformat(text) if text else None
    if form == "rss":
        return root, http_date(root.findtext("channel/lastBuildDate"))
    return root, None


class Inspector:
    """Checks answers and records them; one for the whole run, shared by its threads."""

    def __init__(self, record: Record) -> None:
        self.record = record
        self.history = History()
        self.bytes = Representations()
        self.undated = 0  # 200s of a new ETag not yet recorded: no Last-Modified
        self._lock = threading.Lock()

    def key(self, reply: Reply) -> Key:
        return (reply.target, reply.path, "gzip" if _accepts_gzip(reply) else "identity")

    def answer(
        self, reply: Reply, kind: str, expect: frozenset[int], origin: str | None = None
    ) -> bytes | None:
        """Check `reply` to a request of `kind` that may get a status in `expect`; the body
        with its coding undone, when it is a 200 to a GET of a document that is well formed.
        `origin` is the ETag whose Last-Modified the request's If-Modified-Since is."""
        rec = self.record
        conditional = bool(reply.asked("If-None-Match") or reply.asked("If-Modified-Since"))
        rec.request(kind, reply.target, reply.status, conditional)
        status = reply.status
        if status in (429, 503):
            rec.check("retry-after", bool(reply.header("Retry-After")), reply.url, f"{status}")
            if status == 503 and reply.method in ("GET", "HEAD"):
                rec.fail("read-never-503", reply.url, _snippet(reply.body))
            elif status == 503:
                rec.held("read-never-503")
        elif reply.method in ("GET", "HEAD"):
            rec.held("read-never-503")
        if status >= 500 and not (status == 503 and reply.header("Retry-After")):
            rec.fail("no-5xx", reply.url, f"{status}: {_snippet(reply.body)}")
            return None
        rec.held("no-5xx")
        if status not in expect and status != 503:
            rec.fail(
                "status", reply.url, f"{status}, expected {sorted(expect)}: {_snippet(reply.body)}"
            )
            return None
        rec.held("status")
        if status not in (200, 304) or kind.startswith("api"):
            return None
        etag = reply.header("ETag")
        if not self._coding(reply, etag) or etag is None:
            return None
        modified = http_date(reply.header("Last-Modified"))
        problems = self.history.observe(self.key(reply), etag, modified, reply)
        for problem in problems:
            rec.fail(
                "no-stale" if problem.startswith("stale") else "last-modified", reply.url, problem
            )
        if not problems:
            rec.held("no-stale")
        if status == 304:
            self._not_modified(reply, etag, origin)
            return None
        self._fresh(reply, etag, modified)
        if reply.method == "HEAD":
            rec.check("well-formed", not reply.body, reply.url, "HEAD answered with a body")
            return None
        return self._body(reply, etag, modified)

    def _coding(self, reply: Reply, etag: str | None) -> bool:
        rec = self.record
        wants = _accepts_gzip(reply)
        sent = reply.header("Content-Encoding")
        vary = (reply.header("Vary") or "").lower()
        problems = []
        if etag is None or etag.startswith("W/"):
            problems.append(f"ETag {etag!r} is not a strong ETag")
        elif etag.endswith(GZIP_SUFFIX) != wants:
            problems.append(f"ETag {etag} for Accept-Encoding {reply.asked('Accept-Encoding')!r}")
        if reply.status == 200 and (sent == "gzip") != wants:
            problems.append(f"Content-Encoding {sent!r} for {reply.asked('Accept-Encoding')!r}")
        if "accept-encoding" not in vary:
            problems.append(f"Vary {vary!r}")
        return rec.check("coding", not problems, reply.url, "; ".join(problems))

    def _not_modified(self, reply: Reply, etag: str, origin: str | None) -> None:
        rec = self.record
        rec.check("well-formed", not reply.body, reply.url, "a 304 with a body")
        matches = reply.asked("If-None-Match")
        since = http_date(reply.asked("If-Modified-Since"))
        if matches is not None:
            star, tags = entity_tags(matches)
            weak = etag[2:] if etag.startswith("W/") else etag
            rec.check(
                "304-match",
                star or weak in tags,
                reply.url,
                f"304 with ETag {etag} for If-None-Match {matches}",
            )
        elif since is not None:
            modified = self.history.modified(self.key(reply), etag)
            if not rec.check(
                "304-match",
                modified is None or modified <= since,
                reply.url,
                f"304 for If-Modified-Since {reply.asked('If-Modified-Since')} though "
                f"{etag} was last modified {modified}",
            ):
                return
            served = self.history.first_seen(self.key(reply), etag)
            missed = origin is not None and origin != etag and served is not None
            if missed and served is not None and reply.sent - served > SETTLE:
                rec.fail(
                    "304-match",
                    reply.url,
                    f"304 with {etag} for If-Modified-Since {reply.asked('If-Modified-Since')}, "
                    f"the Last-Modified of {origin}: a client that revalidates by date missed "
                    f"the change to {etag}, served {reply.sent - served:.1f} s before",
                )
        else:
            rec.fail("304-match", reply.url, "304 to a request without validators")

    def _fresh(self, reply: Reply, etag: str, modified: datetime | None) -> None:
        """A 200: its Last-Modified, and (direct to gunicorn) that no 304 was due."""
        rec = self.record
        date = http_date(reply.header("Date"))
        if modified is None:  # allowed: never a date that could hide the change
            with self._lock:
                self.undated += 1
        rec.check(
            "last-modified",
            modified is None or date is None or modified <= date + CLOCK_SLACK,
            reply.url,
            f"Last-Modified {reply.header('Last-Modified')!r}, Date {reply.header('Date')}",
        )
        if reply.target != "direct":
            return  # nginx may answer 200 where the app would not (deploy/nginx.conf)
        matches = reply.asked("If-None-Match")
        since = http_date(reply.asked("If-Modified-Since"))
        due = False
        if matches is not None:
            star, tags = entity_tags(matches)
            due = star or etag in tags
        elif since is not None and modified is not None:
            due = modified <= since
        rec.check(
            "304-due",
            not due,
            reply.url,
            f"200 with ETag {etag}, Last-Modified {reply.header('Last-Modified')} for "
            f"If-None-Match {matches}, If-Modified-Since {reply.asked('If-Modified-Since')}",
        )

    def _body(self, reply: Reply, etag: str, modified: datetime | None) -> bytes | None:
        rec = self.record
        body = reply.body
        if reply.header("Content-Encoding") == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error) as e:
                rec.fail("coding", reply.url, f"gzip body does not decode: {e}")
                return None
        raw, decoded = hashlib.sha256(reply.body).hexdigest(), hashlib.sha256(body).hexdigest()
        seen, problems = self.bytes.record(reply.path, etag, raw, decoded)
        rec.check("etag-bytes", not problems, reply.url, "; ".join(problems))
        if seen:
            updated = self.bytes.updated(reply.path, etag)
        else:
            form = form_of(reply.path)
            try:
                _, updated = own_updated(form, body)
            except ValueError as e:
                rec.fail("well-formed", reply.url, f"{form}: {e}")
                return None
            rec.held("well-formed")
            self.bytes.note_updated(reply.path, etag, updated)
        if updated is not None and modified is not None:
            self._not_before(reply, etag, modified, updated)
        return body

    def _not_before(self, reply: Reply, etag: str, modified: datetime, updated: datetime) -> None:
        """Last-Modified, when sent, is never before the document's own updated time."""
        self.record.check(
            "last-modified",
            updated.replace(microsecond=0) <= modified,
            reply.url,
            f"Last-Modified {reply.header('Last-Modified')} is before the document's own "
            f"updated time {updated.isoformat()} ({etag})",
        )


def _accepts_gzip(reply: Reply) -> bool:
    return "gzip" in (reply.asked("Accept-Encoding") or "")


def _snippet(body: bytes) -> str:
    return body[:160].decode("utf-8", "replace").replace("\n", " ")
