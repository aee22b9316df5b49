"""The publishing API under /api/v1/: PUT, GET and DELETE /api/v1/articles/<id>.

Writes need `Authorization: Bearer <token>` with the publish scope; every write is audited.
Errors are RFC 9457 problem documents (application/problem+json) naming each bad field.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from feeds import tokens
from feeds.ingest import apijson as articlejson
from feeds.ingest.importer import store_article
from feeds.model import Article
from feeds.syndication.plan import article_path
from feeds.text import ID_PATTERN

from . import openapi
from .errors import problem
from .service import Service, service

api = Blueprint("api", __name__, url_prefix="/api/v1")
ROUTE: dict[str, Any] = {"provide_automatic_options": False}


class Problem(Exception):
    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


@api.errorhandler(Problem)
def _problem(error: Problem) -> Response:
    headers = {}
    if error.status == 401:  # RFC 6750 §3.1: an error code only when a token was sent
        sent = request.headers.get("Authorization", "").strip().partition(" ")[2].strip()
        error_code = ', error="invalid_token"' if sent else ""
        headers["WWW-Authenticate"] = f'Bearer realm="feeds"{error_code}'
    return problem(error.status, error.detail, headers, **error.extra)


@api.errorhandler(RequestEntityTooLarge)
def _too_large(error: HTTPException) -> Response:
    limit = service().settings.max_body
    return problem(413, f"the body is larger than {limit} bytes (FEEDS_MAX_BODY)")


def _token(svc: Service) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    with svc.store.read() as reader:
        name = (
            tokens.authenticate(reader, secret.strip(), "publish")
            if (scheme.lower() == "bearer" and secret.strip())
            else None
        )
    if name is None:
        raise Problem(401, "send Authorization: Bearer <token> with an active publish token")
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
        raise Problem(412, "If-Match names a version, but there is no such article")
    if "*" not in tags and _etag(current) not in tags:
        raise Problem(412, "the article has changed since that version; GET it and retry")


def _known_shape(article_id: str) -> None:
    """An id no article can have is simply not found."""
    if not ID_PATTERN.match(article_id) or len(article_id) > articlejson.MAX_ID_LENGTH:
        raise Problem(404, "no article has such an id")


def _shown(svc: Service, article: Article, status: int) -> Response:
    url = svc.settings.url(article_path(article.id))
    body = json.dumps(articlejson.show(article, url), ensure_ascii=False)
    headers = {
        "ETag": _etag(article),
        "Cache-Control": "no-store",
        "Location": svc.settings.url(f"/api/v1/articles/{article.id}"),
    }
    return Response(body, status=status, headers=headers, content_type="application/json")


def _audited(svc: Service, article_id: str, write: Any) -> Response:
    """Authenticate and run `write(now, token)`; record who did what and the result,
    whatever it was (refused requests too)."""
    now = svc.settings.now()
    token: str | None = None
    try:
        token = _token(svc)
        response: Response = write(now, token)
    except Problem as error:
        with svc.store.write() as writer:
            tokens.record(
                writer, now, token, request.method, article_id, error.status, error.detail
            )
        raise
    return response


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("a key appears twice")
    return dict(pairs)


def _json_body(limit: int) -> Any:
    """The request body as JSON; 413 past `limit` bytes (chunked bodies too), 400 when it is
    not JSON (bad UTF-8, duplicate keys, numbers or nesting beyond what can be read)."""
    too_large = Problem(413, f"the body is larger than {limit} bytes (FEEDS_MAX_BODY)")
    try:
        data = request.stream.read(limit + 1)
    except RequestEntityTooLarge as e:
        raise too_large from e
    if len(data) > limit:
        raise too_large
    try:
        return json.loads(data or b"null", object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError too
        raise Problem(400, f"the body is not JSON: {e}") from e


@api.get("/openapi.json", **ROUTE)
def openapi_document() -> Response:
    body = json.dumps(openapi.document(service().settings), indent=2)
    return Response(
        body, content_type="application/json", headers={"Cache-Control": "public, max-age=300"}
    )


@api.put("/articles/<article_id>", **ROUTE)
def put_article(article_id: str) -> Response:
    svc = service()

    def write(now: Any, token: str) -> Response:
        if request.mimetype != "application/json":
            raise Problem(415, "send the article as Content-Type: application/json")
        body = _json_body(svc.settings.max_body)
        try:
            parsed = articlejson.parse(
                body, article_id, svc.settings.zone, svc.settings.base_url, now
            )
        except articlejson.InvalidFields as e:
            raise Problem(422, "the article has invalid fields", errors=e.errors) from e
        with svc.store.write() as writer:
            _check_if_match(writer.article(article_id))
            outcome = store_article(writer, svc.settings, parsed, now)
            stored = writer.article(article_id)
            assert stored is not None
            tokens.record(
                writer, now, token, "PUT", article_id, 201 if outcome == "added" else 200, outcome
            )
        return _shown(svc, stored, 201 if outcome == "added" else 200)

    return _audited(svc, article_id, write)


@api.get("/articles/<article_id>", **ROUTE)
def get_article(article_id: str) -> Response:
    svc = service()
    _token(svc)
    _known_shape(article_id)
    with svc.store.read() as reader:
        found = reader.article(article_id)
    if found is None:
        raise Problem(404, f"no article with id {article_id!r}")
    if found.withdrawn is not None:
        raise Problem(410, f"article {article_id!r} was withdrawn; PUT it to restore it")
    return _shown(svc, found, 200)


@api.delete("/articles/<article_id>", **ROUTE)
def delete_article(article_id: str) -> Response:
    svc = service()

    def write(now: Any, token: str) -> Response:
        with svc.store.write() as writer:
            _known_shape(article_id)
            current = writer.article(article_id)
            _check_if_match(current)  # RFC 9110 §13.2.2: preconditions before the method
            if current is None or current.withdrawn is not None:
                raise Problem(404, f"no article with id {article_id!r} to withdraw")
            writer.withdraw(article_id, now, "delete")
            tokens.record(writer, now, token, "DELETE", article_id, 204, "withdrawn")
        return Response(status=204, headers={"Cache-Control": "no-store"})

    return _audited(svc, article_id, write)
