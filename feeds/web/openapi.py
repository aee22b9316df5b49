"""The OpenAPI 3.1 description of the publishing API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from feeds import __version__
from feeds.config import Settings
from feeds.ingest import imagejson, limits
from feeds.text import MAX_IMAGE_SIDE

PROBLEM = {"$ref": "#/components/schemas/Problem"}
NAME = {"type": "string", "minLength": 1, "maxLength": limits.MAX_NAME_LENGTH, "pattern": r"\S"}
ID = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9][A-Za-z0-9._~-]*$",
    "maxLength": limits.MAX_ID_LENGTH,
}
SIDE = {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_IMAGE_SIDE}
BODY = (
    f"At most {limits.MAX_BODY_BYTES // 1024} KiB as a feed carries it: the HTML escaped for "
    "XML, or the HTML and its text as JSON strings."
)


def _problems(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "The body is not JSON.",
        401: "No active token of the operation's scope.",
        404: "No such article.",
        410: "The article was withdrawn.",
        412: "If-Match names another version.",
        413: "The body is too large.",
        415: "The body is not application/json.",
        422: "Invalid fields, each named.",
    }
    return {
        str(s): {
            "description": reasons[s],
            "content": {"application/problem+json": {"schema": PROBLEM}},
        }
        for s in statuses
    }


def _text(most: int, description: str) -> dict[str, Any]:
    return {"type": ["string", "null"], "maxLength": most, "description": description}


def _image_input() -> dict[str, Any]:
    """The lead image a request body may give (feeds.ingest.imagejson)."""
    return {
        "type": "object",
        "required": ["url", "alt"],
        "additionalProperties": False,
        "properties": {
            "url": {
                "type": "string",
                "minLength": 1,
                "maxLength": limits.MAX_IMAGE_URL_LENGTH,
                "description": "http or https; a relative URL is read against the site's "
                "base URL. Stored with its host IDNA-encoded and the rest percent-encoded, "
                "and at most maxLength characters so too: a character outside ASCII takes 6 "
                "to 12 once encoded, which a schema cannot state (past it, a 422).",
            },
            "alt": {
                "type": "string",
                "minLength": 1,
                "maxLength": limits.MAX_ALT_LENGTH,
                "pattern": imagejson.VISIBLE.pattern,
                "description": "What the image shows, for who cannot see it: it must have "
                "a visible character, not only white space, control or format characters "
                "(such as U+200B); the pattern states this for the Basic Multilingual Plane, "
                "and the server holds format characters beyond it (U+E0041) invisible too.",
            },
            "caption": _text(limits.MAX_CAPTION_LENGTH, "Shown under the image."),
            "credit": _text(limits.MAX_CREDIT_LENGTH, "Who made or owns the image."),
            "width": SIDE | {"description": "Pixels."},
            "height": SIDE | {"description": "Pixels."},
            "type": {
                "type": ["string", "null"],
                "pattern": imagejson.MEDIA_TYPE.pattern.removesuffix(r"\Z") + "$",
                "description": "The media type, such as image/jpeg.",
            },
            "length": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": limits.MAX_IMAGE_BYTES,
                "description": "Bytes.",
            },
        },
        "description": "The article's lead image. Text is stored with its white space "
        "folded; a blank caption or credit is none.",
    }


def _image_shown() -> dict[str, Any]:
    """The lead image as an answer shows it: only the members that are set."""
    string, count = {"type": "string"}, {"type": "integer", "minimum": 1}
    return {
        "type": "object",
        "required": ["url", "alt"],
        "properties": {
            "url": {"type": "string", "format": "uri"},
            **dict.fromkeys(("alt", "caption", "credit", "type"), string),
            **dict.fromkeys(("width", "height", "length"), count),
        },
    }


def _article_answer(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {
            "ETag": {
                "schema": {"type": "string"},
                "description": "The article's version, for If-Match.",
            }
        },
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Article"}}},
    }


def _stats(settings: Settings) -> dict[str, Any]:
    """GET /stats: the audience figures (feeds.audience.figures)."""
    count = {"type": "integer", "minimum": 0}
    parameters = [
        {
            "name": "feed",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "pattern": "^/", "maxLength": 512},
            "description": "Only this feed, by its path (/feeds/rss.xml).",
        },
        {
            "name": "days",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": settings.stats_days},
            "description": "Over the last N days, today (UTC) included; 7 by default.",
        },
    ]
    figure = {
        "type": "object",
        "required": ["feed", "subscribers", "parts", "readers", "polls", "not_modified", "bytes"],
        "properties": {
            "feed": {"type": "string"},
            "subscribers": count,
            "parts": {
                "type": "object",
                "required": ["reported", "others", "websub", "partners"],
                "properties": dict.fromkeys(("reported", "others", "websub", "partners"), count),
            },
            "readers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["reader", "subscribers", "reported"],
                    "properties": {
                        "reader": {"type": "string"},
                        "subscribers": count,
                        "reported": {"type": "boolean"},
                    },
                },
            },
            "polls": count,
            "not_modified": count,
            "not_modified_ratio": {"type": "number", "minimum": 0, "maximum": 1},
            "bytes": count,
        },
    }
    answer = {
        "type": "object",
        "required": ["days", "since", "feeds"],
        "properties": {
            "days": {"type": "integer"},
            "since": {"type": "string", "format": "date"},
            "feeds": {"type": "array", "items": figure},
        },
    }
    return {
        "get": {
            "summary": "Subscribers, polls, 304s and bytes served per feed (as `feeds stats`)",
            "description": "Needs a token with the stats scope: "
            "`feeds token create --scope stats`.",
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "The figures of every feed polled in the window.",
                    "content": {"application/json": {"schema": answer}},
                },
                **_problems(401),
                **{
                    status: {
                        "description": reason,
                        "content": {"application/problem+json": {"schema": PROBLEM}},
                    }
                    for status, reason in (
                        ("400", "A bad parameter, named in the detail."),
                        ("404", "The feed named was not polled in the window."),
                    )
                },
            },
        }
    }


def document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI document for this deployment (server URL from FEEDS_BASE_URL)."""
    if_match = {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "Only act if the article is still at this version (ETag).",
    }
    article_id = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": ID,
        "description": "The article's id, as a file name without extension.",
    }
    when = {
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339; without an offset, FEEDS_TIMEZONE's wall clock.",
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{settings.title} publishing API",
            "version": __version__,
            "description": "Create, replace, read and withdraw articles. Writes need a "
            "publish token: `feeds token create --scope publish`.",
        },
        "servers": [{"url": settings.url("/api/v1")}],
        "security": [{"bearer": []}],
        "paths": {
            "/articles/{id}": {
                "parameters": [article_id],
                "put": {
                    "summary": "Create or replace an article",
                    "parameters": [if_match],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ArticleInput"}
                            }
                        },
                    },
                    "responses": {
                        "200": _article_answer("Replaced, or unchanged."),
                        "201": _article_answer("Created."),
                        **_problems(400, 401, 412, 413, 415, 422),
                    },
                },
                "get": {
                    "summary": "Read an article",
                    "responses": {
                        "200": _article_answer("The article."),
                        **_problems(401, 404, 410),
                    },
                },
                "delete": {
                    "summary": "Withdraw an article (as `feeds delete`)",
                    "parameters": [if_match],
                    "responses": {"204": {"description": "Withdrawn."}, **_problems(401, 404, 412)},
                },
            },
            "/stats": _stats(settings),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "ArticleInput": {
                    "type": "object",
                    "required": ["title", "published"],
                    "additionalProperties": False,
                    "properties": {
                        "title": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": limits.MAX_TITLE_LENGTH,
                            "pattern": r"\S",
                        },
                        "published": when,
                        "updated": when,
                        "section": ID,
                        "authors": {"type": "array", "maxItems": limits.MAX_AUTHORS, "items": NAME},
                        "tags": {"type": "array", "maxItems": limits.MAX_TAGS, "items": NAME},
                        "text": {
                            "type": "string",
                            "description": "Paragraphs, one a line (the text layout). " + BODY,
                        },
                        "html": {
                            "type": "string",
                            "description": "HTML, sanitised to an allow-list for news. " + BODY,
                        },
                        "image": {
                            "anyOf": [
                                {"$ref": "#/components/schemas/ImageInput"},
                                {"type": "null"},
                            ],
                            "description": "The lead image; without it, an HTML body's first "
                            "image with alt text serves in feeds and pages.",
                        },
                    },
                    "description": "The body is exactly one of text and html.",
                },
                "Article": {
                    "type": "object",
                    "required": [
                        "id",
                        "url",
                        "tag",
                        "title",
                        "published",
                        "updated",
                        "authors",
                        "tags",
                        "revision",
                    ],
                    "properties": {
                        "id": {"type": "string"},
                        "url": {"type": "string", "format": "uri"},
                        "tag": {"type": "string"},
                        "title": {"type": "string"},
                        "published": {"type": "string", "format": "date-time"},
                        "updated": {"type": "string", "format": "date-time"},
                        "section": {"type": ["string", "null"]},
                        "authors": {"type": "array", "items": {"type": "string"}},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "text": {"type": "string"},
                        "html": {"type": "string"},
                        "revision": {"type": "integer", "minimum": 1},
                        "image": {"$ref": "#/components/schemas/Image"},
                    },
                },
                "ImageInput": _image_input(),
                "Image": _image_shown(),
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["field", "detail"],
                                "properties": {
                                    "field": {"type": "string"},
                                    "detail": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    }
