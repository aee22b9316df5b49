"""The web application (the only package that imports Flask, werkzeug and Jinja): routes,
the render cache, conditional GET, gzip, and one table from errors to answers.

`create_app` builds it from defaults, then FEEDS_* variables, then the overrides a caller
passes; nothing happens at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Flask, Request
from werkzeug.routing import MapAdapter

from feeds.audience.flush import Audience
from feeds.config import load_settings
from feeds.store import Store
from feeds.text import rfc3339

from . import api, errors, hub, monitoring, partner_feeds, public, sitemaps
from .cache import RenderCache
from .hits import CacheHits
from .service import LocalPolls, Service


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """A wall-clock time for pages, with a numeric offset: '4 January 2020, 18:09 +00:00'."""
    local = moment.astimezone(zone)
    offset = local.strftime("%z")
    return f"{local.day} {local:%B %Y, %H:%M} {offset[:3]}:{offset[3:]}"


class _App(Flask):
    """Flask, but the URLs routing makes (werkzeug's redirect of a path with doubled slashes
    to the merged one) start with FEEDS_BASE_URL, as every other URL does: by default it
    would take the request's Host and scheme, which any client sets (promise 9)."""

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        adapter = super().create_url_adapter(request)
        if adapter is not None:
            base = urlsplit(Service.of(self).settings.base_url)
            adapter.url_scheme, adapter.server_name = base.scheme, base.netloc
            adapter.script_name = base.path + "/"
        return adapter


def create_app(
    config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Flask:
    """Build the app from defaults, then FEEDS_* variables (of `environ`, by default the
    process's), then `config` overrides. Raises ConfigError naming a bad setting, and
    StoreUnavailable when the database URL cannot be used."""
    settings = load_settings(environ, config)
    app = _App(__name__, static_folder=None)  # no static files: pages carry no assets
    store = Store(settings.database)
    cache = RenderCache(store, settings.cache_bytes)
    audience = Audience(store, settings.stats_flush, settings.stats_days)
    svc = Service(settings, store, cache, LocalPolls(), audience)
    app.extensions["feeds"] = svc
    app.wsgi_app = CacheHits(app.wsgi_app, svc)  # type: ignore[method-assign]
    app.jinja_env.filters["rfc3339"] = rfc3339
    zone = settings.zone
    app.jinja_env.filters["local"] = lambda moment: local_time(moment, zone)
    # One byte more than FEEDS_MAX_BODY: werkzeug stops a chunked body at its limit without a
    # word, so the API reads one byte past FEEDS_MAX_BODY to tell a body at the limit from one
    # beyond it (api._json_body).
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body + 1
    app.register_blueprint(public.bp)
    app.register_blueprint(partner_feeds.bp)
    app.register_blueprint(sitemaps.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(hub.bp)
    monitoring.register(app)
    errors.register(app)
    return app
