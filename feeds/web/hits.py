"""Answers from the render cache: the one function that turns a kept document into a 200 or
a 304, and the WSGI layer that uses it for up-to-date documents before Flask routes
anything."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from . import observe
from .cache import Rendered
from .conditional import NeedsBody, accepts_gzip, body_needed
from .service import Service

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


def answer(
    entry: Rendered, now: datetime, gz: bool, needs_body: NeedsBody
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of the answer to a GET for `entry` in the representation
    `gz` selects (gzip or identity), whose ETag alone `needs_body` compares (it was made
    with the same `gz`): 304 (no body, the same ETag, Cache-Control, Vary and Link as the
    200) or 200."""
    variant = entry.gzip_variant if gz else entry.identity_variant
    cache_control = entry.cache_control(now)
    if variant.body is None or not needs_body(entry.etag, entry.last_modified):
        return 304, [*variant.not_modified, cache_control], b""
    headers = [
        ("Content-Type", entry.media_type),
        ("Content-Length", str(len(variant.body))),
        *variant.headers,
        cache_control,
    ]
    return 200, headers, variant.body


_REASONS = {200: "200 OK", 304: "304 Not Modified"}
# The render cache keeps the page a browser is shown for a public feed (web/feed_view.py)
# under this prefix and the feed's path: a key no request path can be.
VIEW = "view:"


def navigation(environ: WSGIEnvironment) -> bool:
    """Whether the request is a browser's navigation to a document (Fetch Metadata: its
    Sec-Fetch-Mode and Sec-Fetch-Dest), as a person's click or typed URL is and a feed
    reader's poll never: such a request for a feed is shown its page. Accept is no guide,
    as some fetchers send a browser's."""
    return (
        environ.get("HTTP_SEC_FETCH_MODE") == "navigate"
        and environ.get("HTTP_SEC_FETCH_DEST") == "document"
    )


class CacheHits:
    """WSGI middleware in front of the Flask app: a GET or HEAD for a public document the
    render cache holds up to date is answered here, from its prebuilt headers and bytes,
    without routing or a request context; everything else goes on to the app, which builds
    and keeps what it serves. Documents for one client only (a partner's) are kept under
    keys no path can be, so they are never answered here. A browser's navigation to a feed
    is answered with the feed's page (VIEW), never with the feed."""

    def __init__(self, app: WSGIApplication, svc: Service):
        self.app = app
        self.svc = svc
        self.cache = svc.cache
        self.now = svc.settings.now

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO", "")
        # Only a path: "partner:..." and "view:partner:..." are keys of private documents.
        if (method == "GET" or method == "HEAD") and path.startswith("/"):
            browsing = navigation(environ)  # first: then never the feed itself
            gz = accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", ""))
            needs_body = body_needed(
                environ.get("HTTP_IF_NONE_MATCH"), environ.get("HTTP_IF_MODIFIED_SINCE"), gz
            )
            now = self.now()
            entry = None
            if browsing:
                # A feed's page is private to the browser (Cache-Control) but the same for
                # everyone, and kept under a key made of a public path alone.
                entry = self.cache.peek(VIEW + path, now, needs_body)
            if entry is None:
                entry = self.cache.peek(path, now, needs_body)
                if entry is not None and (entry.private or browsing and entry.navigable):
                    entry = None
            if entry is not None:
                status, headers, body = answer(entry, now, gz, needs_body)
                start_response(_REASONS[status], headers)
                sent = body if method == "GET" else b""
                observe.served(self.svc, environ, entry, status, len(sent))
                return [sent] if sent else []
        return self.app(environ, start_response)
