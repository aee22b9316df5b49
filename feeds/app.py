"""The Flask application factory: settings, store and routes, nothing at import time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask

from .cache import CacheHits, RenderCache
from .config import Settings, load_settings
from .formats.text import rfc3339
from .store import Store


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """A wall-clock time for pages, with a numeric offset: '4 January 2020, 18:09 +00:00'."""
    local = moment.astimezone(zone)
    offset = local.strftime("%z")
    return f"{local.day} {local:%B %Y, %H:%M} {offset[:3]}:{offset[3:]}"


@dataclass(frozen=True)
class Service:
    """What the views need, kept on the app as app.extensions['feeds']."""

    settings: Settings
    store: Store
    cache: RenderCache


def create_app(
    config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Flask:
    """Build the app from defaults, then FEEDS_* variables, then `config` overrides.
    Raises ConfigError naming a bad setting."""
    from . import api, views

    settings = load_settings(environ, config)
    app = Flask(__name__)
    store = Store(settings.database)
    cache = RenderCache(store, settings.cache_bytes)
    app.extensions["feeds"] = Service(settings, store, cache)
    app.wsgi_app = CacheHits(app.wsgi_app, cache, settings.now)  # type: ignore[method-assign]
    app.jinja_env.filters["rfc3339"] = rfc3339
    zone = settings.zone
    app.jinja_env.filters["local"] = lambda moment: local_time(moment, zone)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body
    app.register_blueprint(views.bp)
    app.register_blueprint(api.api)
    for code in (404, 405):
        app.register_error_handler(code, api.api_error)
    return app
