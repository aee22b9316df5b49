"""Article files in, one store transaction out.

`import_paths` reads every file, rejects the bad ones one by one, and stores the rest in one
transaction, following the update rules: an unchanged article is left alone; a changed one keeps
its id and gets a later update marker.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from feeds.config import Settings
from feeds.errors import FeedsError, InvalidArticle
from feeds.model import ParsedArticle
from feeds.store.database import Reader, Store, Stored, Writer
from feeds.text import ID_PATTERN

from .textfile import MAX_ARTICLE_BYTES, parse_article

# Clocks differ a little; beyond this a dateline is in the future (feed validators allow ten
# minutes before they call a date implausible).
FUTURE_TOLERANCE = timedelta(minutes=10)
# Files read and stored at a time within an import's one transaction.
BATCH = 2000
# From this many files on, helper processes read and parse them while this one stores:
# starting a helper costs about as much as parsing a few thousand files.
HELPERS_FROM = 5000
# Files a helper reads and parses in one go, and how many such chunks are asked for ahead
# of the one being handed over (memory stays bounded: about two batches' worth of articles).
CHUNK = 250
AHEAD = BATCH // CHUNK


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[InvalidArticle] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    sync: bool = False

    def summary(self) -> str:
        counts = (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{len(self.rejected)} rejected"
        )
        return counts + (f", {len(self.withdrawn)} withdrawn" if self.sync else "")


class SyncRefused(FeedsError):
    """`--sync` would withdraw more than half of the store."""


class HelperFailed(FeedsError):
    """A helper process reading the files of a large import stopped (it was killed, or ran
    out of memory)."""


@dataclass(frozen=True)
class Source:
    """One file to read (its path as found, which messages show), the section it belongs to,
    and where it is (resolved)."""

    name: str
    section: str | None
    location: str = ""

    @property
    def stem(self) -> str:
        """The file name without its extension, as pathlib has it: the article's id."""
        name = os.path.basename(self.name)
        dot = name.rfind(".")
        return name[:dot] if 0 < dot < len(name) - 1 else name

    def resolved(self) -> str:
        return self.location or os.path.realpath(self.name)


def _section(parts: tuple[str, ...]) -> str | None:
    """The first folder of a file's path below its base: the content root when the file is
    inside it (so that an article keeps its section whichever file or folder is imported),
    else the folder named."""
    return parts[0] if len(parts) > 1 else None


def _below(path: Path, base: Path) -> tuple[str, ...] | None:
    return path.relative_to(base).parts if path.is_relative_to(base) else None


def _article_files(
    folder: str, errors: list[InvalidArticle], above: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """The path parts, below `folder`, of every `*.txt` file in it and its sub-folders,
    hidden ones and linked folders left out; a folder that cannot be read is reported."""
    try:
        with os.scandir(folder) as scan:
            entries = list(scan)
    except OSError as e:
        errors.append(InvalidArticle(folder, f"cannot be read ({e.strerror}); check it"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):  # linked folders are not walked into
            yield from _article_files(entry.path, errors, (*above, entry.name))
        elif entry.name.endswith(".txt") and entry.is_file():
            yield (*above, entry.name)


def collect(paths: Iterable[Path], content_root: Path) -> tuple[list[Source], list[InvalidArticle]]:
    """Files named directly and `*.txt` files below folders named, in a stable order (hidden
    files and folders are skipped), each with its section."""
    sources: list[Source] = []
    errors: list[InvalidArticle] = []
    top = content_root.resolve()
    for root in paths:
        if root.is_file():
            resolved = root.resolve()
            parts = _below(resolved, top) or _below(resolved, root.parent.resolve()) or ()
            sources.append(Source(str(root), _section(parts), str(resolved)))
        elif root.is_dir():
            base = root.resolve()
            prefix = _below(base, top)  # None: outside the content root
            found = "" if str(root) == "." else str(root)  # as pathlib writes it
            for relative in sorted(_article_files(str(root), errors)):
                parts = relative if prefix is None else prefix + relative
                location = os.path.join(base, *relative)
                name = os.path.join(found, *relative)
                sources.append(Source(name, _section(parts), location))
        else:
            errors.append(InvalidArticle(str(root), "no such file or folder"))
    return sources, errors


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
        },
    )


Outcome = tuple[bool, Prepared | InvalidArticle]  # (the file could be read, result)


def _read_and_parse(source: Source, zone: ZoneInfo, not_after: datetime) -> Outcome:
    name = source.name
    try:
        with open(name, "rb") as file:
            data = file.read(MAX_ARTICLE_BYTES + 1)
    except OSError as e:
        return False, InvalidArticle(name, f"cannot be read ({e.strerror})")
    try:
        article = parse_article(data, name, source.stem, source.section, zone, not_after)
    except InvalidArticle as e:
        return True, e
    return True, prepare(article)


def _outcomes(sources: list[Source], zone: ZoneInfo, not_after: datetime) -> Iterator[Outcome]:
    """Each source read and parsed, in order, as it is asked for."""
    for source in sources:
        yield _read_and_parse(source, zone, not_after)


def _chunk(sources: list[Source], zone: ZoneInfo, not_after: datetime) -> list[Outcome]:
    """What a helper process does: read and prepare each file of a chunk."""
    return [_read_and_parse(source, zone, not_after) for source in sources]


def _ignore_interrupts() -> None:
    """In a helper: Ctrl-C is for the importing process, which stops the helpers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def helper_count() -> int:
    """Helper processes for a large import: one per processor, at most four; none on a
    single processor. Storing waits on the disk often enough that the processor it runs
    on is shared with a helper."""
    try:
        processors = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        processors = os.cpu_count() or 1
    return min(processors, 4) if processors > 1 else 0


@contextmanager
def _read_ahead(
    sources: list[Source], zone: ZoneInfo, not_after: datetime
) -> Iterator[Iterator[Outcome]]:
    """Each source read and parsed, in order: by helper processes, ahead of what is asked
    for, when there are many files and processors to spare; else here, as asked for."""
    helpers = helper_count() if len(sources) >= HELPERS_FROM else 0
    if not helpers:
        yield _outcomes(sources, zone, not_after)
        return
    context = multiprocessing.get_context("spawn")  # nothing of this process is inherited
    pool = ProcessPoolExecutor(helpers, mp_context=context, initializer=_ignore_interrupts)
    chunks = (sources[i : i + CHUNK] for i in range(0, len(sources), CHUNK))

    def outcomes() -> Iterator[Outcome]:
        pending: deque[Future[list[Outcome]]] = deque()
        try:
            for chunk in itertools.islice(chunks, AHEAD):
                pending.append(pool.submit(_chunk, chunk, zone, not_after))
            while pending:
                done = pending.popleft().result()
                for chunk in itertools.islice(chunks, 1):
                    pending.append(pool.submit(_chunk, chunk, zone, not_after))
                yield from done
        except BrokenProcessPool as e:
            raise HelperFailed(
                "a helper process reading the files stopped unexpectedly (killed, or out "
                "of memory?); run the import again"
            ) from e

    try:
        yield outcomes()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def parse_sources(
    sources: list[Source],
    outcomes: Iterable[Outcome],
    origin: dict[str, Source],
    progress: Callable[[], None] | None = None,
) -> tuple[list[Prepared], list[InvalidArticle]]:
    """The articles of `sources`, given what reading and parsing each gave (`outcomes`, in
    the same order). An id already in `origin` (found earlier in this import) rejects the
    later file. Adds where each id was found to `origin`, rejected files included."""
    parsed: list[Prepared] = []
    errors: list[InvalidArticle] = []
    for source, (was_read, result) in zip(sources, outcomes, strict=True):
        name = source.name
        try:
            if source.section is not None and not ID_PATTERN.match(source.section):
                raise InvalidArticle(
                    name,
                    f"the folder name {source.section!r} cannot be a "
                    "section; use only letters, digits, '.', '_', '~' and '-'",
                )
            article_id = source.stem
            if article_id in origin:
                raise InvalidArticle(
                    name,
                    f"id {article_id!r} is already taken by "
                    f"{origin[article_id].name} in this import; rename one file",
                )
            if was_read:  # a file that cannot be read takes no id
                origin[article_id] = source
            if isinstance(result, InvalidArticle):
                raise result
            parsed.append(result)
        except InvalidArticle as e:
            errors.append(e)
        if progress:
            progress()
    return parsed, errors


class Markers:
    """Hands out update markers no other article has: Atom readers and validators take two
    entries with one `updated` value for two versions of one entry. A taken instant moves
    on by a microsecond, so the marker stays right to the second."""

    def __init__(self, db: Reader, wanted: Iterable[datetime]) -> None:
        self.db = db
        self.taken = db.taken_markers(wanted)

    def unique(self, moment: datetime) -> datetime:
        while moment in self.taken:
            moment += timedelta(microseconds=1)
            self.taken |= self.db.taken_markers([moment])
        self.taken.add(moment)
        return moment


def _json_list(items: tuple[str, ...]) -> str:
    return json.dumps(list(items), ensure_ascii=False) if items else "[]"


def _new_row(
    article: Prepared, tag: str, marker: datetime, now: datetime, floor: datetime | None
) -> dict[str, Any]:
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


def _apply(
    db: Reader,
    articles: list[Prepared],
    origins: dict[str, Source],
    settings: Settings,
    now: datetime,
    report: ImportReport,
    restore: bool = False,
    floor: datetime | None = None,
) -> None:
    """Decide what each article is; when `db` is a Writer, store it. `floor`: the latest
    `modified` stored before the import began."""
    writer = db if isinstance(db, Writer) else None
    stored = db.stored([a.id for a in articles])
    changed = [a for a in articles if a.id in stored and _differs(a, stored[a.id], restore)]
    added = [a for a in articles if a.id not in stored]
    report.added += len(added)
    report.updated += len(changed)
    report.unchanged += len(articles) - len(added) - len(changed)
    if writer is None:
        return
    wanted = {a.id: _next_marker(a, stored[a.id], now) for a in changed}
    markers = Markers(db, [*wanted.values(), *(a.updated for a in added)])
    for article in changed:
        old = stored[article.id]
        writer.update(
            article.id,
            {
                "revision": old.revision + 1,
                "updated": markers.unique(wanted[article.id]),
                "modified": max(now, article.published),
                "withdrawn": None,  # a withdrawn article whose file comes back is restored
                "source_path": _source(origins, article.id),
                **article.fields,
            },
        )
        writer.set_authors(article.id, article.authors)
        if (old.published, old.section) != (article.published, article.section):
            writer.record_departure(article.id, old.published, old.section, now)
    day = now.date().isoformat()
    for a in added:
        if a.authors:
            writer.set_authors(a.id, a.authors)
    writer.insert(
        [
            {
                **_new_row(
                    a,
                    f"tag:{settings.tag_authority},{day}:{a.id}",
                    markers.unique(a.updated),
                    now,
                    floor,
                ),
                "source_path": _source(origins, a.id),
            }
            for a in added
        ]
    )


def _source(origins: dict[str, Source], article_id: str) -> str | None:
    """Where the article's file is; None for articles that came through the API."""
    source = origins.get(article_id)
    return None if source is None else source.resolved()


def store_article(writer: Writer, settings: Settings, article: ParsedArticle, now: datetime) -> str:
    """Store one article by the import rules inside `writer`'s transaction (a withdrawn one
    is restored: a PUT says so explicitly); returns "added", "updated" or "unchanged"."""
    report = ImportReport()
    floor = writer.latest_modified()
    _apply(writer, [prepare(article)], {}, settings, now, report, restore=True, floor=floor)
    return "added" if report.added else "updated" if report.updated else "unchanged"


def _differs(article: Prepared, old: Stored, restore: bool = False) -> bool:
    """Whether the file changes the stored article. A withdrawn article comes back when its
    file does: after `--sync` withdrew it (its file was gone), on any import; after
    `feeds delete` (its file stayed), only once the file has changed."""
    if old.withdrawn is not None and (restore or old.withdrawn_by == "sync"):
        return True
    return (old.content_hash, old.section) != (article.content_hash, article.section)


def _sync(
    db: Reader,
    roots: Iterable[Path],
    origins: dict[str, Source],
    now: datetime,
    force: bool,
    stored_before: int,
    report: ImportReport,
) -> None:
    """Withdraw every article whose file was found below a folder in `roots` and is there no
    longer (a folder that is gone altogether counts as empty); refuse to withdraw more than
    half of the articles stored before this import unless `force`."""
    gone: set[str] = set()
    for root in roots:
        if root.is_file():
            continue
        below = set(db.stored_under(str(root.resolve())))
        if below and not root.exists():  # a removed folder: its articles go, no error
            report.rejected = [e for e in report.rejected if e.path != str(root)]
        gone |= below - set(origins)
    total = stored_before  # articles this import adds do not dilute the guard
    if len(gone) * 2 > total and not force:
        raise SyncRefused(
            f"--sync would withdraw {len(gone)} of the {total} stored articles, more than "
            "half; check the path, or pass --force to withdraw them"
        )
    report.withdrawn = sorted(gone)
    if isinstance(db, Writer):
        for article_id in report.withdrawn:
            db.withdraw(article_id, now, "sync")


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
) -> ImportReport:
    """Import collected files in one transaction; report what happened. With `sync` folders,
    also withdraw the articles whose files are gone from them (raises SyncRefused). Files are
    read and stored BATCH at a time, so memory stays bounded however many there are."""
    moment = (now or settings.now()).astimezone(UTC).replace(microsecond=0)
    report = ImportReport(rejected=list(missing), sync=bool(sync))
    origins: dict[str, Source] = {}
    reading = _read_ahead(sources, settings.zone, moment + FUTURE_TOLERANCE)
    bulk = len(sources) > BATCH
    with reading as outcomes, store.read() if dry_run else store.write(bulk) as db:
        stored_before = db.count_current()
        floor = db.latest_modified()
        for start in range(0, len(sources), BATCH):
            batch = sources[start : start + BATCH]
            found = itertools.islice(outcomes, len(batch))
            articles, rejected = parse_sources(batch, found, origins, progress)
            report.rejected += rejected
            _apply(db, articles, origins, settings, moment, report, floor=floor)
        if sync:
            _sync(db, sync, origins, moment, force, stored_before, report)
    return report


def import_paths(
    store: Store, settings: Settings, paths: Iterable[Path], **options: Any
) -> ImportReport:
    """Import every article file under `paths` (see import_sources for the options)."""
    sources, missing = collect(paths, Path(settings.content))
    return import_sources(store, settings, sources, missing, **options)
