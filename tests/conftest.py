"""Fixtures: settings, a real store (a SQLite file, or a PostgreSQL database of its own), the
app and its test client, `site` (the service in this process) and the e2e marker for every
test under tests/e2e/ (real gunicorn, nginx and clients; see support.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from feeds.config import Settings, load_settings
from feeds.ingest.importer import ImportReport, import_paths
from feeds.store import Store
from feeds.web import create_app
from feeds.web.service import Service
from tests.support import IMPORT_TIME, Content, InProcess, new_database

E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E in item.path.parents:
            item.add_marker(pytest.mark.e2e)


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


@pytest.fixture
def clock(tmp_path: Path) -> Path:
    """A file for FEEDS_CLOCK, set to IMPORT_TIME; a test moves it on by writing to it."""
    path = tmp_path / "clock"
    path.write_text(IMPORT_TIME.isoformat())
    return path


@pytest.fixture
def content(tmp_path: Path) -> Content:
    root = tmp_path / "content"
    root.mkdir()
    return Content(root)


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
    return Service.of(app)


@pytest.fixture
def site_env(database_url: str, content: Content) -> dict[str, str]:
    """The FEEDS_* settings of `site`; a test may add to them before it asks for `site`."""
    return {
        "FEEDS_DATABASE": database_url,
        "FEEDS_BASE_URL": "https://news.example.com",
        "FEEDS_CONTENT": str(content.root),
    }


@pytest.fixture
def site(site_env: dict[str, str]) -> Iterator[InProcess]:
    """The service in this process: the test client and the `feeds` command, one store."""
    running = InProcess(site_env)
    yield running
    running.close()
