"""Render the whole site as static files, through the same views the server uses."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from .app import Service
from .documents import feed_path
from .formats import FORMATS


def _paths(app: Flask) -> list[tuple[str, str]]:
    """(URL path, file path relative to the output folder) of every document."""
    svc: Service = app.extensions["feeds"]
    paths = [(feed_path(name), feed_path(name).lstrip("/")) for name in FORMATS]
    paths.append(("/", "index.html"))
    with svc.store.read() as reader:
        ids = reader.all_ids()
    paths += [(f"/articles/{i}", f"articles/{i}.html") for i in ids]
    return paths


def render_site(app: Flask, out: Path) -> int:
    """Write every document into `out`; returns how many files were written."""
    client = app.test_client()
    count = 0
    for url_path, file_path in _paths(app):
        response = client.get(url_path)
        if response.status_code != 200:
            raise RuntimeError(f"{url_path} answered {response.status_code}")
        target = out / file_path
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(response.get_data())
        tmp.replace(target)
        count += 1
    return count
