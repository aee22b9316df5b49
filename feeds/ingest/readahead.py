"""Reading and parsing article files ahead of the process that stores them.

From a few thousand files on, helper processes (spawned, so that they inherit nothing and
import only the parser) read and parse the files in chunks, a bounded number of chunks
ahead of the one being handed over; only what storing needs comes back (rules.Prepared).
The helpers end with the importing process, however it ends, and write nowhere.
"""

from __future__ import annotations

import ctypes
import itertools
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from datetime import datetime
from multiprocessing import resource_tracker
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


def _start_helper() -> None:
    """In a helper, before its first chunk: it lives no longer than the importing process,
    and holds none of its terminal or pipes.

    Ctrl-C and SIGTERM (which a terminal, `timeout` or a service manager send to the whole
    process group) are for the importing process, which stops the helpers itself. Should it
    die without doing so (`kill -9`), a thread here sees the pipe that multiprocessing keeps
    open from it close, and ends the helper at once; on Linux the kernel also kills the
    helper when its parent dies (PR_SET_PDEATHSIG), even one stuck in a system call.
    Standard output and error go to /dev/null, so that a reader of the importing process's
    output (`feeds import | tail`) never waits on a helper; a helper's errors reach the
    importing process as results or as a broken pool, never as text."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent()
    parent = multiprocessing.parent_process()
    if parent is not None and parent.sentinel is not None:
        threading.Thread(target=_exit_when_closed, args=(parent.sentinel,), daemon=True).start()
    nowhere = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(nowhere, fd)
    if nowhere > 2:
        os.close(nowhere)


def _exit_when_closed(sentinel: int) -> None:
    """Wait until the importing process has gone, then end this helper without cleaning up:
    whatever it was reading for is lost with that process's transaction."""
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


@contextmanager
def _output_nowhere() -> Iterator[None]:
    """Inside, this process's standard output and error (those that are open) write to
    /dev/null; after, they are as they were. For starting a process that must not hold
    them."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    kept = {}
    for fd in (1, 2):
        try:
            kept[fd] = os.dup(fd)
        except OSError:  # closed: it stays so
            pass
    nowhere = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in kept:
            os.dup2(nowhere, fd)
        yield
    finally:
        for fd, copy in kept.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(nowhere)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent() -> None:
    """On Linux, ask the kernel to kill this process when its parent dies (strictly, the
    thread that started it: the pool starts its helpers in the thread that submits the
    first chunk, the import's own)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no C library to ask: the thread alone watches
        pass


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
    # multiprocessing's resource tracker, a process that frees the helpers' queues should
    # this one die, started here with no output: after a `kill -9` it would warn about them
    # on this process's stderr, and hold its output open until it had.
    with _output_nowhere():
        resource_tracker.ensure_running()  # does nothing if it runs already
    pool = ProcessPoolExecutor(helpers, mp_context=context, initializer=_start_helper)
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
            _kill_helpers(pool)
            raise HelperFailed(
                "a helper process reading the files stopped unexpectedly (killed, or out "
                "of memory?); run the import again"
            ) from e

    try:
        yield results()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _kill_helpers(pool: ProcessPoolExecutor) -> None:
    """Kill the helpers left once one has stopped: the pool ends them with SIGTERM, which
    they ignore (see _start_helper), and would then wait for them for ever."""
    processes = getattr(pool, "_processes", None) or {}  # the pool's own, by pid
    for process in list(processes.values()):
        process.kill()
