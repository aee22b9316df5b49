"""Fixtures of the end-to-end tests: real servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hubsupport import Subscribers
from tests.support import Served, start_server


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A real gunicorn process (`feeds serve`) of its own, max-age 0."""
    server = start_server(tmp_path, {"FEEDS_MAX_AGE": "0"})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def subscribers() -> Iterator[Subscribers]:
    """WebSub subscribers' callbacks on loopback, one set for the module."""
    running = Subscribers()
    yield running
    running.close()
