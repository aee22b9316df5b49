"""Schema migrations with Alembic: bring any store up to the current schema."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

if TYPE_CHECKING:  # Alembic takes a third of a second to import: only when migrating
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration (a test checks it against the migrations folder): a store at this
# revision needs none, which is found without Alembic reading its scripts.
HEAD = "0010"


def config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Apply every migration the store lacks, inside the caller's transaction."""
    from alembic import command

    command.upgrade(config(connection), revision)


def revision(connection: Connection) -> str | None:
    """The store's schema revision; None for a store without one."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    value: str | None = connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
    return value
