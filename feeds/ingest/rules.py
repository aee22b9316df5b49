"""The update rules: what an incoming article does to the store.

A new article is stored with a tag URI minted once. An unchanged one (white space alone is
no change) is left alone. A changed one keeps its id and tag and gets the next revision and
a later update marker: the file's Updated: time when that is later than the stored marker,
else the time of the change. No two articles share an update marker. A withdrawn article
comes back when its file does (see `differs`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from feeds.model import ParsedArticle, Stored

if TYPE_CHECKING:  # the helper processes that prepare articles never load the store
    from feeds.store import Reader, Writer


MICROSECOND = timedelta(microseconds=1)
CHANGES = "changes"  # the store's counter of article changes (Writer.number)
SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Prepared:
    """What storing an article needs: the stored columns that come from the article, and
    what the update rules compare. Small to send back from a helper process."""

    id: str
    section: str | None
    published: datetime
    updated: datetime
    authors: tuple[str, ...]
    content_hash: str
    fields: dict[str, Any]


def prepare(article: ParsedArticle) -> Prepared:
    return Prepared(
        article.id,
        article.section,
        article.published,
        article.updated,
        article.authors,
        article.content_hash,
        {
            "section": article.section,
            "title": article.title,
            "published": article.published,
            "paragraphs": article.paragraphs_json,
            "source": article.source,
            "content_hash": article.content_hash,
            "authors": _json_list(article.authors),
            "tags": _json_list(article.tags),
            "body_html": article.body_html,
            "image": article.image_json,
        },
    )


def _json_list(items: tuple[str, ...]) -> str:
    return json.dumps(list(items), ensure_ascii=False) if items else "[]"


ADDED, UPDATED, UNCHANGED = "added", "updated", "unchanged"


@dataclass(frozen=True)
class Outcome:
    """What the rules did (or, in a dry run, would do) with one article."""

    id: str
    result: str  # ADDED, UPDATED or UNCHANGED


class Markers:
    """Hands out update markers no other article has: Atom readers and validators take two
    entries with one `updated` value for two versions of one entry. A taken instant moves
    on by a microsecond, so the marker stays right to the second.

    Each marker is the first instant at or after the one wanted that no article holds when
    it is handed out (a changed article gives its old one back: `release`). Wanted instants
    are looked up together (`reserve`); past a taken one, the markers stored in that second
    are read in one range search, and `_skip` jumps over runs of taken instants, so articles
    sharing a dateline cost time in proportion to their number, not its square."""

    def __init__(self, db: Reader) -> None:
        self.db = db
        self.taken: set[datetime] = set()
        self.searched: set[datetime] = set()  # seconds whose stored markers are all in taken
        # What joined `taken` since the last forget_stored other than by a search: all that
        # it may drop, so that it costs a batch's worth of work, not the whole import's.
        self._recent: list[datetime] = []
        # second -> {x: y}: every instant in [x, y) is taken; y is at most the next second.
        self._skip: dict[datetime, dict[datetime, datetime]] = {}

    def reserve(self, wanted: Iterable[datetime]) -> None:
        """Learn which of these instants stored articles have: one batched lookup."""
        found = self.db.taken_markers(m for m in wanted if m not in self.taken)
        self.taken |= found
        self._recent += found

    def unique(self, wanted: datetime) -> datetime:
        """The first free instant at or after `wanted` (reserved first), now taken."""
        moment, passed = wanted, []
        while True:
            second = _second(moment)
            if moment in self.taken:
                passed.append(moment)
                moment = self._skip.get(second, {}).get(moment, moment + MICROSECOND)
                continue
            if moment != wanted and second not in self.searched:
                self.searched.add(second)
                self.taken |= self.db.markers_between(second, second + SECOND)
                continue
            break
        for instant in passed:
            start = _second(instant)
            end = moment if _second(moment) == start else start + SECOND
            self._skip.setdefault(start, {})[instant] = end
        self.taken.add(moment)
        self._recent.append(moment)
        return moment

    def release(self, marker: datetime) -> None:
        """`marker` is no article's any longer: a changed article has taken a new one."""
        self.taken.discard(marker)
        self._skip.pop(_second(marker), None)  # runs in its second may end there

    def forget_stored(self) -> None:
        """Drop what the store can tell again (markers outside searched seconds): called
        once the articles of a batch are stored, so memory stays bounded. The markers of
        searched seconds stay, however many: reading them again would cost more."""
        for marker in self._recent:
            if _second(marker) not in self.searched:
                self.taken.discard(marker)
        self._recent = []
        self._skip = {k: v for k, v in self._skip.items() if k in self.searched}


def _second(moment: datetime) -> datetime:
    """The whole second `moment` falls in."""
    return moment.replace(microsecond=0)


def differs(article: Prepared, old: Stored, restore: bool = False) -> bool:
    """Whether the file changes the stored article. A withdrawn article comes back when its
    file does: after `--sync` withdrew it (its file was gone), on any import; after
    `feeds delete` (its file stayed), only once the file has changed; through the API
    (`restore`), always."""
    if old.withdrawn is not None and (restore or old.withdrawn_by == "sync"):
        return True
    return (old.content_hash, old.section) != (article.content_hash, article.section)


@dataclass(frozen=True)
class Decision:
    """What the rules make of a batch of articles against what is stored."""

    articles: list[Prepared]
    stored: dict[str, Stored]
    added: list[Prepared]
    changed: list[Prepared]

    @property
    def outcomes(self) -> list[Outcome]:
        added, changed = {a.id for a in self.added}, {a.id for a in self.changed}
        return [
            Outcome(a.id, ADDED if a.id in added else UPDATED if a.id in changed else UNCHANGED)
            for a in self.articles
        ]


def decide(db: Reader, articles: list[Prepared], restore: bool = False) -> Decision:
    """Which articles are new, changed or unchanged; stores nothing (a dry run stops here)."""
    stored = db.stored([a.id for a in articles])
    changed = [a for a in articles if a.id in stored and differs(a, stored[a.id], restore)]
    added = [a for a in articles if a.id not in stored]
    return Decision(articles, stored, added, changed)


@dataclass(frozen=True)
class Change:
    """When and by whom a batch is stored."""

    now: datetime  # the import's time, whole seconds
    tag_authority: str
    floor: datetime | None  # the latest `modified` stored before the import began
    markers: Markers
    locate: Callable[[str], str | None]  # where an id's file was found (None: the API)


def apply(
    writer: Writer, articles: list[Prepared], change: Change, restore: bool = False
) -> list[Outcome]:
    """Store `articles` by the rules inside `writer`'s transaction; what happened to each."""
    decision = decide(writer, articles, restore)
    store(writer, decision, change)
    return decision.outcomes


def store(writer: Writer, decision: Decision, change: Change) -> None:
    """Store what `decision` found new or changed."""
    now, stored, markers = change.now, decision.stored, change.markers
    # Changes are numbered in the order the articles came (files in path order), so an import
    # stores the same numbers however it is cut into batches.
    touched = {a.id for a in decision.changed} | {a.id for a in decision.added}
    numbers = {a.id: writer.number(CHANGES) for a in decision.articles if a.id in touched}
    wanted = {a.id: _next_marker(a, stored[a.id], now) for a in decision.changed}
    markers.reserve([*wanted.values(), *(a.updated for a in decision.added)])
    for article in decision.changed:
        old = stored[article.id]
        writer.update(
            article.id,
            {
                "revision": old.revision + 1,
                "updated": markers.unique(wanted[article.id]),
                "modified": max(now, article.published),
                "change_seq": numbers[article.id],
                "withdrawn": None,  # a withdrawn article whose file comes back is restored
                "source_path": change.locate(article.id),
                **article.fields,
            },
        )
        markers.release(old.updated)
        slugs = writer.set_authors(article.id, article.authors)
        entered = _entered(article, change)
        writer.replace(article.id, article.section, slugs, now, entered)
        if (old.published, old.section) != (article.published, article.section):
            writer.record_departure(article.id, old.published, old.section, now)
    day = now.date().isoformat()
    entering = []
    for a in decision.added:
        slugs = writer.set_authors(a.id, a.authors) if a.authors else []
        entering.append((_entered(a, change), a.id, a.section, slugs))
    writer.insert(
        [
            {
                **_new_row(a, f"tag:{change.tag_authority},{day}:{a.id}", markers, change),
                "source_path": change.locate(a.id),
                "change_seq": numbers[a.id],
            }
            for a in decision.added
        ]
    )
    writer.place(entering)  # in the order the articles came, like their changes


def _entered(article: Prepared, change: Change) -> datetime:
    """When a new placement of the article enters its archives: its published time when that
    is later than anything stored (so a store filled at once keeps its articles' months),
    else the time of the change. Either is no earlier than any placement a reader can have
    seen (times are whole seconds; placements that enter in the same second keep the order
    they were made in)."""
    floor = change.floor
    if floor is None or article.published > floor:
        return article.published
    return max(change.now, article.published)


def _new_row(article: Prepared, tag: str, markers: Markers, change: Change) -> dict[str, Any]:
    marker = markers.unique(article.updated)
    now, floor = change.now, change.floor
    # Last-Modified must move for every document the article enters: a back-dated article
    # takes the import time rather than its own, older, update marker.
    # An embargoed article changes its documents when it appears: at its published time.
    modified = marker if floor is None or marker > floor else now
    modified = max(min(modified, now), article.published)
    return {
        "id": article.id,
        "tag": tag,
        "first_stored": now,
        "revision": 1,
        "updated": marker,
        "modified": modified,
        **article.fields,
    }


def _next_marker(article: Prepared, old: Stored, now: datetime) -> datetime:
    """The file's Updated: time when later than the stored marker, else the import time
    (never before the published time)."""
    if article.updated > old.updated:
        return article.updated
    return max(now, article.published)
