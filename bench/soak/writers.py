"""The writers of the soak: the publishing API (PUT of new and changed articles, DELETE, PUT
of withdrawn ones) and `feeds import` of new and changed files, each write followed until it
shows on every worker."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from .. import corpus
from .catalogue import Catalogue
from .checks import Inspector
from .stack import AUTHORS, Stack, run_feeds
from .transport import Client, TransportError
from .visibility import Expected, Visibility

_SUMMARY = re.compile(r"(\d+) added, (\d+) updated, (\d+) unchanged, (\d+) rejected")
LONDON = ZoneInfo("Europe/London")


def words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choices(corpus.WORDS, k=count))


@dataclass(frozen=True)
class Written:
    """An article the API wrote, as last written."""

    id: str
    title: str
    published: str
    section: str
    authors: tuple[str, ...]
    version: int = 1

    def body(self, rng: random.Random) -> bytes:
        text = "\n".join(words(rng, 30).capitalize() + "." for _ in range(3))
        return json.dumps(
            {
                "title": self.title,
                "published": self.published,
                "section": self.section,
                "authors": list(self.authors),
                "tags": ["soak"],
                "text": text,
            }
        ).encode()


class ApiWriter:
    ACTIONS = {"new": 35, "update": 35, "delete": 15, "restore": 15}  # action: weight

    def __init__(
        self,
        stack: Stack,
        catalogue: Catalogue,
        inspector: Inspector,
        visibility: Visibility,
        client: Client,
    ) -> None:
        self.catalogue = catalogue
        self.inspector = inspector
        self.visibility = visibility
        self.client = client
        self.token = stack.token
        self.articles: dict[str, Written] = {}
        self.withdrawn: set[str] = set()
        self.made = 0

    def run(self, stop: threading.Event, seed: int, interval: float) -> None:
        rng = random.Random(seed)
        actions, weights = list(self.ACTIONS), list(self.ACTIONS.values())
        while not stop.wait(interval):
            self.write(rng, rng.choices(actions, weights)[0])

    def seed(self, rng: random.Random) -> None:
        """One article by each author, so that every author's feeds exist from the start."""
        for author in AUTHORS:
            self.new(rng, (author,))

    def write(self, rng: random.Random, action: str) -> None:
        live = sorted(set(self.articles) - self.withdrawn)
        if action == "delete" and len(live) > 3:
            self.delete(rng.choice(live))
            return
        if action == "restore" and self.withdrawn:
            # Back with a new version: restored as it was, a document could show again
            # what it showed before the withdrawal, and so take its ETag of then, which
            # the no-stale check would take for a stale answer.
            old = self.articles[rng.choice(sorted(self.withdrawn))]
            back = replace(
                old,
                version=old.version + 1,
                title=f"Soak {old.id} version {old.version + 1}: {words(rng, 5)}",
            )
            self.put("restore", back, rng)
            return
        if action == "update" and live:
            old = self.articles[rng.choice(live)]
            moved = rng.random() < 0.15
            section = rng.choice(self.catalogue.sections) if moved else old.section
            new = replace(
                old,
                version=old.version + 1,
                section=section,
                title=f"Soak {old.id} version {old.version + 1}: {words(rng, 5)}",
            )
            self.put("update", new, rng, left=old.section if section != old.section else None)
            return
        self.new(rng, tuple(rng.sample(AUTHORS, rng.randint(0, 2))))

    def new(self, rng: random.Random, authors: tuple[str, ...]) -> None:
        self.made += 1
        article = f"soak-{self.made:05d}"
        published = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
        self.put(
            "new",
            Written(
                article,
                f"Soak {article} version 1: {words(rng, 5)}",
                published.isoformat().replace("+00:00", "Z"),
                rng.choice(self.catalogue.sections),
                authors,
            ),
            rng,
        )

    def _send(
        self, kind: str, method: str, article: str, body: bytes | None, ok: frozenset[int]
    ) -> float | None:
        """The moment the write returned, or None when it was not done."""
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        path = f"/api/v1/articles/{article}"
        try:
            reply = self.client.request("direct", method, path, headers, body)
        except TransportError as e:
            self.inspector.record.fail("transport", f"{method} {path}", str(e))
            return None
        self.inspector.answer(reply, f"api-{kind}", ok | {503})
        if reply.status == 503:
            return None  # counted, and its Retry-After checked; the write was not done
        done = self.inspector.record.check(
            "api", reply.status in ok, reply.url, f"{reply.status}: {reply.body[:200]!r}"
        )
        return reply.received if done else None

    def put(self, kind: str, article: Written, rng: random.Random, left: str | None = None) -> None:
        statuses = frozenset({201}) if kind == "new" else frozenset({200, 201})
        since = self._send(kind, "PUT", article.id, article.body(rng), statuses)
        if since is None:
            return
        self.articles[article.id] = article
        self.withdrawn.discard(article.id)
        self.catalogue.shown(article.id)
        expected = Expected(article.id, article.title, article.section, left)
        self.visibility.wait(f"api-{kind}", [expected], since)

    def delete(self, article: str) -> None:
        since = self._send("delete", "DELETE", article, None, frozenset({204}))
        if since is None:
            return
        self.withdrawn.add(article)
        self.catalogue.withdrawn(article)
        expected = Expected(article, None, self.articles[article].section)
        self.visibility.wait("api-delete", [expected], since)


class Importer:
    """Every `interval` seconds: two new files and two changed ones, then `feeds import`."""

    def __init__(self, stack: Stack, inspector: Inspector, visibility: Visibility) -> None:
        self.stack = stack
        self.inspector = inspector
        self.record = inspector.record
        self.visibility = visibility
        self.files: dict[str, Path] = {
            article: stack.content / section / f"{article}.txt"
            for article, section in stack.articles.items()
        }
        self.made = 0

    def run(self, stop: threading.Event, seed: int, interval: float) -> None:
        rng = random.Random(seed)
        while not stop.wait(interval):
            self.import_once(rng)

    def import_once(self, rng: random.Random) -> None:
        expected = [self.change(rng, rng.choice(sorted(self.files))) for _ in range(2)]
        expected = list({e.article: e for e in expected}.values())
        changed = len(expected)
        expected += [self.add(rng) for _ in range(2)]
        command = f"feeds import {self.stack.content}"
        done = run_feeds(self.stack.env, "import", str(self.stack.content))
        since = time.monotonic()
        found = _SUMMARY.search(done.stdout + done.stderr)
        counts = tuple(int(n) for n in found.groups()) if found else None
        ok = done.returncode == 0 and counts is not None and counts[0:2] == (2, changed)
        if not self.record.check(
            "import",
            ok and counts is not None and counts[3] == 0,
            command,
            f"exit {done.returncode}, {counts}, expected 2 added, "
            f"{changed} updated: {done.stderr[-300:]}",
        ):
            return
        self.visibility.wait("import", expected, since)

    def add(self, rng: random.Random) -> Expected:
        self.made += 1
        article = f"imp-{self.made:05d}"
        section = rng.choice(sorted(set(self.stack.articles.values())))
        path = self.stack.content / section / f"{article}.txt"
        title = f"Import {article} version 1: {words(rng, 5)}"
        when = datetime.now(LONDON) - timedelta(minutes=5)
        path.write_text(
            "\n".join(["Soak banner", title, corpus.stamp(when), words(rng, 40).capitalize() + "."])
            + "\n",
            encoding="utf-8",
        )
        self.files[article] = path
        return Expected(article, title, section)

    def change(self, rng: random.Random, article: str) -> Expected:
        path = self.files[article]
        lines = path.read_text(encoding="utf-8").splitlines()
        match = re.search(r"version (\d+):", lines[1])
        version = int(match.group(1)) + 1 if match else 2
        lines[1] = f"Import {article} version {version}: {words(rng, 5)}"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return Expected(article, lines[1], path.parent.name)
