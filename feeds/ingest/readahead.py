"""Reading and parsing article files ahead of the process that stores them.

From a few thousand files on, helper processes (spawned, so that they inherit nothing and
import only the parser) read and parse the files in chunks, a bounded number of chunks
ahead of the one being handed over; only what storing needs comes back (rules.Prepared).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

from feeds.errors import HelperFailed, InvalidArticle

from .files import Source
from .rules import Prepared, prepare
from .textfile import MAX_ARTICLE_BYTES, parse_article

Parsed = tuple[bool, Prepared | InvalidArticle]  # (the file could be read, result)


def read_and_parse(source: Source, zone: ZoneInfo, not_after: datetime) -> Parsed:
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


def _here(sources: list[Source], zone: ZoneInfo, not_after: datetime) -> Iterator[Parsed]:
    """Each source read and parsed, in order, as it is asked for."""
    for source in sources:
        yield read_and_parse(source, zone, not_after)


def _chunk(sources: list[Source], zone: ZoneInfo, not_after: datetime) -> list[Parsed]:
    """What a helper process does: read and prepare each file of a chunk."""
    return [read_and_parse(source, zone, not_after) for source in sources]


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
def read_ahead(
    sources: list[Source],
    zone: ZoneInfo,
    not_after: datetime,
    *,
    helpers: int,
    chunk: int,
    ahead: int,
) -> Iterator[Iterator[Parsed]]:
    """Each source read and parsed, in order: by `helpers` processes, `chunk` files at a
    time and `ahead` chunks ahead of what is asked for; here, as asked for, when `helpers`
    is 0. Raises HelperFailed when a helper stops."""
    if not helpers:
        yield _here(sources, zone, not_after)
        return
    context = multiprocessing.get_context("spawn")  # nothing of this process is inherited
    pool = ProcessPoolExecutor(helpers, mp_context=context, initializer=_ignore_interrupts)
    chunks = (sources[i : i + chunk] for i in range(0, len(sources), chunk))

    def results() -> Iterator[Parsed]:
        pending: deque[Future[list[Parsed]]] = deque()
        try:
            for part in itertools.islice(chunks, ahead):
                pending.append(pool.submit(_chunk, part, zone, not_after))
            while pending:
                done = pending.popleft().result()
                for part in itertools.islice(chunks, 1):
                    pending.append(pool.submit(_chunk, part, zone, not_after))
                yield from done
        except BrokenProcessPool as e:
            raise HelperFailed(
                "a helper process reading the files stopped unexpectedly (killed, or out "
                "of memory?); run the import again"
            ) from e

    try:
        yield results()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
