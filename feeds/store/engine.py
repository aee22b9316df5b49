"""Engines and their dialect hooks, and the one place database errors become the service's.

Three kinds of transaction, chosen by the execution option `feeds_write`:

- reads (unset): SQLite `BEGIN`; PostgreSQL REPEATABLE READ, one snapshot per request;
- writers ("wait"): SQLite `BEGIN IMMEDIATE`, waiting up to its busy timeout; PostgreSQL an
  advisory lock first, then READ COMMITTED (see `_lock`);
- recorders ("record"): what requests that only read keep (validators first served, partner
  polls). They never wait for a writer: SQLite gives up after RECORD_WAIT_MS, PostgreSQL
  takes a lock of their own that writers never hold. On SQLite their commits never
  checkpoint the write-ahead log either (after a large import that copies hundreds of MB):
  writers' commits do.

A connection that met a fault (`fault`: SQLite's read-only, I/O, corruption or full-disk
errors; PostgreSQL's lost connections and read-only transactions) is treated as a lost
connection: it and every connection pooled before it are replaced, so the store recovers
when the database does, without a restart. On SQLite that is not enough (see `Renewal`):
once the file can be written again, every connection of the process is replaced.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from feeds.errors import NoSchema, StoreBusy, StoreUnavailable, StoreUnwritable

BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for the writers' lock, on both databases
# How long a recorder may wait for another recorder (each holds the lock for well under a
# millisecond); a writer holds it far longer, and is not waited for.
RECORD_WAIT_MS = 20
WRITERS_LOCK = 7260517  # PostgreSQL advisory lock keys
RECORDERS_LOCK = 7260518
HUB_LOCK = 7260519  # the hub dispatcher (Store.hub_dispatch)
# SQLite primary result codes (sqlite3 errors carry them as sqlite_errorcode).
SQLITE_BUSY, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CORRUPT = 5, 8, 10, 11
SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 13, 14, 26
_SQLITE_FAULTS = {SQLITE_READONLY, SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL}
_SQLITE_FAULTS |= {SQLITE_CANTOPEN, SQLITE_NOTADB}
# SQLITE_IOERR's extended codes for a failed write, fsync or truncation of the file or log.
_SQLITE_WRITE_ERRORS = {SQLITE_IOERR | (sub << 8) for sub in (3, 4, 5, 6)}
# PostgreSQL SQLSTATEs: read_only_sql_transaction, disk_full, lock_not_available.
PG_READ_ONLY, PG_DISK_FULL, PG_LOCK_REFUSED = "25006", "53100", "55P03"


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL; None for another database or an in-memory one."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


def writable(path: str) -> bool:
    """Whether this process may open `path` for writing now (permissions, the immutable
    flag, a read-only mount): a SQLite connection opened when it may not is read-only."""
    return os.access(path, os.W_OK, effective_ids=os.access in os.supports_effective_ids)


def sqlite_unwritable(path: str) -> str | None:
    """Why SQLite cannot write the database at `path` now, if it cannot: its file or its
    write-ahead log may not be opened for writing, or its disk has no block left for this
    process. A few system calls: no lock, no I/O."""
    for name in (path, f"{path}-wal"):
        if os.path.exists(name) and not writable(name):
            return f"{name} is read-only"
    disk = os.statvfs(os.path.dirname(os.path.abspath(path)))
    free = disk.f_bfree if os.geteuid() == 0 else disk.f_bavail  # root may use the reserve
    return None if free else f"the disk of {path} is full"


def _sqlite_code(error: BaseException | None) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def fault(error: BaseException) -> bool:
    """Whether a driver error means the connection may stay unusable once the database is
    well again: SQLite's read-only, I/O, corruption, full-disk, cannot-open and
    not-a-database errors (a connection opened read-only stays so; one that met an I/O error
    may keep stale state); PostgreSQL's lost connections (class 08, and 57P01-57P03: the
    server terminated the connection, crashed, or is starting) and read-only transactions
    (a session keeps the default_transaction_read_only it started with)."""
    if _sqlite_code(error) in _SQLITE_FAULTS:
        return True
    state = getattr(error, "sqlstate", None) or ""
    return state.startswith("08") or state in ("57P01", "57P02", "57P03", PG_READ_ONLY)


def _replacing(renewal: Renewal | None) -> Any:
    def handle_error(context: sa.engine.ExceptionContext) -> None:
        # Marked as a disconnect, SQLAlchemy invalidates the connection and the pool (every
        # connection checked in before now is replaced at its next checkout).
        if fault(context.original_exception):
            context.is_disconnect = True
            if renewal is not None:
                renewal.faulted()

    return handle_error


class Renewal:
    """When this process's connections to one SQLite file are replaced. They share one
    mapping of its write-ahead log's index (-shm): while one connection opened when the file
    could not be written lives (SQLite then opens it read-only, for good), no connection
    opened since can write either, even once the file can be. So after a read-only
    connection was opened, or a fault, and once the file is writable again, a new
    generation begins: every connection of an older one is replaced, all at once."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.generation = 0
        self._pending = False
        self._lock = threading.Lock()

    def opened(self, record: Any) -> None:
        """A connection was just opened (the pool's connect event)."""
        record.info["generation"] = self.generation
        if self.path is not None and not writable(self.path):
            self._pending = True

    def faulted(self) -> None:
        self._pending = True

    def stale(self, record: Any) -> bool:
        return bool(record.info.get("generation", self.generation) != self.generation)

    def due(self) -> bool:
        """Whether a new generation begins now: after a read-only connection or a fault, the
        file is writable. Costs nothing until then, a system call while the file is not."""
        if not self._pending or self.path is None or not writable(self.path):
            return False
        with self._lock:
            if not self._pending:
                return False
            self._pending = False
            self.generation += 1
            return True


def _renewing(engine: Engine, renewal: Renewal) -> None:
    """A connection of an older generation is not used again: replaced at checkout, closed
    when it comes back from use."""

    def checkout(_dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if renewal.stale(record):
            raise sa.exc.DisconnectionError("a connection of an older generation")

    def checkin(_dbapi_conn: Any, record: Any) -> None:
        if renewal.stale(record):
            record.invalidate()

    sa.event.listen(engine, "checkout", checkout)
    sa.event.listen(engine, "checkin", checkin)


def _sqlite_pragmas(busy_ms: int, checkpoints: bool, renewal: Renewal) -> Any:
    def connect(dbapi_conn: Any, record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (see _begin).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if not checkpoints:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()
        renewal.opened(record)

    return connect


def _begin(conn: Connection) -> None:
    # Writers take the write lock up front, so a lock upgrade can never fail mid-import.
    immediate = conn.get_execution_options().get("feeds_write") is not None
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _lock(conn: Connection) -> None:
    # PostgreSQL: one writer at a time, like SQLite's BEGIN IMMEDIATE. Writers run at READ
    # COMMITTED (see Store.write): each statement after the lock sees what the writer before
    # committed (a REPEATABLE READ snapshot would be taken by this very statement, before it
    # waits for the lock, and hide that). A writer waits for the lock as long as a SQLite
    # writer does (its busy timeout), then gives up (lock_not_available): a long import
    # makes API writes fail, not hang.
    mode = conn.get_execution_options().get("feeds_write")
    if mode == "wait":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{BUSY_TIMEOUT_MS}ms'")
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITERS_LOCK})")
        conn.exec_driver_sql("SET LOCAL lock_timeout = DEFAULT")
    elif mode == "record":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{RECORD_WAIT_MS}ms'")
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({RECORDERS_LOCK})")


def make_engine(
    url: str,
    busy_ms: int = BUSY_TIMEOUT_MS,
    checkpoints: bool = True,
    renewal: Renewal | None = None,
) -> Engine:
    """An engine for `url`. SQLite: WAL (checkpointed by its commits unless `checkpoints` is
    false), a busy timeout of `busy_ms`, BEGIN IMMEDIATE for writes, connections replaced
    by `renewal`'s generations. PostgreSQL: REPEATABLE READ, so that every request reads one
    snapshot; writers take an advisory lock first and read at READ COMMITTED. Connections
    that meet a fault are replaced. Raises ArgumentError, ImportError or OSError when `url`
    cannot be used."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = sa.create_engine(url, pool_pre_ping=True, isolation_level="REPEATABLE READ")
        sa.event.listen(engine, "begin", _lock)
    elif parsed.get_backend_name() != "sqlite":
        engine = sa.create_engine(url, pool_pre_ping=True)
    else:
        path = sqlite_path(url)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        renewal = renewal or Renewal(path)
        engine = sa.create_engine(url)
        sa.event.listen(engine, "connect", _sqlite_pragmas(busy_ms, checkpoints, renewal))
        _renewing(engine, renewal)
        sa.event.listen(engine, "begin", _begin)
    sa.event.listen(engine, "handle_error", _replacing(renewal))
    return engine


def safe_url(url: str) -> str:
    """`url` without its password, for messages."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _no_table(error: sa.exc.DBAPIError) -> bool:
    # SQLite: "no such table: meta"; PostgreSQL: undefined_table (42P01).
    return "no such table" in str(error.orig) or getattr(error.orig, "sqlstate", "") == "42P01"


def _lock_refused(error: sa.exc.DBAPIError) -> bool:
    # SQLite: SQLITE_BUSY; PostgreSQL: lock_not_available, a lock_timeout.
    return (
        _sqlite_code(error.orig) == SQLITE_BUSY
        or "database is locked" in str(error.orig)
        or getattr(error.orig, "sqlstate", "") == PG_LOCK_REFUSED
    )


def _unwritable(error: sa.exc.DBAPIError) -> str | None:
    """What to do about an error that says the database cannot be written, if it is one."""
    code, state = _sqlite_code(error.orig), getattr(error.orig, "sqlstate", "")
    if code == SQLITE_READONLY:
        return "make its file, its folder and their disk writable by this user"
    if code == SQLITE_FULL or state == PG_DISK_FULL:
        return "free space on its disk"
    if getattr(error.orig, "sqlite_errorcode", None) in _SQLITE_WRITE_ERRORS:
        return "check that its file and disk are writable, the disk has space and is sound"
    if state == PG_READ_ONLY:
        return "it is read-only (a standby, or default_transaction_read_only): use the primary"
    return None


@contextmanager
def translated(url: str, recording: bool = False) -> Iterator[None]:
    """Database errors as the service's: NoSchema when a table is missing, StoreBusy when
    the writers' lock could not be taken (at once by a recorder, within the busy timeout by
    a writer), StoreUnwritable when the database refuses writes (read-only, out of space),
    else StoreUnavailable."""
    try:
        yield
    except sa.exc.DBAPIError as e:
        where = f"the database at {safe_url(url)}"
        if _no_table(e):
            raise NoSchema(f"{where} has no schema yet; run `feeds migrate`") from e
        if _lock_refused(e):
            if recording:
                raise StoreBusy("the writers' lock is taken") from e
            raise StoreBusy(
                f"{where} is busy: another writer (an import?) held its lock for longer than "
                f"{BUSY_TIMEOUT_MS // 1000} s; try again when it is done"
            ) from e
        fix = _unwritable(e)
        if fix is not None:
            raise StoreUnwritable(f"{where} cannot be written ({e.orig}); {fix}") from e
        if isinstance(e, sa.exc.IntegrityError | sa.exc.ProgrammingError | sa.exc.DataError):
            raise  # a statement the database refused: a defect, not an outage
        if _sqlite_code(e.orig) == SQLITE_IOERR:
            raise StoreUnavailable(
                f"{where} failed ({e.orig}); check that its disk is sound"
            ) from e
        # It could not be reached, or is no database at all (a file of another kind).
        raise StoreUnavailable(f"{where} did not answer: {e.orig}") from e
