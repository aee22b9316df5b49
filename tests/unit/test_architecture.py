"""The house rules a linter cannot see: what importing a room loads, the package root that
imports nothing, and the README's settings table against the settings the code knows."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys

import pytest

from feeds.config import Settings
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
        # What import helper processes run reads and parses files: not even the store.
        ("feeds.ingest.readahead", {"flask", "sqlalchemy", "alembic", "feedgen", "lxml"}),
        # Checking a store's schema does not load Alembic's scripts.
        ("feeds.store", {"flask", "alembic", "feedgen"}),
        ("feeds.syndication.plan", {"flask", "werkzeug"}),
        # The command (which helper processes import again, as the program that spawned them)
        # loads no store until it opens one.
        ("feeds.cli", {"flask", "feedgen", "lxml", "alembic", "sqlalchemy"}),
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


def readme_settings() -> dict[str, list[str]]:
    """The README's settings table: variable -> its cells after the name."""
    rows: dict[str, list[str]] = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `FEEDS_") and len(cells) >= 3:
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_the_readme_lists_every_setting_with_its_default() -> None:
    table = readme_settings()
    fields = {f"FEEDS_{f.name.upper()}": f for f in dataclasses.fields(Settings)}
    assert sorted(table) == sorted(fields)
    for name, field in fields.items():
        default, shapes = table[name][0], table[name][1]
        if field.default != "":  # empty defaults are described in words
            assert default == f"`{field.default}`", name
        # Those that shape documents must be the same on every server of a site.
        assert shapes == ("yes" if field.metadata["shapes"] else "no"), name


def test_every_setting_says_whether_it_shapes_documents() -> None:
    for field in dataclasses.fields(Settings):
        assert isinstance(field.metadata.get("shapes"), bool), field.name
