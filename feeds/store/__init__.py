"""Every table and statement: SQLAlchemy Core over SQLite (the default) or PostgreSQL.

Nothing outside this package imports SQLAlchemy or Alembic or touches a connection. The rest
of the service sees `Store` and, inside its transactions, a `Reader`, a `Writer` or a
`Recorder`, whose methods take and give the records of feeds.model.
"""

from .database import Store
from .queries import Scope
from .reader import Reader
from .writer import Recorder, Writer

__all__ = ["Recorder", "Reader", "Scope", "Store", "Writer"]
