"""Errors as HTTP answers, in one table: RFC 9457 problem documents under /api/, short text
elsewhere. Views raise the service's errors (feeds.errors); none builds an error answer."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from feeds import errors as e

from .responses import text
from .service import Service

PROBLEM = "application/problem+json"
RETRY_AFTER = "10"  # seconds, when the store does not answer

# Error class -> (status, problem title). A class not here maps as its nearest base does; a
# FeedsError that maps to nothing is a defect: 500.
STATUS: dict[type[e.FeedsError], tuple[int, str]] = {
    e.BadRequest: (400, "Malformed request"),
    e.Unauthorized: (401, "Unauthorized"),
    e.NotFound: (404, "Not found"),
    e.Gone: (410, "Gone"),
    e.PreconditionFailed: (412, "Precondition failed"),
    e.TooLarge: (413, "Request body too large"),
    e.UnsupportedMediaType: (415, "Unsupported media type"),
    e.InvalidFields: (422, "Invalid article"),
    e.TooManyRequests: (429, "Too many requests"),
    e.NoSchema: (500, "No schema"),
    e.StoreUnavailable: (503, "Service unavailable"),
    e.StoreBusy: (503, "Service unavailable"),
}
# What a client is told instead of an error's own message (which may name the database).
_PAGE_TEXT: dict[type[e.FeedsError], str] = {
    e.StoreUnwritable: "The store cannot be written at the moment; try again shortly.",
    e.StoreBusy: "The store is busy (an import is running); try again shortly.",
    e.StoreError: "The service is temporarily unavailable; try again shortly.",
}
_API_TEXT: dict[type[e.FeedsError], str] = {
    e.StoreUnwritable: "the store cannot be written at the moment; retry shortly",
    e.StoreBusy: "another write holds the store (an import); retry shortly",
    e.StoreError: "the store does not answer; retry shortly",
    e.InvalidFields: "the article has invalid fields",
}


def _nearest(error: e.FeedsError, table: dict[type[e.FeedsError], Any]) -> Any:
    """What `table` holds for the error's class or its nearest base; None if nothing."""
    return next((table[cls] for cls in type(error).__mro__ if cls in table), None)


# Titles of werkzeug's own answers, in the same words as the service's.
_TITLES = {status: title for status, title in STATUS.values()} | {
    405: "Method not allowed",
    500: "Internal error",  # not "No schema": only NoSchema is that
}


def _status(error: e.FeedsError) -> tuple[int, str]:
    return _nearest(error, STATUS) or (500, "Internal error")


def status_of(error: e.FeedsError) -> int:
    """The HTTP status `error` is answered with."""
    return _status(error)[0]


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(
        json.dumps(body),  # ASCII escapes: any text a client sent is safe to echo
        status=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
        content_type=PROBLEM,
    )


def _headers(error: e.FeedsError, status: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    if isinstance(error, e.Unauthorized):
        headers["WWW-Authenticate"] = error.challenge
    if isinstance(error, e.TooManyRequests):
        headers["Retry-After"] = str(error.retry_after)
        headers["Cache-Control"] = "private, no-store"  # one client's answer
    if status == 503:
        headers["Retry-After"] = RETRY_AFTER
    return headers


def _api() -> bool:
    return request.path.startswith("/api/")


def answer(error: e.FeedsError) -> Response:
    """The answer to a request that raised `error`."""
    status, title = _status(error)
    if status >= 500:
        current_app.logger.error("%s: %s", type(error).__name__, error)
    headers = _headers(error, status)
    if isinstance(error, e.NoSchema):  # the operator's to fix: say how
        detail = "The store has no schema yet; run `feeds migrate`."
        return problem(status, title, detail, headers) if _api() else text(detail, status, headers)
    if _api():
        extra = {"errors": error.errors} if isinstance(error, e.InvalidFields) else {}
        detail = _nearest(error, _API_TEXT) or str(error)
        return problem(status, title, detail, headers, **extra)
    return text(_nearest(error, _PAGE_TEXT) or str(error), status, headers)


def _http_error(error: HTTPException) -> Response:
    """werkzeug's own: unknown routes (404), methods (405), bodies past FEEDS_MAX_BODY."""
    status = error.code or 500
    allowed = getattr(error, "valid_methods", None)
    headers = {"Allow": ", ".join(allowed)} if allowed else {}
    if isinstance(error, RequestEntityTooLarge):
        limit = Service.of(current_app).settings.max_body
        return answer(e.TooLarge(f"the body is larger than {limit} bytes (FEEDS_MAX_BODY)"))
    if _api():
        title = _TITLES.get(status, error.name)
        return problem(status, title, error.description or "", headers)
    return text(error.name, status, headers)


def register(app: Flask) -> None:
    app.register_error_handler(e.FeedsError, answer)
    app.register_error_handler(HTTPException, _http_error)
