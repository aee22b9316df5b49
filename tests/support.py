"""What the tests share besides fixtures: article files, a database per test, real HTTP, and
the service run two ways behind one interface (`Site`):

- `InProcess`: Flask's test client over a real database, and the `feeds` command through
  click's runner with the same FEEDS_* settings (the default: fast);
- `Served`: `feeds serve` as a real gunicorn process on a loopback port that the test
  holds from the start (no race for it), read over real HTTP, with the `feeds` command as
  a real process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from bench.servers import children
from feeds.cli import main
from feeds.web import create_app
from feeds.web.cache import RenderCache, Rendered
from feeds.web.service import Service

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "content" / "000_c3ce8669dcb39210.txt"
FEEDS_BIN = Path(sys.executable).parent / "feeds"
IMPORT_TIME = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

# Set TEST_POSTGRES_URL (a SQLAlchemy URL of a PostgreSQL server's maintenance database,
# e.g. postgresql+psycopg://feeds@127.0.0.1:55432/postgres) to run the suite on PostgreSQL;
# every test then gets databases of its own there. Unset: SQLite files.
POSTGRES = os.environ.get("TEST_POSTGRES_URL", "")
on_sqlite_only = pytest.mark.skipif(bool(POSTGRES), reason="checks SQLite's own settings")

Answer = tuple[int, dict[str, str], bytes]  # status, headers, body
GZIP = {"Accept-Encoding": "gzip"}


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


def new_database(tmp_path: Path, name: str) -> str:
    """The URL of a new, empty database for one test."""
    if not POSTGRES:
        return f"sqlite:///{tmp_path / (name + '.db')}"
    database = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {database}")
    admin.dispose()
    return sa.engine.make_url(POSTGRES).set(database=database).render_as_string(hide_password=False)


def fetch(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> Answer:
    """A request over real HTTP."""
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@dataclass(frozen=True)
class Case:
    """A request for a document and what it must get: `status`, with the ETag (and on a
    GET's 200, the bytes) of the representation it selects, gzip or identity."""

    headers: dict[str, str]
    status: int
    gzip: bool
    method: str = "GET"

    def __str__(self) -> str:
        return f"{self.method} {self.headers}"


def representation_cases(identity: str, gzipped: str, last_modified: str) -> list[Case]:
    """Conditional requests that mix a document's identity and gzip ETags (as sent, quoted):
    If-None-Match is compared with the ETag of the representation that Accept-Encoding
    selects, and with no other."""
    return [
        Case({**GZIP, "If-None-Match": identity}, 200, gzip=True),
        Case({"If-None-Match": gzipped}, 200, gzip=False),
        Case({"Accept-Encoding": "identity", "If-None-Match": gzipped}, 200, gzip=False),
        Case({"Accept-Encoding": "gzip;q=0", "If-None-Match": f"W/{gzipped}"}, 200, gzip=False),
        # If-None-Match decides alone: the date would have been answered 304.
        Case(
            {**GZIP, "If-None-Match": f'"other", W/{identity}', "If-Modified-Since": last_modified},
            200,
            gzip=True,
        ),
        Case({**GZIP, "If-None-Match": identity}, 200, gzip=True, method="HEAD"),
        Case({**GZIP, "If-None-Match": gzipped}, 304, gzip=True),
        Case({"If-None-Match": identity}, 304, gzip=False),
        Case({**GZIP, "If-None-Match": f'W/{identity}, "other", W/{gzipped}'}, 304, gzip=True),
        Case({"If-None-Match": f"{gzipped}, {identity}"}, 304, gzip=False),
        Case({"Accept-Encoding": "identity", "If-None-Match": f"W/{identity}"}, 304, gzip=False),
        Case({**GZIP, "If-None-Match": gzipped}, 304, gzip=True, method="HEAD"),
    ]


def check_case(case: Case, answer: Answer, full: Answer) -> None:
    """`answer` is what `case` must get; `full` is the plain GET's 200 of the representation
    the case selects."""
    status, headers, body = answer
    assert status == case.status, case
    for name in ("ETag", "Cache-Control", "Vary"):  # a 304 carries the 200's, too
        assert headers.get(name) == full[1][name], (case, name)
    if status == 200:
        assert headers.get("Content-Encoding") == full[1].get("Content-Encoding"), case
    assert body == (full[2] if status == 200 and case.method == "GET" else b""), case


@dataclass(frozen=True)
class Ran:
    """What a `feeds` command did."""

    returncode: int
    stdout: str
    stderr: str


def clean_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without FEEDS_* variables, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FEEDS_") and k != "PROMETHEUS_MULTIPROC_DIR"  # a server makes its own
    }
    return env | (extra or {})


def run_feeds(env: dict[str, str], *args: str, cwd: Path | None = None) -> Ran:
    """`feeds ARGS` as a real process."""
    done = subprocess.run(
        [str(FEEDS_BIN), *args], env=env, capture_output=True, text=True, timeout=120, cwd=cwd
    )
    return Ran(done.returncode, done.stdout, done.stderr)


class Site(Protocol):
    """The service as a test drives it: HTTP requests and `feeds` commands."""

    base_url: str
    env: dict[str, str]  # the FEEDS_* settings of both

    def url(self, path: str) -> str: ...

    def fetch(self, url: str, headers: dict[str, str] | None = None, method: str = "GET") -> Answer:
        """A request for an absolute URL of this site."""
        ...

    def feeds(self, *args: str) -> Ran:
        """`feeds ARGS` with the site's settings."""
        ...


@dataclass
class InProcess:
    """The service in this process: Flask's test client over a real database, and the
    `feeds` command through click's runner with the same settings. Unlike `feeds serve`, it
    does not migrate the store: the first command does, or a test that reads first must."""

    env: dict[str, str]
    base_url: str = field(init=False)
    app: Flask = field(init=False)
    client: FlaskClient = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = self.env["FEEDS_BASE_URL"]
        self.app = create_app(environ=self.env)
        self.client = self.app.test_client()

    def url(self, path: str) -> str:
        return self.base_url + path

    def fetch(self, url: str, headers: dict[str, str] | None = None, method: str = "GET") -> Answer:
        assert url.startswith(self.base_url), url
        response = self.client.open(url[len(self.base_url) :], method=method, headers=headers)
        return response.status_code, dict(response.headers), response.get_data()

    def feeds(self, *args: str) -> Ran:
        result = CliRunner().invoke(main, list(args), env=self.env, prog_name="feeds")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Ran(result.exit_code, result.stdout, result.stderr)

    def add_partner(self, name: str = "globe", sections: str = "world") -> str:
        """A partner of full text in `sections`; its feed token."""
        added = self.feeds("partner", "add", name, "--sections", sections, "--content", "full")
        assert added.returncode == 0, added.stderr
        return added.stdout.strip()

    def close(self) -> None:
        Service.of(self.app).store.close()


def listening_socket() -> socket.socket:
    """A socket listening on a free loopback port, held by the caller until a server that
    inherits it takes over: no other process can take the port in between."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


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

    def fetch(self, url: str, headers: dict[str, str] | None = None, method: str = "GET") -> Answer:
        return fetch(url, headers, method)

    def feeds(self, *args: str) -> Ran:
        """Run another `feeds` command against the same database and settings."""
        return run_feeds(self.env, *args)

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
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer: {log.read_text()}")


def start_server(
    tmp_path: Path,
    extra_env: dict[str, str] | None = None,
    name: str = "served",
    options: tuple[str, ...] = (),
) -> Served:
    """`feeds serve` (2 workers) on a database of its own (or FEEDS_DATABASE from
    `extra_env`), listening on a socket this process opened, given `options` (--no-hub);
    its log is `name`.log in `tmp_path`."""
    sock = listening_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    extra = extra_env or {}
    env = clean_environment(
        {
            "FEEDS_DATABASE": extra.get("FEEDS_DATABASE") or new_database(tmp_path, name),
            "FEEDS_BASE_URL": base,
            "FEEDS_WORKERS": "2",
            "FEEDS_THREADS": "4",
            **extra,
        }
    )
    log = tmp_path / f"{name}.log"
    log_file = log.open("wb")
    with sock:
        process = subprocess.Popen(
            [str(FEEDS_BIN), "serve", "--bind", f"fd://{sock.fileno()}", *options],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            pass_fds=[sock.fileno()],
        )
    try:
        wait_for(base + "/healthz", process, log)
    except RuntimeError:
        process.kill()
        process.wait()
        log_file.close()
        raise
    return Served(base, env, process, log, log_file)


def counted_rebuilds(cache: RenderCache, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys of the documents `cache` builds from now on (rendered or re-dated), in order."""
    rebuilds: list[str] = []
    rebuild = cache._rebuild

    def counted(key: str, *rest: Any) -> Rendered | None:
        rebuilds.append(key)
        return rebuild(key, *rest)

    monkeypatch.setattr(cache, "_rebuild", counted)
    return rebuilds


def audit_rows(database: str) -> list[dict[str, object]]:
    """Every row of the audit table of the store at `database`, as stored."""
    engine = sa.create_engine(database)
    with engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(sa.text("SELECT * FROM audit"))]
    engine.dispose()
    return rows


def gunicorn_workers(master: int) -> set[int]:
    """The gunicorn workers of `feeds serve` (its master is the serve process): its children
    but the hub worker it runs beside them; a child that ends while they are read is left
    out."""
    workers = set()
    for child in children(master):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"hub" not in command:
            workers.add(child)
    return workers
