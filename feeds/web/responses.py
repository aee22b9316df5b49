"""Responses the views share: documents from the render cache, Link headers, plain text."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Response, request

from feeds.config import Settings
from feeds.errors import NotFound
from feeds.store import Reader
from feeds.syndication.urls import feed_links

from . import observe
from .cache import Builder, Built
from .conditional import accepts_gzip, body_needed
from .hits import answer
from .service import Service

TEXT = "text/plain; charset=utf-8"
# The options of every route: only the methods named are served; everything else, OPTIONS
# included, is 405 with an Allow header.
ROUTE: dict[str, Any] = {"provide_automatic_options": False}


def cached(
    svc: Service,
    key: str,
    build: Builder,
    missing: str = "no such document",
    before_body: Callable[[], None] | None = None,
) -> Response:
    """The document under `key` from the render cache (built by `build` when missing or out
    of date): a 304 decided from the validators of the representation the request selects
    (gzip when accepted, else identity), or that representation's bytes. Raises
    NotFound (`missing`) when `build` finds no such document; `before_body` runs before a
    200 and may refuse it by raising. Up-to-date public documents are mostly answered before
    Flask, by hits.CacheHits, with the same `answer`."""
    now = svc.settings.now()
    headers = request.headers
    gz = accepts_gzip(headers.get("Accept-Encoding", ""))
    needs_body = body_needed(headers.get("If-None-Match"), headers.get("If-Modified-Since"), gz)
    rule = request.url_rule
    route = rule.rule if rule is not None else ""

    def routed(reader: Reader, moment: datetime) -> Built | None:
        built = build(reader, moment)
        return None if built is None else dataclasses.replace(built, route=route)

    entry = svc.cache.get(key, now, routed, needs_body)
    if entry is None:
        raise NotFound(missing)
    status, answer_headers, body = answer(entry, now, gz, needs_body)
    if status == 200 and before_body is not None:
        before_body()
    response = Response(body, status=status)
    response.headers.clear()  # every header comes from the entry, checked once (cache.Variant)
    response.headers.extend(answer_headers)
    observe.served(svc, request.environ, entry, status, len(body) if request.method == "GET" else 0)
    return response


def text(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A short plain-text answer that no cache keeps."""
    return Response(
        body if body.endswith("\n") else body + "\n",
        status=status,
        content_type=TEXT,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def self_link(url: str, hubs: Sequence[str] = ()) -> str:
    """A Link header value naming a document's URL and, for a subscription document, its
    WebSub hubs (W3C WebSub §4: a subscriber discovers both from the headers alone)."""
    return ", ".join([*(f'<{hub}>; rel="hub"' for hub in hubs), f'<{url}>; rel="self"'])


def alternate_links(settings: Settings, section: str | None = None) -> list[str]:
    """Link header values naming the feeds of the site or a section (RFC 8288)."""
    return [
        f'<{link.url}>; rel="alternate"; type="{link.media_type}"; {_title(link.title)}'
        for link in feed_links(settings, section)
    ]


def _title(label: str) -> str:
    """A Link title parameter; RFC 8187 encoding when the text is not plain ASCII."""
    if label.isascii() and '"' not in label and "\\" not in label:
        return f'title="{label}"'
    return "title*=UTF-8''" + quote(label, safe="")
