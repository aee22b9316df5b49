"""The store of one database URL: its transactions, its schema, its health.

`read()` gives one consistent snapshot; `write()` one transaction that holds the writers'
lock from its first statement and bumps the data version if it changed what documents show;
`record()` a short transaction for what requests that only read keep, which never waits for
a writer (engine.py); `check()` what the health check reports.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from feeds.errors import StoreBusy, StoreUnavailable, StoreUnwritable

from . import migrate
from .audience import AudienceWrites
from .engine import (
    HUB_LOCK,
    RECORD_WAIT_MS,
    Renewal,
    make_engine,
    safe_url,
    sqlite_path,
    sqlite_unwritable,
    translated,
)
from .hub import HubWrites, note_change
from .reader import FIXED_META, Reader
from .schema import meta
from .version import VersionChannel
from .writer import Recorder, Writer

# SQLite's page cache for a bulk write, in KiB (the default is 2,000): room for the indexes
# of about a million articles.
BULK_CACHE_KIB = 64 * 1024
# After a recorder found the writers' lock taken, how long the next ones give up at once,
# unless the data version moves (the writer committed): a writer that holds it holds it long
# (an import), so trying again sooner only makes requests wait RECORD_WAIT_MS for nothing.
BUSY_HOLD_S = 1.0
CHECKPOINT_S = 5.0  # how long a bulk write goes on checkpointing while readers hold pages


class Store:
    """The store of one database URL."""

    def __init__(self, url: str) -> None:
        """Raises StoreUnavailable when `url` cannot be used."""
        self.url = url
        self._renewal = Renewal(sqlite_path(url))
        try:
            self.engine = make_engine(url, renewal=self._renewal)
        except (sa.exc.ArgumentError, ImportError, OSError) as e:
            raise StoreUnavailable(
                f"cannot use the database URL {url!r} ({e}); give a SQLAlchemy URL such as "
                "sqlite:///var/feeds.db"
            ) from e
        self.sqlite = self.engine.dialect.name == "sqlite"
        self._fixed: dict[str, str] = {}  # FIXED_META values, once read
        self._version = VersionChannel(self.engine)
        self._recorders: Engine | None = None
        # Recorders give up at once before this time.monotonic(), at this data version.
        self._busy: tuple[float, int | None] = (0.0, None)

    @staticmethod
    def missing_file(url: str) -> Path | None:
        """The file a SQLite `url` names when there is none yet (opening the store would
        create it), as an absolute path; None otherwise. Touches nothing."""
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError:
            return None  # Store(url) says what is wrong with it
        if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
            return None
        path = Path(parsed.database)
        return None if path.exists() else path.absolute()

    def has_schema(self) -> bool:
        """Whether the store was ever migrated (a read: no lock)."""
        with translated(self.url), self.engine.connect() as conn, conn.begin():
            return migrate.revision(conn) is not None

    def needs_migration(self) -> bool:
        """Whether the schema is missing or older than this release's (a read: no lock)."""
        self._renew()
        with translated(self.url), self.engine.connect() as conn, conn.begin():
            if migrate.revision(conn) != migrate.HEAD:
                return True
            return any(Reader(conn).meta(key) is None for key in FIXED_META)

    def migrate(self, now: datetime, tag_authority: str) -> None:
        """Bring the schema up to date (Alembic migrations); mint, once, the tag URI prefix of
        the store's feed ids and its creation time (the updated time of a feed with no
        entries)."""
        moment = now.astimezone(UTC).replace(microsecond=0)
        with self.write() as w:
            migrate.upgrade(w.conn)
            w.set_meta_default("feed_id_prefix", f"tag:{tag_authority},{moment.date()}:")
            w.set_meta_default("created", moment.isoformat())

    @contextmanager
    def read(self) -> Iterator[Reader]:
        self._renew()
        with translated(self.url), self.engine.connect() as conn, conn.begin():
            yield Reader(conn, self._fixed)

    @contextmanager
    def write(self, bulk: bool = False) -> Iterator[Writer]:
        """One write transaction; if it changed what documents show, it bumps the data
        version in the same transaction. A `bulk` one (a large import) gets a larger page
        cache on SQLite, so index pages are written once rather than again and again, until
        it ends, and then checkpoints the write-ahead log it filled (see _checkpoint)."""
        self._renew()
        with translated(self.url), self.engine.connect() as conn:
            conn = self._writing(conn, "wait")
            usual = None
            try:
                with conn.begin():
                    if bulk and self.sqlite:
                        usual = conn.exec_driver_sql("PRAGMA cache_size").scalar()
                        conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
                    writer = Writer(conn, self._fixed)
                    yield writer
                    if writer.changed:
                        writer.bump_version()
                        if writer.touched:
                            note_change(conn, datetime.now(UTC), writer.touched)
            finally:
                # The connection goes back to the pool as it was (unless a fault ended it).
                if usual is not None and not conn.invalidated:
                    conn.connection.dbapi_connection.execute(  # type: ignore[union-attr]
                        f"PRAGMA cache_size={int(usual)}"
                    )
            if usual is not None:
                self._checkpoint(conn)

    def _checkpoint(self, conn: Connection) -> None:
        """Copy SQLite's write-ahead log into the database here, rather than in whichever
        writer commits next (an API write would wait seconds for it after a large import):
        passive checkpoints, which never block anyone, until readers that still read older
        data have let every page go, or CHECKPOINT_S has passed."""
        dbapi: Any = conn.connection.dbapi_connection
        deadline = time.monotonic() + CHECKPOINT_S
        while True:
            _, logged, copied = dbapi.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if copied >= logged or time.monotonic() > deadline:
                return
            time.sleep(0.05)

    @contextmanager
    def record(self) -> Iterator[Recorder]:
        """A recorder's transaction: raises StoreBusy, having waited RECORD_WAIT_MS at most,
        when a writer holds the lock, and at once when the store refuses writes (read-only,
        out of space, failing): what a request records is never worth failing it for. For
        BUSY_HOLD_S after that, while the data version stays, it raises without trying. It
        changes nothing documents show."""
        self._renew()
        until, version = self._busy
        if time.monotonic() < until and self.data_version() == version:
            raise StoreBusy("the writers' lock was taken a moment ago")
        try:
            try:
                with (
                    translated(self.url, recording=True),
                    self._recorder_engine().connect() as conn,
                    self._writing(conn, "record").begin(),
                ):
                    yield Recorder(conn)
            except StoreUnavailable as e:
                raise StoreBusy(f"nothing can be recorded now: {e}") from e
        except StoreBusy:
            self._busy = (time.monotonic() + BUSY_HOLD_S, self.data_version())
            raise

    @contextmanager
    def hub(self) -> Iterator[HubWrites]:
        """A transaction of the hub's own tables (feeds.push): it never changes what a
        document shows, so it bumps nothing. On SQLite it takes turns with writers; on
        PostgreSQL it runs beside them (rows are claimed with SKIP LOCKED)."""
        self._renew()
        with translated(self.url), self.engine.connect() as conn:
            with self._writing(conn, "hub").begin():
                yield HubWrites(conn, postgres=not self.sqlite)

    @contextmanager
    def audience(self) -> Iterator[AudienceWrites]:
        """A transaction of the audience figures (feeds.audience's flush), in the writers'
        turn on both databases (its adds are an update, else an insert): it never changes
        what a document shows, so it bumps nothing. Raises StoreBusy when the writers' lock
        stays taken for the busy timeout."""
        self._renew()
        with translated(self.url), self.engine.connect() as conn:
            with self._writing(conn, "wait").begin():
                yield AudienceWrites(conn)

    @contextmanager
    def hub_dispatch(self) -> Iterator[bool]:
        """Whether this process may turn the outbox into deliveries now: one process at a
        time, so that topics are compared with what was last sent in the order changes
        happen. PostgreSQL: a session advisory lock, let go when the process dies; SQLite:
        always (only one hub worker runs per SQLite store, see feeds.push)."""
        if self.sqlite:
            yield True
            return
        with translated(self.url), self.engine.connect() as conn:
            got = bool(conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({HUB_LOCK})").scalar())
            conn.commit()
            try:
                yield got
            finally:
                if got and not conn.invalidated:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({HUB_LOCK})")
                    conn.commit()

    def _writing(self, conn: Connection, mode: str) -> Connection:
        conn = conn.execution_options(feeds_write=mode)
        if not self.sqlite:  # see engine._lock
            conn = conn.execution_options(isolation_level="READ COMMITTED")
        return conn

    def _recorder_engine(self) -> Engine:
        # SQLite's busy timeout belongs to a connection: recorders have connections of their
        # own. PostgreSQL recorders take a lock of their own (engine._lock).
        if not self.sqlite:
            return self.engine
        if self._recorders is None:
            self._recorders = make_engine(
                self.url, busy_ms=RECORD_WAIT_MS, checkpoints=False, renewal=self._renewal
            )
        return self._recorders

    def data_version(self) -> int | None:
        """The committed data version, read per request at the cost of one indexed lookup
        (see version.py); None when it cannot be read."""
        self._renew()
        return self._version.read()

    def check(self) -> str:
        """What the health check reports: "ok", or a note that the store is a read-only
        replica (a PostgreSQL standby: reads are answered, writes refused, by design).
        Raises StoreUnavailable when the store cannot be read, NoSchema when it has no
        schema, StoreUnwritable when it cannot be written and is no replica. It neither
        takes nor waits for the writers' lock: one read transaction and, on SQLite, a few
        system calls."""
        self._renew()
        note, reason = self._probe()
        if reason is not None and not self.sqlite:
            # A PostgreSQL session keeps the default_transaction_read_only it started with:
            # the pooled ones may be older than the database's setting. Ask a new one.
            self.dispose()
            note, reason = self._probe()
        if reason is not None:
            raise StoreUnwritable(f"the database at {self.describe()} cannot be written: {reason}")
        return note

    def _probe(self) -> tuple[str, str | None]:
        """What check() reports, and why the store cannot be written, if it cannot."""
        with translated(self.url), self.engine.connect() as conn, conn.begin():
            conn.execute(sa.select(sa.func.count()).select_from(meta)).all()
            if self.sqlite:
                path = sqlite_path(self.url)
                return "ok", sqlite_unwritable(path) if path is not None else None
            standby, read_only = conn.exec_driver_sql(
                "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')"
            ).one()
        if standby:
            return "ok (a read-only replica: writes are refused)", None
        return (
            "ok",
            "it is read-only (default_transaction_read_only)" if read_only == "on" else None,
        )

    def describe(self) -> str:
        """The database URL without its password, for messages."""
        return safe_url(self.url)

    def _renew(self) -> None:
        """Replace every connection when a new generation begins (engine.Renewal): the pooled
        ones and those the data-version channel keeps at once, those in use when they come
        back."""
        if self._renewal.due():
            self.close()

    def dispose(self) -> None:
        """Close the pooled connections (before a fork: none may cross it)."""
        self.engine.dispose()
        if self._recorders is not None:
            self._recorders.dispose()

    def close(self) -> None:
        """Close every connection, pooled or kept for data_version()."""
        self._version.close()
        self.dispose()
