"""Scale-out: two `feeds serve` processes (two workers each) of one site on one database
serve a change from the first request after its commit, with the same bytes and ETags."""

from __future__ import annotations

import gzip
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Served, fetch, new_database, start_server

GZIP = {"Accept-Encoding": "gzip"}


def _put(server: Served, token: str, article_id: str, title: str) -> None:
    body = {"title": title, "published": "2020-07-01T10:00:00Z", "text": "A paragraph."}
    request = urllib.request.Request(
        server.url(f"/api/v1/articles/{article_id}"),
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="PUT",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Served, Served]]:
    """Two `feeds serve` processes (two workers each) of one site on one database."""
    shared = {
        "FEEDS_DATABASE": new_database(tmp_path, "shared"),
        "FEEDS_BASE_URL": "https://news.example.com",
        "FEEDS_MAX_AGE": "0",
    }
    one = start_server(tmp_path, shared, "one")
    try:
        two = start_server(tmp_path, shared, "two")
    except BaseException:
        one.stop()
        raise
    yield one, two
    one.stop()
    two.stop()


def test_two_servers_on_one_database_serve_a_change_within_a_second(
    pair: tuple[Served, Served],
) -> None:
    one, two = pair
    created = one.feeds("token", "create", "--name", "cms", "--scope", "publish")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    _put(one, token, "first", "The first story")
    path = "/feeds/atom.xml"
    # Both servers answer alike: the same bytes and ETag (many requests reach every worker).
    answers = {fetch(server.url(path), GZIP)[1]["ETag"] for server in pair for _ in range(8)}
    (before,) = answers

    _put(one, token, "second", "The second story")
    committed = time.monotonic()
    while True:
        status, headers, body = fetch(two.url(path), {**GZIP, "If-None-Match": before})
        if status == 200 or time.monotonic() - committed > 1.0:
            break
        time.sleep(0.02)
    assert status == 200 and headers["ETag"] != before
    assert b"The second story" in gzip.decompress(body)
    after = {fetch(server.url(path), GZIP)[1]["ETag"] for server in pair for _ in range(8)}
    assert after == {headers["ETag"]}
