"""/metrics, for Prometheus: the figures of every process of the server, in the text
format, to addresses FEEDS_METRICS_FROM names or a bearer of a `metrics` token; and the
Flask hook that counts every answer the render cache did not give (web/observe.py counts
those)."""

from __future__ import annotations

from ipaddress import ip_address

from flask import Blueprint, Flask, Response, request

from feeds import credentials, metrics
from feeds.errors import FeedsError

from .clients import client_address
from .errors import problem
from .observe import NOTED
from .responses import ROUTE
from .service import Service, service

bp = Blueprint("monitoring", __name__)
UNMATCHED = "unmatched"  # the route of a request no route takes: never its path


def _allowed(svc: Service) -> Response | None:
    """None when the request may read the figures; else the 401 or 403 to answer."""
    settings = svc.settings
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    secret = secret.strip()
    if scheme or secret:
        if scheme.lower() == "bearer" and secret:
            with svc.store.read() as reader:
                if reader.token_holder(credentials.digest(secret), "metrics") is not None:
                    return None
        challenge = 'Bearer realm="feeds", error="invalid_token"'
        detail = "send Authorization: Bearer <token> with an active metrics token"
        return problem(401, "Unauthorized", detail, {"WWW-Authenticate": challenge})
    remote = request.remote_addr or ""
    client = client_address(
        remote, request.headers.get("X-Forwarded-For"), settings.trusted_proxies
    )
    try:
        address = ip_address(client)
    except ValueError:
        address = None
    if address is not None and any(address in net for net in settings.metrics_networks):
        return None
    detail = (
        "the metrics are for addresses in FEEDS_METRICS_FROM, or send "
        "Authorization: Bearer <token> with a metrics token"
    )
    return problem(403, "Forbidden", detail)


def _stored(svc: Service) -> metrics.Stored | None:
    """The hub's figures and the imports' totals as the store has them; None while the store
    cannot be read (the rest of the figures are served all the same: that is when they
    matter most)."""
    try:
        with svc.store.read() as reader:
            return metrics.Stored(
                len(reader.subscriptions()), reader.backlog(), reader.import_figures()
            )
    except FeedsError:
        return None


@bp.get("/metrics", **ROUTE)
def scrape() -> Response:
    svc = service()
    refused = _allowed(svc)
    if refused is not None:
        return refused
    body = metrics.scrape(lambda: _stored(svc))
    return Response(body, content_type=metrics.CONTENT_TYPE, headers={"Cache-Control": "no-store"})


def _counted(response: Response) -> Response:
    """Count an answer that web/observe.py did not: errors, the API, /hub, /metrics."""
    if not request.environ.get(NOTED):
        rule = request.url_rule
        metrics.answered(rule.rule if rule is not None else UNMATCHED, response.status_code)
    return response


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    app.after_request(_counted)
