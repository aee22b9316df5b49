"""The URLs the soak asks for, shared by its threads: every feed's place, the archives found
by following prev-archive links, and the articles (with those the API withdrew)."""

from __future__ import annotations

import base64
import random
import threading
from dataclasses import dataclass, field

from .stack import AUTHORS, Partner, Stack

FILENAMES = ("rss.xml", "atom.xml", "feed.json")


def slug(name: str) -> str:
    return "-".join(name.lower().split())


@dataclass
class Catalogue:
    sections: tuple[str, ...]
    partners: list[Partner]
    generated: list[str]  # ids of the generated articles, never withdrawn
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _archives: set[str] = field(default_factory=set)  # folders: /feeds/archive/2020/01/1/
    _partner_archives: dict[str, set[str]] = field(default_factory=dict)
    _live: set[str] = field(default_factory=set)  # articles the soak wrote, shown
    _withdrawn: set[str] = field(default_factory=set)  # ... and withdrawn

    @classmethod
    def of(cls, stack: Stack) -> Catalogue:
        sections = tuple(sorted(set(stack.articles.values())))
        return cls(sections, stack.partners, sorted(stack.articles))

    def places(self) -> list[str]:
        """Every public feed's folder: the site's, each section's, each author's."""
        return [
            "/feeds/",
            *(f"/feeds/{s}/" for s in self.sections),
            *(f"/feeds/authors/{slug(a)}/" for a in AUTHORS),
        ]

    def pages(self) -> list[str]:
        return ["/", *(f"/sections/{s}" for s in self.sections), "/feeds.opml"]

    def add_archive(self, folder: str, partner: str | None = None) -> None:
        with self._lock:
            if partner is None:
                self._archives.add(folder)
            else:
                self._partner_archives.setdefault(partner, set()).add(folder)

    def archive(self, rng: random.Random, partner: str | None = None) -> str | None:
        with self._lock:
            found = self._archives if partner is None else self._partner_archives.get(partner)
            return rng.choice(sorted(found)) if found else None

    def archive_count(self) -> int:
        with self._lock:
            return len(self._archives) + sum(len(f) for f in self._partner_archives.values())

    def shown(self, article: str) -> None:
        with self._lock:
            self._withdrawn.discard(article)
            self._live.add(article)

    def withdrawn(self, article: str) -> None:
        with self._lock:
            self._live.discard(article)
            self._withdrawn.add(article)

    def written(self, rng: random.Random, live: bool) -> str | None:
        with self._lock:
            found = self._live if live else self._withdrawn
            return rng.choice(sorted(found)) if found else None

    def article(self, rng: random.Random) -> tuple[str, frozenset[int]]:
        """An article's page and the statuses it may answer."""
        with self._lock:
            written = sorted(self._live | self._withdrawn)
        if written and rng.random() < 0.3:
            return f"/articles/{rng.choice(written)}", frozenset({200, 304, 410})
        return f"/articles/{rng.choice(self.generated)}", frozenset({200, 304})


def partner_request(partner: Partner, path: str, how: str) -> tuple[str, dict[str, str]]:
    """`path` of `partner`'s with its token given `how`: in the query, as a Bearer token or
    as the password of HTTP Basic."""
    if how == "query":
        return f"{path}?token={partner.token}", {}
    if how == "bearer":
        return path, {"Authorization": f"Bearer {partner.token}"}
    basic = base64.b64encode(f"soak:{partner.token}".encode()).decode()
    return path, {"Authorization": f"Basic {basic}"}
