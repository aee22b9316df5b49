"""Running the app under gunicorn, with the same options for `feeds serve` and deploy/."""

from __future__ import annotations

import gc
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from .config import Settings


def gunicorn_options(settings: Settings, bind: str) -> dict[str, Any]:
    """Threaded workers, so a slow client holds a thread, not a whole worker."""
    return {
        "bind": bind,
        "worker_class": "gthread",
        "workers": settings.workers,
        "threads": settings.threads,
        "timeout": 30,
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": "-",
        "errorlog": "-",
        # The bearer of a token must never reach a log: log the path, never the query string.
        "access_log_format": '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)ss "%(a)s"',
        # One control socket per user would be shared by every instance on the machine.
        "control_socket_disable": True,
        "post_worker_init": freeze_heap,
    }


def freeze_heap(worker: Any) -> None:
    """Once a worker is ready, what it holds (modules, the app) leaves the garbage
    collector's reach: a full collection then walks only what requests made since, so none
    stalls a request for milliseconds."""
    gc.collect()
    gc.freeze()


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
