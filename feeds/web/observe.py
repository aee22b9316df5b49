"""What is noted of every document answered from the render cache, whether by the fast path
(hits.CacheHits) or by a view (responses.cached): the one place the audience figures
(feeds.audience) and the metrics (feeds.metrics) hear of an answer. It runs on every poll,
so it does in memory what little it does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from feeds import metrics

from .cache import Rendered
from .clients import client_address
from .service import Service

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


NOTED = "feeds.noted"


def served(svc: Service, environ: WSGIEnvironment, entry: Rendered, status: int, size: int) -> None:
    """`entry` was answered with `status` (200 or 304) and `size` bytes of body to the
    request of `environ`."""
    environ[NOTED] = True  # the Flask hook (web/monitoring.py) counts it no second time
    metrics.served(entry.route, entry.format, status, size)
    if entry.subscription:
        # A partner's document is kept under a private key: its public path is the request's.
        path = environ.get("PATH_INFO", "")
        if entry.private:
            svc.audience.note_partner(path, status, size)
        else:
            address = client_address(
                environ.get("REMOTE_ADDR", ""),
                environ.get("HTTP_X_FORWARDED_FOR"),
                svc.settings.trusted_proxies,
            )
            svc.audience.note(path, address, environ.get("HTTP_USER_AGENT", ""), status, size)
