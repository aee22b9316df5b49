"""Errors as HTTP answers: RFC 9457 problem documents under /api/, short text elsewhere."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from feeds.errors import StoreUnavailable

PROBLEM = "application/problem+json"
TITLES = {
    400: "Malformed request",
    401: "Unauthorized",
    404: "Not found",
    410: "Gone",
    412: "Precondition failed",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid article",
}


def problem(
    status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    return Response(
        json.dumps(body),  # ASCII escapes: any text a client sent is safe to echo
        status=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
        content_type=PROBLEM,
    )


def _http_error(error: HTTPException) -> Response | HTTPException:
    """Unknown routes and methods under /api/ answer with problem documents too."""
    if not request.path.startswith("/api/"):
        return error
    allowed = getattr(error, "valid_methods", None)
    headers = {"Allow": ", ".join(allowed)} if allowed else {}
    return problem(error.code or 500, error.description or "", headers)


def _store_unavailable(error: StoreUnavailable) -> Response:
    current_app.logger.error("%s", error)
    if request.path.startswith("/api/"):
        return problem(503, "the store does not answer; retry shortly", {"Retry-After": "10"})
    return Response(
        "The service is temporarily unavailable; try again shortly.\n",
        status=503,
        content_type="text/plain; charset=utf-8",
        headers={"Retry-After": "10", "Cache-Control": "no-store"},
    )


def register(app: Flask) -> None:
    for code in (404, 405):
        app.register_error_handler(code, _http_error)
    app.register_error_handler(StoreUnavailable, _store_unavailable)
