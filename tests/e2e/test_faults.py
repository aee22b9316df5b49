"""Faults, with a real gunicorn (2 workers) on a real SQLite file or PostgreSQL database: a
worker killed under load, the store made read-only (the immutable flag, which binds root
too), its disk full (a small tmpfs), a long import holding the writers' lock, PostgreSQL's
connections terminated and its server restarted. Each fault gets a clear error (503 with
Retry-After, or a message and exit status 1), writes nothing by halves, leaves reads
answered, and is recovered from without restarting anything."""

from __future__ import annotations

import errno
import http.client
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from feeds.store.engine import WRITERS_LOCK
from tests.samples import ARTICLE
from tests.support import (
    FEEDS_BIN,
    POSTGRES,
    Answer,
    Ran,
    Served,
    article_text,
    fetch,
    gunicorn_workers,
    new_database,
    start_server,
)

on_sqlite = pytest.mark.skipif(bool(POSTGRES), reason="a fault of SQLite's file")
on_postgres = pytest.mark.skipif(not POSTGRES, reason="needs TEST_POSTGRES_URL")
FEEDS = ("/feeds/rss.xml", "/feeds/atom.xml", "/feeds/feed.json")
DEADLINE_S = 30  # a bound on waiting for a server, so that a failing test ends


@dataclass
class Site:
    """A served store and a publish token."""

    server: Served
    token: str
    database: str
    sent: int = 0

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return fetch(self.server.url(path), headers)

    def put(self, article_id: str, text: str = "A paragraph.") -> Answer:
        self.sent += 1
        body = json.dumps({**ARTICLE, "title": f"Take {self.sent}", "text": text}).encode()
        address = self.server.base_url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(address[0], int(address[1]), timeout=30)
        try:
            connection.request(
                "PUT",
                f"/api/v1/articles/{article_id}",
                body=body,
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/json",
                },
            )
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def master(self) -> int:
        return self.server.process.pid

    def stored(self) -> int:
        """How many articles the store holds, read with a connection of its own."""
        engine = sa.create_engine(self.database)
        try:
            with engine.connect() as conn:
                return int(conn.exec_driver_sql("SELECT count(*) FROM articles").scalar() or 0)
        finally:
            engine.dispose()


def serve(tmp_path: Path, database: str | None = None) -> Site:
    database = database or new_database(tmp_path, "faults")
    server = start_server(tmp_path, {"FEEDS_DATABASE": database, "FEEDS_MAX_AGE": "0"})
    try:
        made = server.feeds("token", "create", "--name", "cms", "--scope", "publish")
        assert made.returncode == 0, made.stderr
    except BaseException:
        server.stop()
        raise
    return Site(server, made.stdout.strip(), database)


def sqlite_store(tmp_path: Path) -> tuple[str, Path]:
    """A SQLite URL in a folder of its own, and that folder."""
    folder = tmp_path / "store"
    folder.mkdir()
    return f"sqlite:///{folder / 'feeds.db'}", folder


def unavailable(answer: Answer, detail: str = "") -> None:
    """`answer` is a 503 problem document with Retry-After whose detail holds `detail`."""
    status, headers, body = answer
    assert status == 503, (status, body)
    assert int(headers["Retry-After"]) > 0
    assert headers["Content-Type"] == "application/problem+json"
    assert detail in json.loads(body)["detail"], body


def unhealthy(site: Site, reason: str) -> None:
    status, headers, body = site.get("/healthz")
    assert status == 503, body
    assert int(headers["Retry-After"]) > 0
    assert reason in body.decode(), body


def served_as_before(site: Site, before: dict[str, Answer]) -> None:
    """Every document of `before` is answered with the same ETag and bytes."""
    for path, (_, headers, body) in before.items():
        status, now, again = site.get(path)
        assert (status, now["ETag"], again) == (200, headers["ETag"], body), path


def workers(master: int) -> set[int]:
    """The process ids of the gunicorn master's workers (its children but the hub worker)."""
    return gunicorn_workers(master)


def replaced(site: Site, gone: set[int]) -> set[int]:
    """Wait until the master runs two workers again, none of `gone`, and each new one has
    booted; the new ones' ids."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        now = workers(site.master())
        log = site.server.log.read_text()
        if len(now) == 2 and not now & gone:
            new = now - gone
            if all(f"Booting worker with pid: {pid}" in log for pid in new):
                return new
        time.sleep(0.05)
    raise AssertionError(f"the workers {gone} were not replaced: {workers(site.master())}")


# -- a worker killed under load ------------------------------------------------------------


@dataclass
class Polls:
    """Threads polling the site's feeds, conditionally and not, until stopped: what each
    got, answers and errors (a request in flight on a killed worker)."""

    site: Site
    known: dict[str, Answer]
    answers: list[tuple[str, int, str, bytes]] = field(default_factory=list)
    errors: dict[int, list[str]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, count: int) -> None:
        for number in range(count):
            self.errors[number] = []
            thread = threading.Thread(target=self._poll, args=(number,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _poll(self, number: int) -> None:
        turn = 0
        while not self.stop.is_set():
            path = FEEDS[(number + turn) % len(FEEDS)]
            etag = self.known[path][1]["ETag"]
            headers = {"If-None-Match": etag} if turn % 2 else {}
            turn += 1
            try:
                status, got, body = self.site.get(path, headers)
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.errors[number].append(type(e).__name__)
                continue
            with self.lock:
                self.answers.append((path, status, got.get("ETag", ""), body))

    def count(self) -> int:
        with self.lock:
            return len(self.answers)

    def until(self, more: int) -> None:
        """Wait until `more` further answers came."""
        target = self.count() + more
        deadline = time.monotonic() + DEADLINE_S
        while self.count() < target and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.count() >= target, "the polls stopped being answered"

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=DEADLINE_S)


def test_a_killed_worker_is_replaced_and_the_feeds_stay_the_same(tmp_path: Path) -> None:
    site = serve(tmp_path)
    try:
        assert site.put("before")[0] == 201
        known = {path: site.get(path) for path in FEEDS}
        polls = Polls(site, known)
        polls.start(6)
        try:
            polls.until(60)
            victim = min(workers(site.master()))
            os.kill(victim, signal.SIGKILL)
            replaced(site, {victim})
            polls.until(120)
        finally:
            polls.finish()
        # Only requests in flight on the killed worker failed: one per polling thread at
        # most, as each has one request at a time; every answer is the feed as it was.
        assert all(len(failed) <= 1 for failed in polls.errors.values()), polls.errors
        for path, status, etag, body in polls.answers:
            assert etag == known[path][1]["ETag"], path
            assert (status, body) in ((200, known[path][2]), (304, b"")), (path, status)
        served_as_before(site, known)
    finally:
        site.server.stop()


# -- the store made read-only --------------------------------------------------------------


@dataclass
class Immutable:
    """The immutable flag (chattr +i) on a SQLite store's file, its write-ahead log and its
    folder: it binds root too, and files already open, so writes to them fail (EPERM, a
    disk I/O error to SQLite) and SQLite opens the file read-only. Not on the -shm file,
    which SQLite writes through a memory map: there the flag would be a SIGBUS, not an
    error."""

    folder: Path
    paths: list[Path] = field(default_factory=list)

    def set(self) -> None:
        database = self.folder / "feeds.db"
        self.paths = [database, Path(f"{database}-wal"), self.folder]
        if shutil.which("chattr") is None:
            pytest.skip("needs chattr (Debian's e2fsprogs) to make the store read-only")
        done = subprocess.run(
            ["chattr", "+i", *map(str, self.paths)], capture_output=True, text=True
        )
        if done.returncode != 0:
            self.clear()
            pytest.skip(
                f"cannot make the store read-only: chattr +i: {done.stderr.strip()} (needs "
                "root, or CAP_LINUX_IMMUTABLE, on a file system with the flag: ext4, xfs, "
                "btrfs)"
            )

    def clear(self) -> None:
        if self.paths:
            subprocess.run(["chattr", "-i", *map(str, self.paths)], capture_output=True)


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Callable[[Path], Immutable]]:
    """Makes an Immutable for a store's folder; whatever happens, the flag goes at the end."""
    made: list[Immutable] = []

    def make(folder: Path) -> Immutable:
        made.append(Immutable(folder))
        return made[-1]

    yield make
    for flag in made:
        flag.clear()


@on_sqlite
def test_a_read_only_store_refuses_writes_serves_reads_and_recovers(
    tmp_path: Path, immutable: Callable[[Path], Immutable]
) -> None:
    database, folder = sqlite_store(tmp_path)
    site = serve(tmp_path, database)
    try:
        assert site.put("before")[0] == 201
        served = {path: site.get(path) for path in ("/feeds/rss.xml", "/articles/before")}
        count = site.stored()
        flag = immutable(folder)
        flag.set()
        for attempt in range(4):
            unavailable(site.put(f"during-{attempt}"), "cannot be written")
        unhealthy(site, "cannot be written")
        served_as_before(site, served)
        assert site.get("/feeds/atom.xml")[0] == 200  # never served: nothing recorded
        # Workers that start meanwhile open the file read-only (SQLite does so for good).
        old = workers(site.master())
        os.kill(site.master(), signal.SIGHUP)
        replaced(site, old)
        unavailable(site.put("during-new-workers"), "cannot be written")
        unhealthy(site, "cannot be written")
        served_as_before(site, served)
        assert site.get("/feeds/uk/feed.json")[0] == 200
        assert site.stored() == count
        flag.clear()
        # Recovered at once: no write fails once the store can be written.
        assert [site.put(f"after-{n}")[0] for n in range(6)] == [201] * 6
        status, _, body = site.get("/healthz")
        assert (status, body) == (200, b"ok\n")
        assert site.stored() == count + 6
        for path in ("/feeds/uk/atom.xml", "/feeds/authors/ann-writer/rss.xml"):
            assert site.get(path)[0] == 200, path
    finally:
        site.server.stop()


def write_articles(folder: Path, count: int) -> Path:
    """`count` article files in `folder`/world/; `folder`."""
    (folder / "world").mkdir(parents=True)
    for number in range(count):
        text = article_text(title=f"Article {number}", paragraphs=(f"Paragraph {number}.",) * 3)
        (folder / "world" / f"a{number:05}.txt").write_text(text)
    return folder


def importing(site: Site, content: Path) -> subprocess.Popen[str]:
    """`feeds import CONTENT` as a real process, started."""
    command = [str(FEEDS_BIN), "import", str(content)]
    return subprocess.Popen(
        command, env=site.server.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(process: subprocess.Popen[str]) -> Ran:
    stdout, stderr = process.communicate(timeout=120)
    return Ran(process.returncode, stdout, stderr)


def stopped_cleanly(ran: Ran, cause: str) -> None:
    """A command that failed on the store: exit status 1, a message naming `cause`, no
    traceback."""
    assert ran.returncode == 1, ran
    assert cause in ran.stderr and "nothing was imported" in ran.stderr, ran.stderr
    assert "Traceback" not in ran.stderr, ran.stderr


def has_open(pid: int, path: Path) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd) == str(path) for fd in fds.iterdir())
    except OSError:
        return False


@on_sqlite
def test_an_import_stops_cleanly_when_the_store_turns_read_only(
    tmp_path: Path, immutable: Callable[[Path], Immutable]
) -> None:
    database, folder = sqlite_store(tmp_path)
    site = serve(tmp_path, database)
    try:
        content = write_articles(tmp_path / "content", 300)
        served = {path: site.get(path) for path in FEEDS}
        count = site.stored()
        # The import opens the store, then waits for the writers' lock held here: the store
        # turns read-only while it runs, before it writes.
        holder = sqlite3.connect(folder / "feeds.db", timeout=0, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        process = importing(site, content)
        deadline = time.monotonic() + DEADLINE_S
        while not has_open(process.pid, folder / "feeds.db") and time.monotonic() < deadline:
            time.sleep(0.01)
        flag = immutable(folder)
        flag.set()
        holder.execute("ROLLBACK")
        holder.close()
        stopped_cleanly(finished(process), "cannot be written")
        served_as_before(site, served)
        flag.clear()
        assert site.stored() == count
        again = site.server.feeds("import", str(content))
        assert again.returncode == 0 and "300 added" in again.stdout, again
        assert site.stored() == count + 300
    finally:
        site.server.stop()


# -- the disk full -------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs mounted for the test; skips where mounting is not allowed."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = None
    if shutil.which("mount") is not None:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)],
            capture_output=True,
            text=True,
        )
    if mounted is None or mounted.returncode != 0:
        why = mounted.stderr.strip() if mounted else "no mount command"
        pytest.skip(f"cannot mount a small tmpfs to fill ({why}; needs root, CAP_SYS_ADMIN)")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def fill(disk: Path) -> Path:
    """Fill `disk` to its last block with one file; that file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 4096):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    return filler


@on_sqlite
def test_a_full_disk_refuses_writes_serves_reads_and_recovers(
    tmp_path: Path, small_disk: Path
) -> None:
    site = serve(tmp_path, f"sqlite:///{small_disk / 'feeds.db'}")
    try:
        assert site.put("before")[0] == 201
        served = {path: site.get(path) for path in ("/feeds/rss.xml", "/articles/before")}
        content = write_articles(tmp_path / "content", 400)
        long_text = "\n".join(f"Paragraph {n} " + "word " * 100 for n in range(80))  # 40 KB
        count = site.stored()
        # The write-ahead log emptied first: a write cannot reuse its blocks.
        with sqlite3.connect(small_disk / "feeds.db") as conn:
            assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
        filler = fill(small_disk)
        unavailable(site.put("long", long_text), "cannot be written")
        unhealthy(site, "cannot be written")
        served_as_before(site, served)
        assert site.get("/feeds/atom.xml")[0] == 200  # never served: nothing recorded
        stopped_cleanly(site.server.feeds("import", str(content)), "free space on its disk")
        assert site.stored() == count
        filler.unlink()
        assert site.put("long", long_text)[0] == 201
        status, _, body = site.get("/healthz")
        assert (status, body) == (200, b"ok\n")
        again = site.server.feeds("import", str(content))
        assert again.returncode == 0 and "400 added" in again.stdout, again
        assert site.stored() == count + 401
    finally:
        site.server.stop()


# -- a long import -------------------------------------------------------------------------


class WritersLock:
    """Asks, without waiting, whether a writer holds the store's writers' lock (SQLite's
    write lock, PostgreSQL's advisory lock)."""

    def __init__(self, database: str) -> None:
        self.engine = sa.create_engine(database, poolclass=sa.pool.NullPool)
        self.sqlite = self.engine.dialect.name == "sqlite"

    def taken(self) -> bool:
        with self.engine.connect() as conn:
            if self.sqlite:
                dbapi = conn.connection.dbapi_connection
                assert dbapi is not None
                dbapi.isolation_level = None
                try:
                    dbapi.execute("PRAGMA busy_timeout=0")
                    dbapi.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as e:
                    assert "locked" in str(e), e
                    return True
                dbapi.execute("ROLLBACK")
                return False
            free = conn.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({WRITERS_LOCK})")
            taken = not free.scalar()
            conn.rollback()
            return taken

    def close(self) -> None:
        self.engine.dispose()


def stopped_holding_the_lock(process: subprocess.Popen[str], lock: WritersLock) -> None:
    """Stop `process` (SIGSTOP) at a moment it holds the writers' lock."""
    while process.poll() is None:
        if lock.taken():
            process.send_signal(signal.SIGSTOP)
            if lock.taken():
                return
            process.send_signal(signal.SIGCONT)
        time.sleep(0.002)
    raise AssertionError(f"the import ended before it could be stopped: {finished(process)}")


def test_a_long_import_never_delays_a_poll_and_writes_get_503(tmp_path: Path) -> None:
    site = serve(tmp_path)
    lock = WritersLock(site.database)
    try:
        assert site.put("before")[0] == 201
        served = {path: site.get(path) for path in (*FEEDS, "/articles/before")}
        content = write_articles(tmp_path / "content", 3000)
        process = importing(site, content)
        try:
            stopped_holding_the_lock(process, lock)
            # The import holds the lock and is stopped: a request that waited for it would
            # never be answered. A write waits the busy timeout, reads do not wait at all.
            written: list[Answer] = []

            def write() -> None:
                try:
                    written.append(site.put("during"))
                except OSError as e:  # it waited for the import: the test fails below
                    written.append((0, {}, repr(e).encode()))

            writer = threading.Thread(target=write)
            writer.start()
            served_as_before(site, served)
            for path in ("/feeds/uk/rss.xml", "/", "/sections/uk", "/feeds.opml"):
                assert site.get(path)[0] == 200, path  # never served: nothing recorded
            status, _, body = site.get("/healthz")
            assert (status, body) == (200, b"ok\n")
            writer.join(timeout=DEADLINE_S)
            unavailable(written[0], "an import")
            assert lock.taken()  # the 503 came from the busy timeout, not the import's end
        finally:
            process.send_signal(signal.SIGCONT)
        ran = finished(process)
        assert ran.returncode == 0 and "3000 added" in ran.stdout, ran
        assert site.put("after")[0] == 201
        assert site.get("/feeds/rss.xml")[1]["ETag"] != served["/feeds/rss.xml"][1]["ETag"]
        assert site.stored() == 3002
    finally:
        lock.close()
        site.server.stop()


# -- PostgreSQL: connections terminated, the server restarted, read-only ------------------


def admin(statement: str) -> object:
    """Run `statement` on the PostgreSQL server's maintenance database; its first value, if
    it gives rows."""
    engine = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            result = conn.exec_driver_sql(statement)
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def name_of(database: str) -> str:
    return str(sa.engine.make_url(database).database)


def terminate(database: str) -> int:
    """Terminate every server process of `database`; how many there were."""
    count = admin(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE datname = '{name_of(database)}'"
    )
    assert isinstance(count, int)
    return count


def recovered(site: Site, served: dict[str, Answer], pids: set[int]) -> None:
    """Everything answers again, from the same workers."""
    served_as_before(site, served)
    assert site.get("/feeds/uk/atom.xml")[0] == 200
    assert site.put(f"after-{site.sent}")[0] == 201
    status, _, body = site.get("/healthz")
    assert (status, body) == (200, b"ok\n")
    assert workers(site.master()) == pids


@on_postgres
def test_terminated_connections_are_replaced(tmp_path: Path) -> None:
    site = serve(tmp_path)
    try:
        assert site.put("before")[0] == 201
        served = {path: site.get(path) for path in FEEDS}
        pids = workers(site.master())
        assert terminate(site.database) >= 2  # each worker keeps connections
        recovered(site, served, pids)
    finally:
        site.server.stop()


@on_postgres
def test_a_restarted_database_server_is_reconnected(tmp_path: Path) -> None:
    data = str(admin("SHOW data_directory"))
    bindir = str(admin("SELECT setting FROM pg_config WHERE name = 'BINDIR'"))
    owner = os.stat(data)
    if os.geteuid() not in (0, owner.st_uid) or shutil.which("setpriv") is None:
        pytest.skip(f"cannot run pg_ctl as the owner of {data} (needs root and setpriv)")
    site = serve(tmp_path)
    try:
        assert site.put("before")[0] == 201
        served = {path: site.get(path) for path in FEEDS}
        pids = workers(site.master())
        restart = [f"--reuid={owner.st_uid}", f"--regid={owner.st_gid}", "--clear-groups"]
        restart += [f"{bindir}/pg_ctl", "restart", "-D", data, "-m", "fast", "-w"]
        done = subprocess.run(
            ["setpriv", *restart, "-l", f"{data}/restarted.log"],
            capture_output=True,
            text=True,
            cwd="/",
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        recovered(site, served, pids)
    finally:
        site.server.stop()


@on_postgres
def test_a_read_only_database_refuses_writes_and_recovers(tmp_path: Path) -> None:
    site = serve(tmp_path)
    name = name_of(site.database)
    try:
        assert site.put("before")[0] == 201
        served = {path: site.get(path) for path in FEEDS}
        pids = workers(site.master())
        count = site.stored()
        # What a provider does to a database whose disk is nearly full; sessions opened
        # since are read-only.
        admin(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
        terminate(site.database)
        unavailable(site.put("during"), "cannot be written")
        unhealthy(site, "cannot be written")
        served_as_before(site, served)
        assert site.get("/feeds/uk/rss.xml")[0] == 200  # never served: nothing recorded
        admin(f"ALTER DATABASE {name} RESET default_transaction_read_only")
        status, _, body = site.get("/healthz")
        assert (status, body) == (200, b"ok\n")
        # Each worker's sessions opened while it was read-only are replaced after the first
        # write one of them refuses.
        answers = [site.put(f"after-{n}")[0] for n in range(6)]
        assert answers.count(503) <= len(pids) and answers[-2:] == [201, 201], answers
        assert site.stored() == count + answers.count(201)
        assert workers(site.master()) == pids
    finally:
        site.server.stop()
        admin(f"ALTER DATABASE {name} RESET default_transaction_read_only")
