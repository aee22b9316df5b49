"""Running the hub worker as a process: one per SQLite store (a lock file says so), any
number on PostgreSQL; SIGTERM and SIGINT stop it once the requests under way are answered;
it logs to stderr what it could not do."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from flask import Flask

from feeds.errors import FeedsError
from feeds.store.engine import sqlite_path
from feeds.web.service import Service

from .worker import Counts, Worker, parent_alive

LOCK_POLL_S = 0.2
STOPPING_S = 10.0  # beyond FEEDS_HUB_TIMEOUT: a step under way, the last records


@contextmanager
def only_worker(url: str, wait: float = 0.0) -> Iterator[None]:
    """On SQLite, hold the lock file beside the database that lets one hub worker run (the
    lock goes with the process, however it ends), waiting up to `wait` seconds for another
    worker to let it go; elsewhere, nothing."""
    path = sqlite_path(url)
    if path is None:
        yield
        return
    lock_path = path + ".hub-lock"
    handle: IO[str] = open(lock_path, "a+")  # noqa: SIM115 - held until the worker stops
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if time.monotonic() < deadline:
                    time.sleep(LOCK_POLL_S)
                    continue
                raise FeedsError(
                    f"another hub worker runs for the SQLite store {path} (it holds "
                    f"{lock_path}); a SQLite store has one: stop that one, or run `feeds serve "
                    "--no-hub`, or use PostgreSQL for several"
                ) from e
        yield
    finally:
        handle.close()


def run(app: Flask, parent: int | None = None) -> Counts:
    """Run a worker until SIGTERM or SIGINT (or, with `parent`, until that process ends)."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    svc = Service.of(app)
    store = svc.store
    # Beside `feeds serve`, the worker of a server that was killed may still be finishing
    # its requests (its parent gone, it stops within FEEDS_HUB_TIMEOUT): wait for it.
    wait = svc.settings.hub_timeout + STOPPING_S if parent else 0.0
    with only_worker(store.url, wait):
        worker = Worker(app, parent_alive(parent) if parent else None)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for number in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(number, stop.set)
            await worker.run(stop)

        asyncio.run(main())
    store.close()
    return worker.counts


def pid() -> int:
    return os.getpid()
