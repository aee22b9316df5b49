"""Fixtures: settings, a real SQLite store in a temporary folder, the app, and `served`, a real
`feeds serve` gunicorn process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest
from flask import Flask
from flask.testing import FlaskClient

from feeds.config import Settings, load_settings
from feeds.ingest.importer import ImportReport, import_paths
from feeds.store import Store
from feeds.web import create_app
from feeds.web.service import Service

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "content" / "000_c3ce8669dcb39210.txt"
FEEDS_BIN = Path(sys.executable).parent / "feeds"
IMPORT_TIME = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FEEDS_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _close_stores(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every store a test opens (through apps it builds, too) closes its connections."""
    opened: list[Store] = []
    original = Store.__init__

    def tracked(self: Store, url: str) -> None:
        original(self, url)
        opened.append(self)

    monkeypatch.setattr(Store, "__init__", tracked)
    yield
    for store in opened:
        store.close()


def article_text(
    title: str = "A title",
    dateline: str = "4 January 2020, 18:09",
    paragraphs: tuple[str, ...] = ("First paragraph.", "Second paragraph."),
    preamble: str = "Programme banner",
) -> str:
    return "\n".join([preamble, title, dateline, *paragraphs]) + "\n"


@dataclass
class Content:
    """A content folder to write article files into."""

    root: Path

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, str):
            path.write_text(text, encoding="utf-8")
        else:
            path.write_bytes(text)
        return path


@pytest.fixture
def content(tmp_path: Path) -> Content:
    root = tmp_path / "content"
    root.mkdir()
    return Content(root)


# Set TEST_POSTGRES_URL (a SQLAlchemy URL of a PostgreSQL server's maintenance database,
# e.g. postgresql+psycopg://feeds@127.0.0.1:55432/postgres) to run the suite on PostgreSQL;
# every test then gets databases of its own there. Unset: SQLite files.
POSTGRES = os.environ.get("TEST_POSTGRES_URL", "")


def new_database(tmp_path: Path, name: str) -> str:
    """The URL of a new, empty database for one test."""
    if not POSTGRES:
        return f"sqlite:///{tmp_path / (name + '.db')}"
    import uuid

    import sqlalchemy as sa

    database = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {database}")
    admin.dispose()
    return sa.engine.make_url(POSTGRES).set(database=database).render_as_string(hide_password=False)


on_sqlite_only = pytest.mark.skipif(bool(POSTGRES), reason="checks SQLite's own settings")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return new_database(tmp_path, "feeds")


@pytest.fixture
def settings(database_url: str, content: Content) -> Settings:
    return load_settings(
        {},
        {
            "database": database_url,
            "base_url": "https://news.example.com",
            "content": str(content.root),
        },
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store(settings.database)
    s.migrate(IMPORT_TIME, settings.tag_authority)
    yield s
    s.close()


ImportFn = Callable[..., ImportReport]


@pytest.fixture
def run_import(store: Store, settings: Settings, content: Content) -> ImportFn:
    """Import the content folder (or given paths) at IMPORT_TIME or the `now` given."""

    def run(*paths: Path, now: datetime = IMPORT_TIME, dry_run: bool = False) -> ImportReport:
        return import_paths(
            store, settings, list(paths) or [content.root], now=now, dry_run=dry_run
        )

    return run


@pytest.fixture
def app(settings: Settings, store: Store) -> Flask:
    return create_app({"database": settings.database, "base_url": settings.base_url}, environ={})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def service(app: Flask) -> Service:
    svc: Service = app.extensions["feeds"]
    return svc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """A running `feeds serve` process."""

    base_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    log_file: IO[bytes]

    def url(self, path: str) -> str:
        return self.base_url + path

    def feeds(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run another `feeds` command against the same database and settings."""
        return subprocess.run(
            [str(FEEDS_BIN), *args], env=self.env, capture_output=True, text=True, timeout=120
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log_file.close()

    def access_log(self) -> list[str]:
        return [
            line
            for line in self.log.read_text().splitlines()
            if '"GET ' in line or '"HEAD ' in line
        ]


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until `url` answers 200; raise with the process's log if it exits or hangs."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited early: {log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer: {log.read_text()}")


def start_server(
    tmp_path: Path, extra_env: dict[str, str] | None = None, name: str = "served"
) -> Served:
    """`feeds serve` on a database of its own (or FEEDS_DATABASE from `extra_env`); its log
    is `name`.log in `tmp_path`."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    env.update(
        {
            "FEEDS_DATABASE": (extra_env or {}).get("FEEDS_DATABASE")
            or new_database(tmp_path, name),
            "FEEDS_BASE_URL": base,
            "FEEDS_WORKERS": "2",
            "FEEDS_THREADS": "4",
        }
    )
    env.update(extra_env or {})
    log = tmp_path / f"{name}.log"
    log_file = log.open("wb")
    process = subprocess.Popen(
        [str(FEEDS_BIN), "serve", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(base + "/healthz", process, log)
    except RuntimeError:
        process.kill()
        process.wait()
        log_file.close()
        raise
    return Served(base, env, process, log, log_file)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A real gunicorn process (`feeds serve`) on a free loopback port, max-age 0."""
    server = start_server(tmp_path, {"FEEDS_MAX_AGE": "0"})
    yield server
    server.stop()
