"""An import: article files in, one store transaction out.

Every file is read and parsed (by helper processes, for large imports: readahead.py), the bad
ones are rejected one by one, and the rest are stored by the update rules (rules.py) in one
transaction, BATCH files at a time so that memory stays bounded however many there are. With
`--sync`, the articles whose files are gone are withdrawn too, unless that would be more than
half of the store.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from feeds import metrics
from feeds.config import Settings
from feeds.errors import ImportStopped, InvalidArticle, StoreError, SyncRefused
from feeds.store import Reader, Store, Writer
from feeds.text import ID_PATTERN

from . import limits, rules
from .files import Source, collect, is_utf8
from .readahead import Parsed, helper_count, read_ahead
from .rules import ADDED, UPDATED, Change, Markers, Prepared

# Clocks differ a little; beyond this a dateline is in the future (feed validators allow ten
# minutes before they call a date implausible).
FUTURE_TOLERANCE = timedelta(minutes=10)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tuning:
    """How an import reads: files stored at a time, and from how many files on (and how)
    helper processes read ahead."""

    batch: int = 2000  # files read and stored at a time, within the one transaction
    # Starting a helper costs about as much as parsing a few thousand files.
    helpers_from: int = 5000
    chunk: int = 250  # files a helper reads and parses in one go
    helpers: int | None = None  # None: helper_count()
    ahead: int | None = None  # chunks asked for ahead; None: a batch's worth

    def helpers_for(self, files: int) -> int:
        if files < self.helpers_from:
            return 0
        return helper_count() if self.helpers is None else self.helpers


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[InvalidArticle] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    sync: bool = False

    def count(self, outcomes: Iterable[rules.Outcome]) -> None:
        for outcome in outcomes:
            if outcome.result == ADDED:
                self.added += 1
            elif outcome.result == UPDATED:
                self.updated += 1
            else:
                self.unchanged += 1

    def summary(self) -> str:
        counts = (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{len(self.rejected)} rejected"
        )
        return counts + (f", {len(self.withdrawn)} withdrawn" if self.sync else "")


class ImportRun:
    """One import inside one transaction: its time, where each id's file was found, the
    markers handed out, and the report."""

    def __init__(self, db: Reader, settings: Settings, now: datetime, report: ImportReport):
        self.db = db
        self.now = now
        self.report = report
        self.origins: dict[str, Source] = {}  # id -> the file it came from, in this import
        self.stored_before = db.count_current()  # what the --sync guard counts against
        self.change = Change(
            now=now,
            tag_authority=settings.tag_authority,
            floor=db.latest_modified(),
            markers=Markers(db),
            locate=self._location,
        )

    def _location(self, article_id: str) -> str | None:
        source = self.origins.get(article_id)
        return None if source is None else source.resolved()

    def take(
        self,
        sources: list[Source],
        parsed: Iterable[Parsed],
        progress: Callable[[], None] | None = None,
    ) -> None:
        """Identify, decide and (unless a dry run) store one batch."""
        articles = self._identify(sources, parsed, progress)
        if isinstance(self.db, Writer):
            self.report.count(rules.apply(self.db, articles, self.change))
            self.change.markers.forget_stored()
        else:
            self.report.count(rules.decide(self.db, articles).outcomes)

    def _identify(
        self,
        sources: list[Source],
        parsed: Iterable[Parsed],
        progress: Callable[[], None] | None,
    ) -> list[Prepared]:
        """The articles of `sources`, given what reading and parsing each gave (in the same
        order). An id found earlier in this import rejects the later file; a file that could
        not be read takes no id."""
        articles: list[Prepared] = []
        for source, (was_read, result) in zip(sources, parsed, strict=True):
            try:
                self._check_name(source)
                if was_read:
                    self.origins[source.stem] = source
                if isinstance(result, InvalidArticle):
                    raise result
                articles.append(result)
            except InvalidArticle as e:
                self.report.rejected.append(e)
            if progress:
                progress()
        return articles

    def _check_name(self, source: Source) -> None:
        if source.section is not None and not ID_PATTERN.match(source.section):
            raise InvalidArticle(
                source.name,
                f"the folder name {source.section!r} cannot be a "
                "section; use only letters, digits, '.', '_', '~' and '-'",
            )
        if source.section is not None and (
            problem := limits.identifier(source.section, "a section's name")
        ):
            raise InvalidArticle(source.name, f"the folder name {problem}")
        if source.stem in self.origins:
            raise InvalidArticle(
                source.name,
                f"id {source.stem!r} is already taken by "
                f"{self.origins[source.stem].name} in this import; rename one file",
            )

    def sync(self, roots: Iterable[Path], force: bool) -> None:
        """Withdraw every article whose file was found below a folder in `roots` and is
        there no longer (a folder that is gone altogether counts as empty); refuse to
        withdraw more than half of the articles stored before this import unless `force`."""
        gone: set[str] = set()
        for root in roots:
            if root.is_file() or not is_utf8(str(root.resolve())):  # none stored below it
                continue
            below = set(self.db.stored_under(str(root.resolve())))
            if below and not root.exists():  # a removed folder: its articles go, no error
                self.report.rejected = [e for e in self.report.rejected if e.path != str(root)]
            gone |= below - set(self.origins)
        total = self.stored_before  # articles this import adds do not dilute the guard
        if len(gone) * 2 > total and not force:
            raise SyncRefused(
                f"--sync would withdraw {len(gone)} of the {total} stored articles, more "
                "than half; check the path, or pass --force to withdraw them"
            )
        self.report.withdrawn = sorted(gone)
        if isinstance(self.db, Writer):
            for article_id in self.report.withdrawn:
                self.db.withdraw(article_id, self.now, "sync")


def import_sources(
    store: Store,
    settings: Settings,
    sources: list[Source],
    missing: list[InvalidArticle],
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    sync: Iterable[Path] = (),
    force: bool = False,
    progress: Callable[[], None] | None = None,
    tuning: Tuning = Tuning(),
    stop: Callable[[], str | None] = lambda: None,
) -> ImportReport:
    """Import collected files in one transaction; report what happened. With `sync` folders,
    also withdraw the articles whose files are gone from them (raises SyncRefused). Raises
    HelperFailed when a helper process stops, and ImportStopped when `stop`, asked after
    each file and before the commit, gives a reason; then nothing is stored."""

    def check() -> None:
        if reason := stop():
            raise ImportStopped(reason)

    def step() -> None:
        check()
        if progress:
            progress()

    moment = (now or settings.now()).astimezone(UTC).replace(microsecond=0)
    report = ImportReport(rejected=list(missing), sync=bool(sync))
    reading = read_ahead(
        sources,
        settings.zone,
        moment + FUTURE_TOLERANCE,
        helpers=tuning.helpers_for(len(sources)),
        chunk=tuning.chunk,
        ahead=tuning.ahead or max(1, tuning.batch // tuning.chunk),
    )
    bulk = len(sources) > tuning.batch
    started = time.perf_counter()
    try:
        with reading as parsed, store.read() if dry_run else store.write(bulk) as db:
            run = ImportRun(db, settings, moment, report)
            for start in range(0, len(sources), tuning.batch):
                batch = sources[start : start + tuning.batch]
                run.take(batch, itertools.islice(parsed, len(batch)), step)
            if sync:
                run.sync(sync, force)
            check()  # the last moment to stop: the commit is next
            if isinstance(db, Writer):  # counted in the transaction that stores the import
                seconds = time.perf_counter() - started
                db.add_import_figures(metrics.import_figures("stored", _outcomes(report), seconds))
    except BaseException:
        _counted_apart(store, "failed")
        raise
    if dry_run:
        _counted_apart(store, "dry_run")
    return report


def _outcomes(report: ImportReport) -> dict[str, int]:
    return {
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "rejected": len(report.rejected),
        "withdrawn": len(report.withdrawn),
    }


def _counted_apart(store: Store, result: str) -> None:
    """Count a run that stored nothing, in a small transaction of its own. A store that
    cannot take it (perhaps why the run failed) loses the count, never the run's outcome."""
    try:
        with store.write() as writer:
            writer.add_import_figures(metrics.import_figures(result))
    except StoreError as e:
        log.warning("the import's figures are not kept: %s", e)


def import_paths(
    store: Store, settings: Settings, paths: Iterable[Path], **options: Any
) -> ImportReport:
    """Import every article file under `paths` (see import_sources for the options)."""
    sources, missing = collect(paths, Path(settings.content))
    return import_sources(store, settings, sources, missing, **options)
