"""What the views need, kept on the app: its settings, store and render cache."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from flask import Flask, current_app

from feeds.config import Settings
from feeds.store import Store

from .cache import RenderCache


@dataclass(frozen=True)
class Service:
    """Kept on the app as app.extensions['feeds']."""

    settings: Settings
    store: Store
    cache: RenderCache

    @staticmethod
    def of(app: Flask) -> Service:
        return cast(Service, app.extensions["feeds"])


def service() -> Service:
    """The service of the app handling the current request."""
    return Service.of(current_app)
