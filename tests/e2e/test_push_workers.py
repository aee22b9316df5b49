"""Hub workers sharing one PostgreSQL store: deliveries are claimed with FOR UPDATE SKIP
LOCKED and one worker at a time turns the outbox into them, so two workers deliver each
change to each subscriber exactly once."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.hubsupport import (
    Subscribers,
    delivered,
    eventually,
    hub_list,
    hub_request,
    verification,
)
from tests.support import FEEDS_BIN, POSTGRES, Content, article_text, start_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not POSTGRES, reason="several hub workers share a PostgreSQL store (TEST_POSTGRES_URL)"
    ),
]
SUBSCRIBERS = 40
CHANGES = 4
STOPPED = re.compile(r"hub worker stopped: (\d+) delivered")


def test_two_workers_deliver_each_change_once_to_each_subscriber(tmp_path: Path) -> None:
    content = Content(tmp_path / "content")
    story = content.write("world/story.txt", article_text(title="Version 0"))
    # A few deliveries at a time each, so that both workers take part in every change.
    settings = {
        "FEEDS_CONTENT": str(content.root),
        "FEEDS_HUB_ALLOW_LOOPBACK": "1",
        "FEEDS_HUB_RATE": "100000",
        "FEEDS_HUB_CONCURRENCY": "4",
    }
    server = start_server(tmp_path, settings)  # its hub worker is the first
    second = subprocess.Popen(
        [str(FEEDS_BIN), "hub", "run"],
        env=server.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    subscribers = Subscribers()
    try:
        assert server.feeds("import").returncode == 0
        topic = server.url("/feeds/atom.xml")
        callbacks = [subscribers.callback(f"s{n}") for n in range(SUBSCRIBERS)]
        for callback in callbacks:
            status, _, body = hub_request(server.url("/hub"), topic, callback.url)
            assert status == 202, body
        for callback in callbacks:
            verification(callback)
        eventually("every subscription", lambda: len(hub_list(server)) == SUBSCRIBERS)
        for n in range(1, CHANGES + 1):
            content.write("world/story.txt", article_text(title=f"Version {n}"))
            assert server.feeds("import", str(story)).returncode == 0
            for callback in callbacks:
                delivered(callback, n)
            body = server.fetch(topic)[2]
            assert all(c.posts()[n - 1].body == body for c in callbacks)
        # Nothing more comes: every subscriber got each change once.
        second.send_signal(signal.SIGTERM)
        _, log = second.communicate(timeout=30)
        assert second.returncode == 0, log
        server.stop()
        for callback in callbacks:
            bodies = [post.body for post in callback.posts()]
            assert len(bodies) == CHANGES == len(set(bodies)), callback.url
        # Both took part, and together they sent each delivery once.
        counts = [int(n) for n in STOPPED.findall(log + server.log.read_text())]
        assert len(counts) == 2 and all(counts), log
        assert sum(counts) == CHANGES * SUBSCRIBERS
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()
        if server.process.poll() is None:
            server.stop()
        subscribers.close()
