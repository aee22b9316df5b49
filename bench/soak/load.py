"""The readers of the soak: pollers that ask for feeds, archives, pages, articles and partner
feeds in every format, with and without validators and gzip, through nginx and directly; and a
walker that follows every feed's prev-archive links to its oldest archive."""

from __future__ import annotations

import json
import random
import threading
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime

from .catalogue import FILENAMES, Catalogue, partner_request
from .checks import ATOM, Inspector, form_of
from .record import Record
from .transport import Client, TransportError

GZIP = {"Accept-Encoding": "gzip"}
FEED_STATUSES = frozenset({200, 304})
PARTNER_STATUSES = frozenset({200, 304, 429})
MAX_HOPS = 1000  # a prev-archive chain longer than this is taken for a loop


class Reader:
    """What pollers and the walker share: the catalogue, the checks and the targets."""

    def __init__(
        self, catalogue: Catalogue, inspector: Inspector, client: Client, base_url: str
    ) -> None:
        self.catalogue = catalogue
        self.inspector = inspector
        self.record: Record = inspector.record
        self.client = client
        self.base_url = base_url
        self.targets = sorted(client.ports)

    def get(
        self,
        target: str,
        path: str,
        kind: str,
        expect: frozenset[int],
        headers: dict[str, str] | None = None,
        method: str = "GET",
        fresh: bool = False,
        origin: str | None = None,
    ) -> bytes | None:
        """One request, checked: the decoded body of a well-formed 200, else None."""
        try:
            reply = self.client.request(target, method, path, headers, fresh=fresh)
        except TransportError as e:
            self.record.fail("transport", f"{method} {target}:{path}", str(e))
            return None
        self.record.held("transport")
        body = self.inspector.answer(reply, kind, expect, origin)
        if kind == "archive":
            answered = reply.status in (200, 304, 429)
            self.record.check("archives", answered, reply.url, f"answered {reply.status}")
        return body


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


class Poller(Reader):
    """Asks, until told to stop, for a document picked at random, with validators picked
    at random from what has been served of it."""

    # kind of request: weight
    KINDS = {
        "feed": 45,
        "archive": 14,
        "partner": 10,
        "article": 12,
        "page": 12,
        "head": 4,
        "opml": 3,
    }

    def run(self, stop: threading.Event, seed: int) -> None:
        rng = random.Random(seed)
        kinds, weights = list(self.KINDS), list(self.KINDS.values())
        while not stop.is_set():
            self.poll(rng, rng.choices(kinds, weights)[0])
        self.client.close()

    def poll(self, rng: random.Random, kind: str) -> None:
        target = rng.choice(self.targets)
        coding = GZIP if rng.random() < 0.6 else {}
        expect = FEED_STATUSES
        method = "GET"
        headers: dict[str, str] = {}
        if kind in ("feed", "head"):
            path = rng.choice(self.catalogue.places()) + rng.choice(FILENAMES)
            method = "HEAD" if kind == "head" else "GET"
        elif kind == "archive":
            partner = rng.choice([None, None, None, *self.catalogue.partners])
            folder = self.catalogue.archive(rng, partner.name if partner else None)
            if folder is None:
                return
            path = folder + rng.choice(FILENAMES)
            if partner is not None:
                path, headers = partner_request(partner, path, rng.choice(("query", "bearer")))
                expect = PARTNER_STATUSES
        elif kind == "partner":
            partner = rng.choice(self.catalogue.partners)
            how = rng.choice(("query", "bearer", "basic"))
            path, headers = partner_request(
                partner, f"/partners/{partner.name}/" + rng.choice(FILENAMES), how
            )
            expect = PARTNER_STATUSES
        elif kind == "article":
            path, expect = self.catalogue.article(rng)
        elif kind == "page":
            path = rng.choice(self.catalogue.pages()[:-1])
        else:
            path = "/feeds.opml"
        key = (target, path, "gzip" if coding else "identity")
        validators, origin = self.validators(rng, key)
        headers |= coding | validators
        self.get(target, path, kind, expect, headers, method, rng.random() < 0.1, origin)

    def validators(
        self, rng: random.Random, key: tuple[str, str, str]
    ) -> tuple[dict[str, str], str | None]:
        """Validators for `key`, and the ETag whose Last-Modified is If-Modified-Since."""
        latest = self.inspector.history.latest(key)
        roll = rng.random()
        if latest is None or roll < 0.3:
            return {}, None
        origin = latest.etag
        since = http_date(latest.last_modified) if latest.last_modified else None
        if roll < 0.6:
            return {"If-None-Match": latest.etag}, None
        if roll < 0.75:
            return ({"If-Modified-Since": since}, origin) if since else ({}, None)
        if roll < 0.82:
            return {"If-None-Match": f'"elsewhere", W/{latest.etag}'}, None
        older = self.inspector.history.older(key)
        if roll < 0.86:
            return ({"If-None-Match": older.etag} if older else {}), None
        if roll < 0.9:  # a client that revalidates by date and missed the latest version
            if older is None or older.last_modified is None:
                return {}, None
            return {"If-Modified-Since": http_date(older.last_modified)}, older.etag
        both = {"If-None-Match": latest.etag} | ({"If-Modified-Since": since} if since else {})
        return both, origin


class Walker(Reader):
    """Follows prev-archive links (JSON Feed: next_url) from subscription documents picked
    at random to the end, noting every archive for the pollers."""

    def run(self, stop: threading.Event, seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            self.walk_one(rng, stop)
            stop.wait(0.5)
        self.client.close()

    def walk_one(self, rng: random.Random, stop: threading.Event | None = None) -> None:
        partner = rng.choice([None, None, *self.catalogue.partners])
        filename = rng.choice(FILENAMES)
        if partner is None:
            self.walk(
                rng.choice(self.targets), rng.choice(self.catalogue.places()) + filename, None, stop
            )
        else:
            self.walk(
                rng.choice(self.targets), f"/partners/{partner.name}/{filename}", partner.name, stop
            )

    def walk(
        self, target: str, path: str, partner: str | None, stop: threading.Event | None
    ) -> int:
        """Follow the chain from `path`; how many documents it held."""
        headers: dict[str, str] = {}
        expect = FEED_STATUSES
        if partner is not None:
            terms = next(p for p in self.catalogue.partners if p.name == partner)
            path, headers = partner_request(terms, path, "bearer")
            expect = PARTNER_STATUSES
        seen = {path}
        kind = "partner" if partner else "feed"
        while len(seen) <= MAX_HOPS and not (stop and stop.is_set()):
            body = self.get(target, path, kind, expect, headers | GZIP)
            if body is None:
                return len(seen)
            link = self.older(form_of(path), body)
            if link is None:
                return len(seen)
            if not self.record.check(
                "archives",
                link.startswith(self.base_url + "/"),
                f"GET {target}:{path}",
                f"prev-archive link {link}",
            ):
                return len(seen)
            older = link[len(self.base_url) :]
            if not self.record.check(
                "archives",
                older not in seen,
                f"GET {target}:{path}",
                f"prev-archive {older} was met before on this walk",
            ):
                return len(seen)
            seen.add(older)
            self.catalogue.add_archive(older.split("?", 1)[0].rsplit("/", 1)[0] + "/", partner)
            path, kind = older, "archive"
        self.record.check("archives", len(seen) <= MAX_HOPS, path, "a chain of over 1000")
        return len(seen)

    @staticmethod
    def older(form: str, body: bytes) -> str | None:
        """The URL of the next older document: RFC 5005 prev-archive, or JSON Feed next_url."""
        if form == "json":
            value = json.loads(body).get("next_url")
            return value if isinstance(value, str) else None
        root = ET.fromstring(body)
        links = root.iter(f"{ATOM}link")
        return next((link.get("href") for link in links if link.get("rel") == "prev-archive"), None)
