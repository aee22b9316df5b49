"""What the soak runs against: a generated content folder imported into a fresh store, a
publish token and two partners, gunicorn started as deploy/feeds.service starts it, and
deploy/'s nginx in front of it where nginx is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import corpus, nginx, servers
from ..plan import ROOT
from ..scenarios.store import feeds_command
from ..servers import Processes, Running

MARKER = ".soak"  # marks a data folder as the soak's own, to be emptied by the next run
AUTHORS = ("Ann Writer", "Bo Reporter", "Cy Editor")
# name, sections, content: partners the soak polls
PARTNERS = (("wire", ("world", "uk"), "full"), ("digest", ("sport",), "summary"))
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


@dataclass(frozen=True)
class Options:
    data: Path
    database: str | None  # a SQLAlchemy URL of an empty database; None: SQLite in `data`
    articles: int
    workers: int
    threads: int
    with_nginx: bool
    max_age: int
    page_size: int
    archive_size: int
    partner_interval: int


@dataclass(frozen=True)
class Partner:
    name: str
    token: str
    sections: tuple[str, ...]


@dataclass
class Stack:
    options: Options
    content: Path
    env: dict[str, str]
    base_url: str
    ports: dict[str, int]  # "direct" (gunicorn) and, with nginx, "nginx"
    gunicorn: Running
    nginx: Running | None
    nginx_version: str | None
    token: str
    partners: list[Partner]
    articles: dict[str, str]  # the generated articles: id -> section

    @property
    def logs(self) -> Path:
        return self.options.data / "logs"

    def feeds(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`feeds ARGS` with the stack's settings."""
        return run_feeds(self.env, *args)


def run_feeds(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*feeds_command(), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


class StackError(RuntimeError):
    """The stack could not be set up."""


def fresh_folder(data: Path) -> None:
    """Empty `data` for a run; refuse a folder with files that are not an earlier run's."""
    if data.exists() and any(data.iterdir()) and not (data / MARKER).exists():
        raise StackError(f"{data} holds files of something else; name an empty --data folder")
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    (data / MARKER).write_text("a folder of `python -m bench.soak`, emptied by each run\n")


def settings(options: Options, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    return env | {
        "FEEDS_DATABASE": options.database or f"sqlite:///{options.data / 'feeds.sqlite'}",
        "FEEDS_BASE_URL": f"http://127.0.0.1:{port}",
        "FEEDS_CONTENT": str(options.data / "content"),
        "FEEDS_BIND": f"127.0.0.1:{port}",
        "FEEDS_WORKERS": str(options.workers),
        "FEEDS_THREADS": str(options.threads),
        "FEEDS_MAX_AGE": str(options.max_age),
        "FEEDS_PAGE_SIZE": str(options.page_size),
        "FEEDS_ARCHIVE_SIZE": str(options.archive_size),
        "FEEDS_PARTNER_MIN_INTERVAL": str(options.partner_interval),
    }


def start(procs: Processes, options: Options) -> Stack:
    """Set everything up; the servers stop with `procs`. Raises StackError."""
    fresh_folder(options.data)
    content = options.data / "content"
    spec = corpus.Spec(options.articles, options.articles, seed=7)
    corpus.write_corpus(content, spec)
    port = servers.free_port()
    env = settings(options, port)
    _printed(env, "import", str(content))  # which migrates the new store first
    token = _printed(env, "token", "create", "--name", "soak", "--scope", "publish")
    partners = []
    for name, sections, kind in PARTNERS:
        secret = _printed(
            env, "partner", "add", name, "--sections", ",".join(sections), "--content", kind
        )
        partners.append(Partner(name, secret, sections))
    gunicorn = procs.start(
        "gunicorn",
        [GUNICORN, "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "wsgi:app"],
        env=env,
        port=port,
        log=options.data / "logs" / "gunicorn.log",
        ready_path="/healthz",
        cwd=ROOT,
    )
    ports = {"direct": port}
    proxy, version = None, None
    binary = nginx.find() if options.with_nginx else None
    if binary is not None:
        proxy, ports["nginx"] = _start_nginx(procs, binary, options, port)
        version = nginx.version(binary)
    articles = {article.id: article.section for article in corpus.articles(spec)}
    return Stack(
        options,
        content,
        env,
        env["FEEDS_BASE_URL"],
        ports,
        gunicorn,
        proxy,
        version,
        token,
        partners,
        articles,
    )


def _printed(env: dict[str, str], *args: str) -> str:
    """The last line `feeds ARGS` printed; raises StackError when it fails."""
    done = run_feeds(env, *args)
    if done.returncode != 0:
        raise StackError(f"feeds {' '.join(args)} exited {done.returncode}: {done.stderr}")
    lines = done.stdout.strip().splitlines() or [""]
    return lines[-1]


def _start_nginx(
    procs: Processes, binary: str, options: Options, upstream: int
) -> tuple[Running, int]:
    """deploy/nginx.conf in front of gunicorn; nginx binds its port itself, so a port another
    process took first is tried again with another."""
    layout = nginx.Layout(options.data / "nginx")
    for attempt in range(5):
        port = servers.free_port()
        nginx.write_proxy(
            ROOT / "deploy" / "nginx.conf",
            layout,
            upstream=f"127.0.0.1:{upstream}",
            proxy_port=port,
        )
        nginx.check(binary, layout)
        try:
            server = procs.start(
                "nginx",
                nginx.command(binary, layout),
                env=dict(os.environ),
                port=port,
                log=options.data / "logs" / "nginx.log",
                ready_path="/healthz",
                wait=30,
            )
        except servers.ServerError:
            if attempt == 4:
                raise
            continue
        return server, port
    raise AssertionError("unreachable")
