"""HTTP: feeds, pages and health, with conditional GET, gzip and caching headers.

Every absolute URL comes from FEEDS_BASE_URL; nothing here reads the Host header.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import cast

from flask import Blueprint, Response, abort, current_app, render_template, request
from werkzeug.http import http_date

from .app import Service
from .conditional import not_modified
from .documents import (
    Validators,
    article_path,
    article_validators,
    feed_path,
    site_document,
    site_heads,
    validators,
)
from .errors import StoreUnavailable
from .formats import BY_FILENAME, FORMATS

bp = Blueprint("feeds", __name__)
# Only GET and HEAD are served; everything else, OPTIONS included, is 405 with an Allow header.

FEED_LABELS = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}


def service() -> Service:
    return cast(Service, current_app.extensions["feeds"])


def _accepts_gzip() -> bool:
    return request.accept_encodings["gzip"] > 0


def conditional_response(
    found: Validators, media_type: str, render: Callable[[], bytes], *, compress: bool = True
) -> Response:
    """A 304 decided from `found` alone, or a 200 from `render()`, gzipped when accepted."""
    settings = service().settings
    gz = compress and _accepts_gzip()
    etag = found.etag + ("-gz" if gz else "")
    headers = {
        "ETag": f'"{etag}"',
        "Cache-Control": f"public, max-age={settings.max_age}",
        "Last-Modified": http_date(found.last_modified),
    }
    if compress:
        headers["Vary"] = "Accept-Encoding"
    variants = (found.etag, found.etag + "-gz")
    if not_modified(
        request.headers.get("If-None-Match"),
        request.if_modified_since,
        variants,
        found.last_modified,
    ):
        del headers["Last-Modified"]  # RFC 9110 §15.4.5: validators and caching fields only
        return Response(status=304, headers=headers)
    body = render()
    if gz:
        body = gzip.compress(body, compresslevel=6, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(body, status=200, headers=headers, content_type=media_type)


@bp.get("/feeds/<filename>", provide_automatic_options=False)
def feed(filename: str) -> Response:
    fmt = BY_FILENAME.get(filename)
    if fmt is None:
        abort(404)
    svc = service()
    with svc.store.read() as reader:
        heads = site_heads(reader, svc.settings)
        found = validators(reader, svc.settings, heads, fmt.NAME)
        return conditional_response(
            found, fmt.MEDIA_TYPE, lambda: fmt.render(site_document(reader, svc.settings, heads))
        )


def _page(template: str, **context: object) -> bytes:
    settings = service().settings
    feeds = [
        (FEED_LABELS[name], settings.url(feed_path(name)), FORMATS[name].MEDIA_TYPE.split(";")[0])
        for name in FORMATS
    ]
    return render_template(template, settings=settings, feeds=feeds, **context).encode()


@bp.get("/", provide_automatic_options=False)
def index() -> Response:
    svc = service()
    with svc.store.read() as reader:
        heads = site_heads(reader, svc.settings)
        found = validators(reader, svc.settings, heads, "index")

        def render() -> bytes:
            doc = site_document(reader, svc.settings, heads)
            return _page("index.html", doc=doc)

        return conditional_response(found, "text/html; charset=utf-8", render)


@bp.get("/articles/<article_id>", provide_automatic_options=False)
def article(article_id: str) -> Response:
    svc = service()
    with svc.store.read() as reader:
        found_article = reader.article(article_id)
        if found_article is None:
            abort(404)
        found = article_validators(svc.settings, found_article)
        url = svc.settings.url(article_path(article_id))
        return conditional_response(
            found,
            "text/html; charset=utf-8",
            lambda: _page("article.html", article=found_article, url=url),
        )


@bp.get("/healthz", provide_automatic_options=False)
def healthz() -> Response:
    if service().store.ping():
        return Response(
            "ok\n", content_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-store"}
        )
    return Response(
        "the store does not answer\n",
        status=503,
        content_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "no-store", "Retry-After": "10"},
    )


@bp.app_errorhandler(StoreUnavailable)
def store_unavailable(error: StoreUnavailable) -> Response:
    current_app.logger.error("%s", error)
    return Response(
        "The service is temporarily unavailable; try again shortly.\n",
        status=503,
        content_type="text/plain; charset=utf-8",
        headers={"Retry-After": "10", "Cache-Control": "no-store"},
    )
