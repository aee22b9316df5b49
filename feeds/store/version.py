"""The data-version channel: the committed data version, read per request.

Every write that changes what a document can show bumps the version in its own transaction
(Store.write). Each thread keeps a connection of its own outside the pool, in autocommit, so
that one indexed lookup always sees the latest commit of any process or server.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

from sqlalchemy.engine import Engine

_SQL = "SELECT value FROM meta WHERE key = 'data_version'"


class VersionChannel:
    """Reads the data version on a connection kept by each thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        self._kept: list[Any] = []

    def read(self) -> int | None:
        """The committed data version; None when it cannot be read (then nothing may be
        served from a cache)."""
        local = self._local
        for _ in range(2):  # a kept connection that broke is replaced once
            try:
                if getattr(local, "pid", None) != os.getpid():
                    local.conn, local.pid = self._connect(), os.getpid()
                cursor = local.conn.cursor()
                try:
                    cursor.execute(_SQL)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
                return int(row[0]) if row else 0
            except Exception:  # the driver's own errors: drop the connection
                self._drop()
        return None

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.pid = None
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
            with contextlib.suppress(ValueError):
                self._kept.remove(conn)

    def _connect(self) -> Any:
        fairy = self.engine.raw_connection()
        fairy.detach()  # kept by one thread for good, outside the pool
        dbapi: Any = fairy.dbapi_connection
        if self.engine.dialect.name == "postgresql":
            dbapi.autocommit = True  # every read sees the latest commit
        self._kept.append(dbapi)
        return dbapi

    def close(self) -> None:
        """Close every kept connection."""
        for conn in self._kept:
            with contextlib.suppress(Exception):
                conn.close()
        self._kept.clear()
        self._local = threading.local()
