"""Running the app under gunicorn, with the same options for `feeds serve` and deploy/."""

from __future__ import annotations

import gc
import logging
import os
import re
import selectors
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.workers.gthread import ThreadWorker

from .config import Settings
from .errors import ConfigError
from .text import shown

HEADER_TIMEOUT = 10.0  # seconds a client has to send the whole header of a request
HEADER_BYTES = 65536  # the largest header taken (nginx in front sends far smaller ones)
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
)


def gunicorn_options(settings: Settings, bind: str) -> dict[str, Any]:
    """Threaded workers that hand a thread only whole request headers, so a slow client
    holds neither a worker nor a thread."""
    return {
        "bind": bind,
        "worker_class": HeaderFirstWorker,
        "workers": settings.workers,
        "threads": settings.threads,
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": "-",
        "errorlog": "-",
        # The bearer of a token must never reach a log: log the path, never the query string.
        "access_log_format": '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)ss "%(a)s"',
        "logger_class": EscapingLogger,
        # One control socket per user would be shared by every instance on the machine.
        "control_socket_disable": True,
        "post_worker_init": freeze_heap,
        "child_exit": forget_worker,
        "worker_exit": worker_leaving,
    }


# prometheus_client's multi-process mode: read once, when it is first imported.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The names of its files: the kind (gauges: and mode) and the process id.
_METRICS_FILE = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_\d+\.db")


def metrics_directory(settings: Settings) -> tuple[str, Callable[[], None]]:
    """Prepare the directory where every process of the server keeps its metrics, and name
    it in PROMETHEUS_MULTIPROC_DIR for this process and the ones it starts: FEEDS_METRICS_DIR
    with the figures of an earlier run wiped (prometheus_client's files alone: the folder may
    hold the store), or, when that is empty, a fresh temporary directory. Call it before
    anything imports feeds.metrics. Returns the directory and what to call when the server
    stops (removing a temporary one). Raises ConfigError when FEEDS_METRICS_DIR cannot be
    made, wiped or written: every worker would fail its first answer otherwise."""
    if settings.metrics_dir:
        path = Path(settings.metrics_dir)
        try:
            path.mkdir(parents=True, exist_ok=True)
            for old in path.glob("*.db"):
                if _METRICS_FILE.fullmatch(old.name):  # never another file, such as the store
                    old.unlink(missing_ok=True)
            with tempfile.NamedTemporaryFile(dir=path):  # as prometheus_client will do there
                pass
        except OSError as e:
            raise ConfigError(
                "FEEDS_METRICS_DIR",
                f"cannot make or write the folder {str(path)!r} ({e.strerror or e}); name a "
                "folder the server's user may write, or leave it empty for a temporary one",
            ) from e
        remove: Callable[[], None] = lambda: None  # noqa: E731
    else:
        path = Path(tempfile.mkdtemp(prefix="feeds-metrics-"))
        remove = partial(shutil.rmtree, path, ignore_errors=True)
    os.environ[MULTIPROC_ENV] = str(path)
    return str(path), remove


def join_metrics_directory(settings: Settings) -> bool:
    """For a process beside the server (`feeds hub run` under its own unit): keep this
    process's figures in the server's FEEDS_METRICS_DIR too, so its scrapes show them, unless
    the variable is set already (a worker `feeds serve` started inherits it). Never wipes.
    False, and the figures stay in this process, when there is no such folder to write."""
    if os.environ.get(MULTIPROC_ENV):
        return True
    if not settings.metrics_dir or not os.access(settings.metrics_dir, os.W_OK | os.X_OK):
        return False
    os.environ[MULTIPROC_ENV] = settings.metrics_dir
    return True


def forget_worker(server: Any, worker: Any) -> None:
    """gunicorn's child_exit: a worker's live gauges leave the sums (its counters stay)."""
    from . import metrics  # here: the directory is set by now (metrics_directory)

    metrics.mark_dead(worker.pid)


# A token in what gunicorn quotes of a request (a request line it refuses, the URI of one
# that failed): the value of ?token= and a bearer token.
_SECRET = re.compile(r"(?i)([?&;]token=|bearer\s+)[^&\s'\"\\]+")


def redacted(message: str) -> str:
    """`message` with every token it quotes replaced, and escaped (text.shown)."""
    return shown(_SECRET.sub(r"\1[token]", message))


class EscapingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, with what a client sent escaped (text.shown) in the access log:
    the path is logged decoded, so an encoded line break (`%0d%0a`) would otherwise start a
    line of the client's making; and no token in its error log, which quotes the request
    line of a request it refuses and the URI of one that failed, query string and all."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        return {k: shown(v) if isinstance(v, str) else v for k, v in atoms.items()}

    def log(self, lvl: Any, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().log(lvl, redacted(str(msg) % args if args else str(msg)), **kwargs)

    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.CRITICAL, msg, *args, **kwargs)

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.ERROR, msg, *args, **kwargs)

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.WARNING, msg, *args, **kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.INFO, msg, *args, **kwargs)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.DEBUG, msg, *args, **kwargs)

    def exception(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self.log(logging.ERROR, msg, *args, exc_info=True, **kwargs)


def freeze_heap(worker: Any) -> None:
    """Once a worker is ready, what it holds (modules, the app) leaves the garbage
    collector's reach: a full collection then walks only what requests made since, so none
    stalls a request for milliseconds."""
    gc.collect()
    gc.freeze()


def worker_leaving(server: Any, worker: Any) -> None:
    """As a worker exits: its answers counted since the last fold go into the metrics, and
    the polls it counted since its last flush into the store (feeds.audience)."""
    from . import metrics  # here: the directory is set by now (metrics_directory)
    from .web.service import Service

    metrics.fold()
    app = getattr(worker, "wsgi", None)
    if isinstance(app, Flask) and "feeds" in app.extensions:  # not another app (the bench's)
        Service.of(app).audience.close()


class HeaderFirstWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker, except that a connection reaches a thread only once the
    whole header of its next request is in. gthread has a thread read the request, so a
    client sending a header byte every few seconds held a thread for as long as it liked,
    and a handful of them held them all; here the worker's event loop gathers the header
    (a connection costs a socket and its bytes so far, as in nginx), and closes connections
    whose header takes longer than HEADER_TIMEOUT or exceeds HEADER_BYTES (with a 431).
    Bodies are read by the thread, as in gthread (nginx in front buffers them whole)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Connections gathering a header: (deadline, bytes so far), in order of deadline.
        self.gathering: dict[Any, tuple[float, bytearray]] = {}

    def enqueue_req(self, conn: Any) -> None:
        """Hand `conn` to a thread once its next request's header is in (the bytes it read
        ahead after its last request count)."""
        if self.cfg.is_ssl or self.cfg.http2_cleartext != "off":
            super().enqueue_req(conn)  # the bytes are not an HTTP/1 header: gthread's way
            return
        head = bytearray(conn.parser.unreader.take_buffered() if conn.parser else b"")
        if b"\r\n\r\n" in head:
            self._dispatch(conn, head)
            return
        conn.sock.setblocking(False)
        self.gathering[conn] = (time.monotonic() + HEADER_TIMEOUT, head)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
        self._on_readable(conn, conn.sock)

    def _on_readable(self, conn: Any, sock: Any) -> None:
        head = self.gathering[conn][1]
        try:
            data = sock.recv(HEADER_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client left
            self._close(conn)
            return
        head += data
        if b"\r\n\r\n" in head[-len(data) - 3 :]:
            self.poller.unregister(sock)
            del self.gathering[conn]
            self._dispatch(conn, head)
        elif len(head) > HEADER_BYTES:
            self._close(conn, _TOO_LARGE)

    def _dispatch(self, conn: Any, head: bytearray) -> None:
        conn.init()  # the parser, for a new connection; the socket blocks again
        conn.parser.unreader.unread(bytes(head))
        super().enqueue_req(conn)

    def _close(self, conn: Any, answer: bytes = b"") -> None:
        del self.gathering[conn]
        self.poller.unregister(conn.sock)
        if answer:
            try:
                conn.sock.send(answer)
            except OSError:
                pass
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """gthread's expiry of idle connections, and of headers past their deadline (all
        of them once the worker stops: a request not yet sent whole can be sent again)."""
        super().murder_pending()
        now = time.monotonic()
        for conn, (deadline, _) in list(self.gathering.items()):
            if deadline > now and self.alive:
                break
            self._close(conn)


class Server(BaseApplication):  # type: ignore[misc]
    """gunicorn serving an already built (and so already validated) Flask app."""

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # options newer than the installed gunicorn are skipped
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application
