"""Schema migrations: `feeds migrate` brings any store up to date without losing an article,
and the migrations always describe feeds/schema.py exactly."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from feeds.store.migrate import MIGRATIONS, config, upgrade
from feeds.store.schema import metadata
from tests.support import FEEDS_BIN, SEED, new_database

DATABASES: dict[Path, str] = {}


def url(tmp_path: Path) -> str:
    return DATABASES.setdefault(tmp_path, new_database(tmp_path, "m"))


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env["FEEDS_DATABASE"] = url(tmp_path)
    return subprocess.run(
        [str(FEEDS_BIN), *args], env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120
    )


def head() -> str:
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None
    return revision


def test_migrate_creates_the_schema_and_is_idempotent(tmp_path: Path) -> None:
    for _ in range(2):
        result = run(tmp_path, "migrate")
        assert result.returncode == 0 and "up to date" in result.stdout, result.stderr
    engine = sa.create_engine(url(tmp_path))
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == head()
    engine.dispose()


def test_the_migrations_describe_the_schema_exactly(tmp_path: Path) -> None:
    engine = sa.create_engine(new_database(tmp_path, "x"))
    with engine.begin() as conn:
        upgrade(conn)
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert differences == [], "feeds/schema.py changed: add a migration under " + str(MIGRATIONS)


def test_a_store_made_by_the_first_schema_is_upgraded_without_losing_articles(
    tmp_path: Path,
) -> None:
    engine = sa.create_engine(url(tmp_path))
    with engine.begin() as conn:
        upgrade(conn, "0001")
    engine.dispose()
    content = tmp_path / "content"
    content.mkdir()
    (content / SEED.name).write_bytes(SEED.read_bytes())
    assert "1 added" in run(tmp_path, "import", str(content)).stdout
    assert run(tmp_path, "migrate").returncode == 0
    again = run(tmp_path, "import", str(content))
    assert "1 unchanged" in again.stdout, again.stderr
