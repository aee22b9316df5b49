"""The house rules a linter cannot see: what importing a room loads, and the package root that
imports nothing."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.support import ROOT


def loaded_by(statement: str) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after `statement`."""
    listing = "print(' '.join({m.split('.')[0] for m in sys.modules}))"
    probe = f"import sys; {statement}; {listing}"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(done.stdout.split())


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        # An import, and the helper processes it spawns, never load the web stack.
        ("feeds.ingest.importer", {"flask", "werkzeug", "jinja2", "feedgen", "lxml"}),
        # A helper process reads and parses files: not even the store.
        ("feeds.ingest.readahead", {"flask", "sqlalchemy", "alembic", "feedgen", "lxml"}),
        # Checking a store's schema does not load Alembic's scripts.
        ("feeds.store", {"flask", "alembic", "feedgen"}),
        ("feeds.syndication.plan", {"flask", "werkzeug"}),
        ("feeds.cli", {"flask", "feedgen", "lxml", "alembic"}),
    ],
)
def test_importing_a_room_loads_only_what_it_needs(module: str, absent: set[str]) -> None:
    loaded = loaded_by(f"import {module}")
    assert "feeds" in loaded and not loaded & absent, sorted(loaded & absent)


def test_the_package_root_imports_nothing() -> None:
    tree = ast.parse((ROOT / "feeds" / "__init__.py").read_text())
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert imports == []
    assert loaded_by("import feeds") & {"flask", "sqlalchemy", "feedgen"} == set()
