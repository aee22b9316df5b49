"""Partners' private feeds: /partners/NAME/{rss.xml,atom.xml,feed.json} and their archives
(/partners/NAME/archive/YYYY/MM/PART/...), behind a feed token (?token=, Bearer or Basic),
through the same render cache and conditional GET as public feeds, with Cache-Control
private and a bound on how often full answers are given."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from flask import Blueprint, Response, request

from feeds import credentials
from feeds.errors import StoreBusy, TooManyRequests, Unauthorized
from feeds.model import Partner
from feeds.store import Reader
from feeds.syndication.plan import plan
from feeds.syndication.urls import DocKey

from .cache import Built
from .feed_view import view_built
from .hits import VIEW, navigation
from .public import archive_key, feed_built, format_of
from .responses import ROUTE, cached
from .service import Service, service

bp = Blueprint("partners", __name__)
CHALLENGE = 'Bearer realm="partners", Basic realm="partners"'


def request_token(given: str | None) -> str:
    """The feed token: `given` (a ?token= value) when set, else the request's Authorization:
    Bearer, or Basic's password (any user name); "" when there is none."""
    if given:
        return given
    auth = request.authorization
    if auth is not None and auth.type == "bearer" and auth.token:
        return auth.token
    if auth is not None and auth.type == "basic" and auth.password:
        return auth.password
    return ""


def active_partner(svc: Service, name: str, token: str) -> Partner | None:
    """The active partner `name` if `token` is its feed token, else None: in about the same
    time for an unknown partner (or a name none can have), a wrong token and a revoked one."""
    partner: Partner | None = None
    if credentials.PARTNER_NAME.fullmatch(name):  # no lookup of a name no partner can have
        with svc.store.read() as reader:
            partner = reader.partner(name)
    matches = credentials.matches(partner.digest if partner else credentials.NOBODY, token)
    if partner is None or not matches or partner.revoked is not None:
        return None
    return partner


def _authenticate(svc: Service, name: str) -> Partner:
    """The active partner `name` if the request carries its token (?token=, Bearer or
    Basic); raises Unauthorized, with the same answer whatever is wrong (active_partner)."""
    partner = active_partner(svc, name, request_token(request.args.get("token")))
    if partner is None:
        raise Unauthorized("A valid partner feed token is needed.", CHALLENGE)
    return partner


def _claim(svc: Service, partner: str, path: str, now: datetime) -> int:
    """0 when the partner may have a full answer for `path` now (recorded), else the wait:
    by the shared record, and by this worker's own grants, which while a writer holds the
    store are all there is."""
    interval = svc.settings.partner_min_interval
    wait = svc.polls.wait(partner, path, now, interval)
    if not wait:
        try:
            with svc.store.record() as recorder:
                wait = recorder.claim_poll(partner, path, now, interval)
        except StoreBusy:
            pass
    if not wait:
        svc.polls.note(partner, path, now)
    return wait


@bp.get("/partners/<name>/<filename>", **ROUTE)
def partner_feed(name: str, filename: str) -> Response:
    return _serve(name, DocKey(partner=name), filename)


@bp.get("/partners/<name>/archive/<year>/<month>/<part>/<filename>", **ROUTE)
def partner_archive(name: str, year: str, month: str, part: str, filename: str) -> Response:
    key = archive_key(None, year, month, part)
    return _serve(name, DocKey(month=key.month, part=key.part, partner=name), filename)


def _serve(name: str, key: DocKey, filename: str) -> Response:
    svc = service()
    settings = svc.settings
    partner = _authenticate(svc, name)
    fmt = format_of(filename)
    token = request.args.get("token")
    query = f"?token={quote(token, safe='')}" if token else ""  # readers re-use the self link
    path = key.path(fmt.NAME)
    # Kept under a key no request path can be (hits.CacheHits never answers it), one per
    # token given in the URL, named by its digest; its page under VIEW and that key, which
    # no path can be either.
    kept = f"partner:{path}" + (f":{credentials.digest(query)[:16]}" if query else "")

    if navigation(request.environ):  # its page: no full answer of the feed, so not limited

        def page(reader: Reader, now: datetime) -> Built | None:
            planned = plan(reader, settings, key, now, partner, query, svc.cache.articles.load)
            return None if planned is None else view_built(svc, reader, planned, fmt, now)

        return cached(svc, VIEW + kept, page, missing="no such archive")

    def build(reader: Reader, now: datetime) -> Built | None:
        planned = plan(reader, settings, key, now, partner, query, svc.cache.articles.load)
        return None if planned is None else feed_built(svc, reader, planned, fmt, now, True)

    def limit() -> None:  # 304s and HEAD requests are free
        if request.method != "GET":
            return
        wait = _claim(svc, partner.name, path, settings.now())
        if wait:
            raise TooManyRequests(
                f"Too many full requests; revalidate with If-None-Match, or retry in {wait} s.",
                wait,
            )

    return cached(svc, kept, build, missing="no such archive", before_body=limit)
