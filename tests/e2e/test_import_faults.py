"""A large `feeds import` (helper processes reading ahead) killed as a real process, at points
from its start to its commit: the store is whole (all of the import or none of it, every
stored article with its placements, feeds that render and parse), no process of the import is
left, a reader of its output gets EOF, and running it again gives the store an uninterrupted
import gives. SIGTERM stops it with a message; SQLite or PostgreSQL (TEST_POSTGRES_URL)."""

from __future__ import annotations

import json
import os
import pty
import random
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import feedparser
import pytest
import sqlalchemy as sa

from feeds.config import load_settings
from feeds.ingest.readahead import helper_count
from feeds.store import Store
from feeds.store.queries import places_of
from feeds.store.schema import article_authors, articles, departures, meta, placements
from tests.support import (
    FEEDS_BIN,
    IMPORT_TIME,
    POSTGRES,
    InProcess,
    article_text,
    clean_environment,
    new_database,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the processes from /proc"
)

FILES = 5200  # from 5,000 files on, helpers read ahead
SECTIONS = ("world", "uk", "sport", "business")
# Bounds on waits for what must happen (the command is killed or stopped): generous, since
# they only fail a test that would otherwise hang.
GONE_WITHIN_S = 30.0


def _stat(pid: str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()  # state, ppid, pgrp, ...
    except OSError:
        return None


def _processes(field: int, value: int) -> list[int]:
    """Live (not zombie) processes whose stat `field` (1: parent, 2: group) is `value`."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and (stat := _stat(pid)) and stat[0] != "Z" and int(stat[field]) == value:
            found.append(int(pid))
    return found


def children(pid: int) -> list[int]:
    return _processes(1, pid)


def group(leader: int) -> list[int]:
    return _processes(2, leader)


@dataclass
class Started:
    """A `feeds import` in a process group of its own, its stdout a pipe (`feeds import |
    cat`) and its stderr a terminal, where it shows its progress."""

    process: subprocess.Popen[bytes]
    terminal: int  # our side of the terminal
    shown: bytes = b""
    out: bytes = b""

    def watch(self, until: Callable[[], bool]) -> bool:
        """Read the terminal until `until()` holds (True) or the import ends (False)."""
        while not until():
            if self.process.poll() is not None:
                return False
            ready, _, _ = select.select([self.terminal], [], [], 0.005)
            if ready:
                try:
                    self.shown += os.read(self.terminal, 65536)
                except OSError:  # EIO: nobody holds the terminal
                    return until()
        return True

    def has_helpers(self) -> bool:
        """Whether the import's helpers have started (its resource tracker is a child too)."""
        return len(children(self.process.pid)) >= 1 + helper_count()

    def read(self, share: int) -> bool:
        """Whether the progress shown reached `share` per cent."""
        shares = re.findall(rb"(\d+)%", self.shown)
        return bool(shares) and int(shares[-1]) >= share

    def output(self) -> tuple[bytes, bytes]:
        """Read stdout and the terminal to their end (every holder has closed them), then
        wait for the command; what each showed."""
        streams = [self.process.stdout.fileno(), self.terminal] if self.process.stdout else []
        deadline = time.monotonic() + GONE_WITHIN_S
        while streams:
            ready, _, _ = select.select(streams, [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                left = group(self.process.pid)
                self.clean_up()
                pytest.fail(f"output still open {GONE_WITHIN_S} s on: {left}")
            for fd in ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: nobody holds the terminal
                    chunk = b""
                if fd == self.terminal:
                    self.shown += chunk
                else:
                    self.out += chunk
                if not chunk:
                    streams.remove(fd)
        self.process.wait(timeout=GONE_WITHIN_S)
        return self.out, self.shown

    def left_behind(self) -> list[int]:
        """The import's processes still alive once it has ended: none, or those found after
        waiting GONE_WITHIN_S."""
        deadline = time.monotonic() + GONE_WITHIN_S
        while (left := group(self.process.pid)) and time.monotonic() < deadline:
            time.sleep(0.01)
        return left

    def clean_up(self) -> None:
        for pid in group(self.process.pid):
            os.kill(pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        os.close(self.terminal)


def start_import(env: dict[str, str], content: Path) -> Started:
    terminal, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [str(FEEDS_BIN), "import", str(content)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
            start_new_session=True,  # its own process group, which its helpers join
        )
    finally:
        os.close(follower)
    return Started(process, terminal)


def migrated(folder: Path, name: str, clock: Path) -> dict[str, str]:
    """The settings of a new store, its schema made (in this process: quicker)."""
    env = clean_environment(
        {"FEEDS_DATABASE": new_database(folder, name), "FEEDS_CLOCK": str(clock)}
    )
    store = Store(env["FEEDS_DATABASE"])
    store.migrate(IMPORT_TIME, load_settings(env).tag_authority)
    store.close()
    return env


def dump(env: dict[str, str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the import writes, table by table, in a stable order."""
    store = Store(env["FEEDS_DATABASE"])
    try:
        with store.read() as reader:
            tables = (articles, placements, article_authors, departures)
            found: dict[str, list[tuple[Any, ...]]] = {
                t.name: sorted(tuple(r) for r in reader.conn.execute(sa.select(t))) for t in tables
            }
            query = sa.select(meta).order_by(meta.c.key)
            found["meta"] = [tuple(r) for r in reader.conn.execute(query)]
    finally:
        store.close()
    return found


def check_whole(env: dict[str, str], whole: dict[str, list[tuple[Any, ...]]]) -> int:
    """The store holds all of the import or none of it, each article with its placements and
    authors, and its feeds render and parse; how many articles it holds."""
    store = Store(env["FEEDS_DATABASE"])
    try:
        with store.read() as reader:
            if not POSTGRES:
                check = reader.conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
                assert check == ["ok"], check
            rows = reader.conn.execute(sa.select(articles)).all()
            places: dict[str, set[str]] = {}
            for p in reader.conn.execute(sa.select(placements)):
                places.setdefault(p.article_id, set()).add(p.place)
            written: dict[str, dict[str, str]] = {}  # id -> slug -> name
            for a in reader.conn.execute(sa.select(article_authors)):
                written.setdefault(a.article_id, {})[a.slug] = a.name
    finally:
        store.close()
    assert len(rows) in (0, len(whole["articles"])), len(rows)
    assert set(places) <= {r.id for r in rows} and set(written) <= {r.id for r in rows}
    for row in rows:
        authors = written.get(row.id, {})
        assert sorted(authors.values()) == sorted(json.loads(row.authors)), row.id
        assert places.get(row.id) == set(places_of(row.section, list(authors))), row.id
    site = InProcess(env | {"FEEDS_BASE_URL": "https://news.example.com"})
    try:
        for path in ("/feeds/rss.xml", "/feeds/atom.xml", "/feeds/world/atom.xml"):
            answer = site.client.get(path)
            parsed = feedparser.parse(answer.get_data())
            assert answer.status_code == (200 if rows or "world" not in path else 404), path
            if answer.status_code == 200:
                assert not parsed.bozo, (path, parsed.bozo_exception)
                assert (len(parsed.entries) > 0) == bool(rows), path
        answer = site.client.get("/feeds/feed.json")
        assert answer.status_code == 200
        assert (len(answer.get_json()["items"]) > 0) == bool(rows)
    finally:
        site.close()
    return len(rows)


@dataclass(frozen=True)
class Corpus:
    content: Path
    clock: Path
    whole: dict[str, list[tuple[Any, ...]]]  # the store an uninterrupted import gives


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """FILES article files in SECTIONS (some sharing a dateline), and what importing them
    uninterrupted gives."""
    folder = tmp_path_factory.mktemp("faults")
    content = folder / "content"
    for section in SECTIONS:
        (content / section).mkdir(parents=True)
    for number in range(FILES):
        day, minute = number % 28 + 1, number % 60
        dateline = (
            "4 January 2020, 18:09" if number % 7 == 0 else f"{day} March 2020, 10:{minute:02d}"
        )
        text = article_text(f"Story {number}", dateline, (f"Paragraph of {number}.", "More."))
        (content / SECTIONS[number % len(SECTIONS)] / f"a{number:05d}.txt").write_text(text)
    clock = folder / "clock"
    clock.write_text(IMPORT_TIME.isoformat())
    env = migrated(folder, "whole", clock)
    done = subprocess.run([str(FEEDS_BIN), "import", str(content)], env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == f"{FILES} added, 0 updated, 0 unchanged, 0 rejected\n"
    return Corpus(content, clock, dump(env))


def _move_on(started: Started, point: str) -> None:
    """Let the import run to `point`: its start; its helpers' start; a share of its files
    read (and so most of them stored), up to all of them (then the last are stored and the
    transaction committed); a seeded share."""
    if point == "start":
        time.sleep(0.05)
        return
    started.watch(started.has_helpers)
    share = {"helpers": 0, "midway": 50, "late": 80, "read": 100}.get(point)
    if share is None:  # "random-N"
        share = random.Random(point).randint(1, 100)
    started.watch(lambda: started.read(share))


@pytest.mark.parametrize("point", ["start", "helpers", "midway", "late", "read", "random-1"])
def test_an_import_killed_leaves_a_whole_store_and_no_process(
    corpus: Corpus, tmp_path: Path, point: str
) -> None:
    env = migrated(tmp_path, "killed", corpus.clock)
    started = start_import(env, corpus.content)
    try:
        _move_on(started, point)
        os.kill(started.process.pid, signal.SIGKILL)
        started.output()  # EOF: nothing of the import holds its output
        assert started.left_behind() == []
    finally:
        started.clean_up()
    check_whole(env, corpus.whole)
    again = subprocess.run(
        [str(FEEDS_BIN), "import", str(corpus.content)], env=env, capture_output=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert dump(env) == corpus.whole


@pytest.mark.parametrize("to", ["the import", "its process group"])  # as `timeout` does
def test_sigterm_stops_an_import_with_a_message_and_closes_its_output(
    corpus: Corpus, tmp_path: Path, to: str
) -> None:
    env = migrated(tmp_path, "stopped", corpus.clock)
    started = start_import(env, corpus.content)
    try:
        _move_on(started, "midway")
        send = os.kill if to == "the import" else os.killpg
        send(started.process.pid, signal.SIGTERM)
        stdout, shown = started.output()  # `feeds import | cat` ends
        assert started.left_behind() == []
    finally:
        started.clean_up()
    if started.process.returncode == 0:  # the signal came after the commit: it finished
        assert stdout.decode().startswith(f"{FILES} added")
        assert dump(env) == corpus.whole
    else:
        assert started.process.returncode == 1
        assert shown.decode().endswith("Error: stopped by SIGTERM; nothing was imported\r\n")
        assert b"Traceback" not in shown and stdout == b""
        assert check_whole(env, corpus.whole) == 0


def test_a_helper_killed_stops_the_import_with_a_message(corpus: Corpus, tmp_path: Path) -> None:
    env = migrated(tmp_path, "helper", corpus.clock)
    started = start_import(env, corpus.content)
    try:
        _move_on(started, "midway")  # the helpers busy, more of their work asked for
        helpers = [pid for pid in children(started.process.pid) if b"spawn_main" in _cmdline(pid)]
        if not helpers:
            pytest.skip("no helper started: one processor")
        os.kill(helpers[-1], signal.SIGKILL)
        stdout, shown = started.output()  # the import ends, and with it every helper
        assert started.left_behind() == []
    finally:
        started.clean_up()
    assert started.process.returncode == 1 and stdout == b""
    assert b"a helper process reading the files stopped unexpectedly" in shown
    assert b"Traceback" not in shown
    assert check_whole(env, corpus.whole) == 0


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
