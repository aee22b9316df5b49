"""What the views need, kept on the app: its settings, store, render cache, this worker's
memory of partner polls and of hub requests, and its count of polls (feeds.audience)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from flask import Flask, current_app

from feeds.audience.flush import Audience
from feeds.config import Settings
from feeds.store import Store

from .cache import RenderCache
from .ratelimit import TokenBuckets


class LocalPolls:
    """This worker's memory of the full answers it gave partners: what bounds them while a
    writer holds the store and the shared record cannot be written (see Store.record), and
    afterwards, as the grants made meanwhile are in no shared record."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()

    def wait(self, partner: str, document: str, now: datetime, interval: int) -> int:
        """Seconds until this worker may give the partner another full answer; 0: now."""
        with self._lock:
            last = self._last.get((partner, document))
        if last is None or not interval:
            return 0
        remaining = (last + timedelta(seconds=interval) - now).total_seconds()
        return int(remaining + 0.999) if remaining > 0 else 0

    def note(self, partner: str, document: str, now: datetime) -> None:
        with self._lock:
            self._last[(partner, document)] = now


@dataclass(frozen=True)
class Service:
    """Kept on the app as app.extensions['feeds']."""

    settings: Settings
    store: Store
    cache: RenderCache
    polls: LocalPolls
    audience: Audience
    hub_clients: TokenBuckets = field(default_factory=TokenBuckets)  # by address

    @staticmethod
    def of(app: Flask) -> Service:
        return cast(Service, app.extensions["feeds"])


def service() -> Service:
    """The service of the app handling the current request."""
    return Service.of(current_app)
