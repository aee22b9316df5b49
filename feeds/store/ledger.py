"""The Last-Modified ledger: the validators each document was first served with.

When a document's ETag changes but the Last-Modified its data gives does not move (a
neighbour archive appeared, a tombstone expired), the time of its first answer with the new
ETag is its Last-Modified, so that a client revalidating by date alone sees the change, and
every worker of every server sends the same one. The policy is syndication.validators'; only
recorders write here (see engine.py), never the writers.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from feeds.model import Validators

from .schema import served

_INSERT = served.insert()
_UPDATE = (
    served.update()
    .where(served.c.document == sa.bindparam("b_document"))
    .values(etag=sa.bindparam("b_etag"), last_modified=sa.bindparam("b_last_modified"))
)
_SELECT = sa.select(served.c.etag, served.c.last_modified).where(
    served.c.document == sa.bindparam("document")
)


class LedgerReads:
    conn: Connection

    def ledger_entry(self, document: str) -> Validators | None:
        """The ETag and Last-Modified `document` was last recorded with."""
        row = self.conn.execute(_SELECT, {"document": document}).first()
        return None if row is None else Validators(row.etag, row.last_modified)


class LedgerWrites:
    conn: Connection

    def record_last_modified(self, document: str, etag: str, moment: datetime, new: bool) -> None:
        """Record that `document` is served with `etag` and `moment`; `new`: it has no entry."""
        if new:
            values = {"document": document, "etag": etag, "last_modified": moment}
            self.conn.execute(_INSERT, values)
        else:
            values = {"b_document": document, "b_etag": etag, "b_last_modified": moment}
            self.conn.execute(_UPDATE, values)
