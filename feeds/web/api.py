"""The publishing API under /api/v1/: PUT, GET and DELETE /api/v1/articles/<id>, and the
audience figures at GET /api/v1/stats.

Writes need `Authorization: Bearer <token>` with the publish scope (the figures one with the
stats scope); every write is audited, refused ones too. Errors are RFC 9457 problem
documents (web/errors.py) naming each bad field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from feeds import credentials, metrics
from feeds.audience.figures import FeedFigure, figures, is_feed_path, window_start
from feeds.errors import (
    BadRequest,
    Gone,
    InvalidFields,
    NotFound,
    PreconditionFailed,
    Refused,
    StoreBusy,
    TooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from feeds.ingest import apijson, rules
from feeds.ingest.limits import MAX_ID_LENGTH
from feeds.ingest.rules import ADDED, Change, Markers, prepare
from feeds.model import INVALID_TOKEN, Article, AuditEntry, ParsedArticle
from feeds.store import Writer
from feeds.syndication.urls import article_path
from feeds.text import ID_PATTERN

from . import openapi
from .errors import status_of
from .responses import ROUTE
from .service import Service, service

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Write through the API: what the audit log records of a refused request.
REFUSED = (Refused, InvalidFields)
Write = Callable[[datetime, str], Response]


def _holder(svc: Service, scope: str = "publish") -> str:
    """The name of the active token of `scope` the request carries; raises Unauthorized."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    secret = secret.strip()
    name = None
    if scheme.lower() == "bearer" and secret:
        with svc.store.read() as reader:
            name = reader.token_holder(credentials.digest(secret), scope)
    if name is None:
        # RFC 6750 §3.1: an error code only when a token was sent.
        challenge = 'Bearer realm="feeds"' + (', error="invalid_token"' if secret else "")
        raise Unauthorized(
            f"send Authorization: Bearer <token> with an active {scope} token", challenge
        )
    return name


def _etag(article: Article) -> str:
    return f'"r{article.revision}"'


def _check_if_match(current: Article | None) -> None:
    """RFC 9110 §13.1.1: a write that names a version must find that version."""
    wanted = request.headers.get("If-Match")
    if wanted is None:
        return
    tags = [t.strip() for t in wanted.split(",")]
    if current is None or current.withdrawn is not None:
        raise PreconditionFailed("If-Match names a version, but there is no such article")
    if "*" not in tags and _etag(current) not in tags:
        raise PreconditionFailed("the article has changed since that version; GET it and retry")


def _known_shape(article_id: str) -> None:
    """An id no article can have is simply not found."""
    if not ID_PATTERN.match(article_id) or len(article_id) > MAX_ID_LENGTH:
        raise NotFound("no article has such an id")


def _shown(svc: Service, article: Article, status: int) -> Response:
    url = svc.settings.url(article_path(article.id))
    body = json.dumps(apijson.show(article, url), ensure_ascii=False)
    headers = {
        "ETag": _etag(article),
        "Cache-Control": "no-store",
        "Location": svc.settings.url(f"/api/v1/articles/{article.id}"),
    }
    return Response(body, status=status, headers=headers, content_type="application/json")


def _audited(svc: Service, article_id: str, write: Write) -> Response:
    """Authenticate and run `write(now, token)`; record who did what and the result,
    whatever it was (refused requests are counted, as the store bounds them, unless a
    writer holds the lock)."""
    now = svc.settings.now()
    token: str | None = None
    try:
        token = _holder(svc)
        response = write(now, token)
        metrics.API_WRITES.labels(request.method, str(response.status_code)).inc()
        return response
    except REFUSED as error:
        status = status_of(error)
        metrics.API_WRITES.labels(request.method, str(status)).inc()
        detail = error.detail if isinstance(error, Refused) else "the article has invalid fields"
        if token is None and "Authorization" in request.headers:
            token = INVALID_TOKEN
        entry = AuditEntry(now, token, request.method, article_id, status, detail)
        try:
            # As a recorder: a stranger's refused request never waits for the writers'
            # lock (an import holds it), and while it is held goes uncounted.
            with svc.store.record() as recorder:
                recorder.record_refused(entry)
        except StoreBusy:
            pass
        raise


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("a key appears twice")
    return dict(pairs)


def _json_body(limit: int) -> Any:
    """The request body as JSON; raises TooLarge past `limit` bytes (chunked bodies too),
    BadRequest when it is not JSON (bad UTF-8, duplicate keys, numbers or nesting beyond
    what can be read)."""
    too_large = TooLarge(f"the body is larger than {limit} bytes (FEEDS_MAX_BODY)")
    try:
        data = request.stream.read(limit + 1)
    except RequestEntityTooLarge as e:
        raise too_large from e
    except HTTPException:
        raise  # werkzeug's own answer (a body shorter than its Content-Length, say)
    except Exception as e:  # the server could not read it (a malformed chunked body): its
        # errors are its own classes, so this catches only what reading the body raised
        raise BadRequest(f"the body could not be read: {e}") from e
    if len(data) > limit:
        raise too_large
    try:
        return json.loads(data or b"null", object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError too
        raise BadRequest(f"the body is not JSON: {e}") from e


@bp.get("/openapi.json", **ROUTE)
def openapi_document() -> Response:
    body = json.dumps(openapi.document(service().settings), indent=2)
    return Response(
        body, content_type="application/json", headers={"Cache-Control": "public, max-age=300"}
    )


def _put(svc: Service, writer: Writer, parsed: ParsedArticle, now: datetime) -> str:
    """Store `parsed` by the import rules (a withdrawn article is restored: a PUT says so
    explicitly): "added", "updated" or "unchanged"."""
    change = Change(
        now=now,
        tag_authority=svc.settings.tag_authority,
        floor=writer.latest_modified(),
        markers=Markers(writer),
        locate=lambda article_id: None,  # no file
    )
    (outcome,) = rules.apply(writer, [prepare(parsed)], change, restore=True)
    return outcome.result


@bp.put("/articles/<article_id>", **ROUTE)
def put_article(article_id: str) -> Response:
    svc = service()

    def write(now: datetime, token: str) -> Response:
        if request.mimetype != "application/json":
            raise UnsupportedMediaType("send the article as Content-Type: application/json")
        body = _json_body(svc.settings.max_body)
        parsed = apijson.parse(body, article_id, svc.settings.zone, svc.settings.base_url, now)
        with svc.store.write() as writer:
            _check_if_match(writer.article(article_id))
            outcome = _put(svc, writer, parsed, now)
            stored = writer.article(article_id)
            assert stored is not None
            status = 201 if outcome == ADDED else 200
            writer.record_audit(AuditEntry(now, token, "PUT", article_id, status, outcome))
        return _shown(svc, stored, status)

    return _audited(svc, article_id, write)


@bp.get("/articles/<article_id>", **ROUTE)
def get_article(article_id: str) -> Response:
    svc = service()
    _holder(svc)
    _known_shape(article_id)
    with svc.store.read() as reader:
        stored = reader.article(article_id)
    if stored is None:
        raise NotFound(f"no article with id {article_id!r}")
    if stored.withdrawn is not None:
        raise Gone(f"article {article_id!r} was withdrawn; PUT it to restore it")
    return _shown(svc, stored, 200)


@bp.delete("/articles/<article_id>", **ROUTE)
def delete_article(article_id: str) -> Response:
    svc = service()

    def write(now: datetime, token: str) -> Response:
        with svc.store.write() as writer:
            _known_shape(article_id)
            current = writer.article(article_id)
            _check_if_match(current)  # RFC 9110 §13.2.2: preconditions before the method
            if current is None or current.withdrawn is not None:
                raise NotFound(f"no article with id {article_id!r} to withdraw")
            writer.withdraw(article_id, now, "delete")
            writer.record_audit(AuditEntry(now, token, "DELETE", article_id, 204, "withdrawn"))
        return Response(status=204, headers={"Cache-Control": "no-store"})

    return _audited(svc, article_id, write)


def _stats_params(most_days: int) -> tuple[str | None, int]:
    """?feed= and ?days= (default 7); raises BadRequest naming each bad one."""
    problems = [
        (name, "given more than once")
        for name in ("feed", "days")
        if len(request.args.getlist(name)) > 1
    ]
    feed = request.args.get("feed")
    if feed is not None and not is_feed_path(feed):
        problems.append(("feed", "give a feed's path, such as /feeds/rss.xml"))
    raw = request.args.get("days", "7")
    days = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 6 else 0
    if not 1 <= days <= most_days:
        problems.append(("days", f"a whole number of days from 1 to {most_days}"))
    unknown = sorted(set(request.args) - {"feed", "days"})
    problems += [(name, "not a parameter of /api/v1/stats") for name in unknown]
    if problems:
        raise BadRequest("; ".join(f"{name}: {detail}" for name, detail in problems))
    return feed, days


def _figure(fig: FeedFigure) -> dict[str, Any]:
    return {
        "feed": fig.feed,
        "subscribers": fig.subscribers,
        "parts": {
            "reported": fig.reported,
            "others": fig.others,
            "websub": fig.websub,
            "partners": fig.partners,
        },
        "readers": [
            {"reader": r.reader, "subscribers": r.subscribers, "reported": r.reported}
            for r in fig.readers
        ],
        "polls": fig.polls,
        "not_modified": fig.not_modified,
        "not_modified_ratio": round(fig.not_modified_ratio, 4),
        "bytes": fig.bytes,
    }


@bp.get("/stats", **ROUTE)
def audience_stats() -> Response:
    """Subscribers per feed and reader, polls, 304s and bytes (feeds.audience.figures)."""
    svc = service()
    _holder(svc, "stats")
    feed, days = _stats_params(svc.settings.stats_days)
    now = datetime.now(UTC)
    with svc.store.read() as reader:
        found = figures(reader, now, days, svc.settings.base_url, feed)
    if feed is not None and not found:
        raise NotFound(f"the feed {feed!r} was not polled in the last {days} days")
    body = {
        "days": days,
        "since": window_start(now, days).isoformat(),
        "feeds": [_figure(fig) for fig in found],
    }
    return Response(
        json.dumps(body, ensure_ascii=False),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
