"""What the views need, kept on the app: its settings, store, render cache and this worker's
memory of partner polls."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from flask import Flask, current_app

from feeds.config import Settings
from feeds.store import Store

from .cache import RenderCache


class LocalPolls:
    """This worker's memory of partners' full answers: what bounds them while a writer holds
    the store and the shared record cannot be written (see Store.record)."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()

    def note(self, partner: str, document: str, now: datetime) -> None:
        with self._lock:
            self._last[(partner, document)] = now

    def claim(self, partner: str, document: str, now: datetime, interval: int) -> int:
        with self._lock:
            last = self._last.get((partner, document))
            if last is not None and interval:
                remaining = (last + timedelta(seconds=interval) - now).total_seconds()
                if remaining > 0:
                    return int(remaining + 0.999)
            self._last[(partner, document)] = now
            return 0


@dataclass(frozen=True)
class Service:
    """Kept on the app as app.extensions['feeds']."""

    settings: Settings
    store: Store
    cache: RenderCache
    polls: LocalPolls

    @staticmethod
    def of(app: Flask) -> Service:
        return cast(Service, app.extensions["feeds"])


def service() -> Service:
    """The service of the app handling the current request."""
    return Service.of(current_app)
