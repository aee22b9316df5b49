"""HTTP: feeds, archives, pages, the feed directory and health, with conditional GET, gzip
and caching headers.

Every absolute URL comes from FEEDS_BASE_URL; nothing here reads the Host header.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from datetime import datetime
from types import ModuleType
from urllib.parse import quote

from flask import Blueprint, Response, abort, render_template, request
from werkzeug.http import http_date

from feeds import partners
from feeds.config import Settings
from feeds.formats import BY_FILENAME, FORMATS
from feeds.store.database import Reader
from feeds.syndication import opml
from feeds.syndication.plan import (
    DocKey,
    Month,
    Validators,
    article_path,
    article_validators,
    document,
    feed_path,
    horizon,
    lifetime,
    max_age,
    partner_plan,
    plan,
    section_label,
    section_path,
    validators,
)

from .cache import Builder, Built, accepts_gzip, answer, conditions
from .conditional import not_modified
from .service import Service, service

bp = Blueprint("feeds", __name__)
# Only GET and HEAD are served; everything else, OPTIONS included, is 405 with an Allow header.
ROUTE = {"provide_automatic_options": False}
FEED_LABELS = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}
HTML = "text/html; charset=utf-8"
_YEAR, _MONTH, _PART = (
    re.compile(r"^\d{4}$"),
    re.compile(r"^(0[1-9]|1[0-2])$"),
    re.compile(r"^[1-9]\d*$"),
)


def _accepts_gzip() -> bool:
    return accepts_gzip(request.headers.get("Accept-Encoding", ""))


def conditional_response(
    found: Validators,
    media_type: str,
    render: Callable[[], bytes],
    *,
    seconds: int,
    links: list[str],
    private: bool = False,
    before_render: Callable[[], Response | None] | None = None,
) -> Response:
    """A 304 decided from `found` alone, or a 200 from `render()`, gzipped when accepted.
    `before_render` may answer instead of the 200 (a rate limit)."""
    gz = _accepts_gzip()
    etag = found.etag + ("-gz" if gz else "")
    headers = {
        "ETag": f'"{etag}"',
        "Cache-Control": f"{'private' if private else 'public'}, max-age={seconds}",
        "Vary": "Accept-Encoding",
        "Link": ", ".join(links),
    }
    variants = (found.etag, found.etag + "-gz")
    if not_modified(
        request.headers.get("If-None-Match"),
        request.if_modified_since,
        variants,
        found.last_modified,
    ):
        return Response(status=304, headers=headers)
    if before_render is not None and (refusal := before_render()) is not None:
        return refusal
    headers["Last-Modified"] = http_date(found.last_modified)
    body = render()
    if gz:
        body = gzip.compress(body, compresslevel=6, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(body, status=200, headers=headers, content_type=media_type)


def cached_response(key: str, build: Builder, svc: Service | None = None) -> Response:
    """A document from the render cache (built by `build` when missing or out of date): a
    304 decided from its validators, or its bytes, gzipped when accepted; 404 when `build`
    finds no such document. (Up-to-date documents are mostly answered before Flask, by
    cache.CacheHits, in the same way.)"""
    svc = svc or service()
    now = svc.settings.now()
    headers = request.headers
    needs_body = conditions(headers.get("If-None-Match"), headers.get("If-Modified-Since"))
    entry = svc.cache.get(key, now, build, settled, needs_body)
    if entry is None:
        abort(404)
    gz = accepts_gzip(headers.get("Accept-Encoding", ""))
    status, answer_headers, body = answer(entry, now, gz, needs_body)
    response = Response(body, status=status)
    response.headers.remove("Content-Type")
    response.headers.remove("Content-Length")
    # Built and checked once per entry (cache.Variant), so added as they are.
    response.headers._list += answer_headers
    return response


def _feed_links(settings: Settings, section: str | None) -> list[str]:
    """Link header values naming the feeds of the site or a section (RFC 8288)."""
    title = settings.title + (f" — {section_label(section)}" if section else "")
    links = []
    for name, module in FORMATS.items():
        media_type = module.MEDIA_TYPE.split(";")[0]
        label = f"{title} ({FEED_LABELS[name]})"
        url = settings.url(feed_path(name, section))
        links.append(f'<{url}>; rel="alternate"; type="{media_type}"; {_link_title(label)}')
    return links


def settled(reader: Reader, document: str, found: Validators, now: datetime) -> Validators:
    """`found`, with a Last-Modified that moves whenever the ETag does (see Store.settle)."""
    moment = service().store.settle(reader, document, found.etag, found.last_modified, now)
    return Validators(found.etag, moment)


def _link_title(label: str) -> str:
    """A Link title parameter; RFC 8187 encoding when the text is not plain ASCII."""
    if label.isascii() and '"' not in label and "\\" not in label:
        return f'title="{label}"'
    return "title*=UTF-8''" + quote(label, safe="")


def _serve_feed(key: DocKey, filename: str) -> Response:
    fmt: ModuleType | None = BY_FILENAME.get(filename)
    if fmt is None:
        abort(404)
    svc = service()
    settings = svc.settings
    path = key.path(fmt.NAME)

    def build(reader: Reader, now: datetime) -> Built | None:
        found = plan(reader, settings, key, now)
        if found is None:
            return None
        return Built(
            validators(settings, found, fmt.NAME),
            fmt.MEDIA_TYPE,
            lambda: fmt.parts(
                document(reader, settings, found, svc.cache.articles.load), svc.cache.entries
            ),
            max_age=lifetime(settings, found),
            links=f'<{settings.url(path)}>; rel="self"',
            valid_until=horizon(settings, found, now),
        )

    return cached_response(path, build, svc)


def _archive_key(section: str | None, year: str, month: str, part: str) -> DocKey:
    if not (_YEAR.match(year) and _MONTH.match(month) and _PART.match(part)):
        abort(404)
    return DocKey(section, Month(int(year), int(month)), int(part))


@bp.get("/feeds/<filename>", **ROUTE)
def feed(filename: str) -> Response:
    return _serve_feed(DocKey(), filename)


@bp.get("/feeds/<section>/<filename>", **ROUTE)
def section_feed(section: str, filename: str) -> Response:
    return _serve_feed(DocKey(section), filename)


@bp.get("/feeds/archive/<year>/<month>/<part>/<filename>", **ROUTE)
def archive(year: str, month: str, part: str, filename: str) -> Response:
    return _serve_feed(_archive_key(None, year, month, part), filename)


@bp.get("/feeds/<section>/archive/<year>/<month>/<part>/<filename>", **ROUTE)
def section_archive(section: str, year: str, month: str, part: str, filename: str) -> Response:
    return _serve_feed(_archive_key(section, year, month, part), filename)


def _page(template: str, section: str | None = None, **context: object) -> bytes:
    settings = service().settings
    feeds = [
        (
            FEED_LABELS[name],
            settings.url(feed_path(name, section)),
            FORMATS[name].MEDIA_TYPE.split(";")[0],
        )
        for name in FORMATS
    ]
    return render_template(
        template,
        settings=settings,
        feeds=feeds,
        section=section,
        section_label=section_label(section) if section else None,
        opml_url=settings.url("/feeds.opml"),
        **context,
    ).encode()


@bp.get("/feeds/authors/<author>/<filename>", **ROUTE)
def author_feed(author: str, filename: str) -> Response:
    return _serve_feed(DocKey(author=author), filename)


@bp.get("/feeds/authors/<author>/archive/<year>/<month>/<part>/<filename>", **ROUTE)
def author_archive(author: str, year: str, month: str, part: str, filename: str) -> Response:
    key = _archive_key(None, year, month, part)
    return _serve_feed(DocKey(month=key.month, part=key.part, author=author), filename)


def _partner_secret() -> str:
    """The feed token from ?token=, Authorization: Bearer, or Basic (any user name)."""
    if request.args.get("token"):
        return request.args["token"]
    auth = request.authorization
    if auth is not None and auth.type == "bearer" and auth.token:
        return auth.token
    if auth is not None and auth.type == "basic" and auth.password:
        return auth.password
    return ""


def _unauthorized() -> Response:
    # The same answer for an unknown partner, a wrong token and a revoked one.
    return Response(
        "A valid partner feed token is needed.\n",
        status=401,
        content_type="text/plain; charset=utf-8",
        headers={
            "WWW-Authenticate": 'Bearer realm="partners", Basic realm="partners"',
            "Cache-Control": "no-store",
        },
    )


@bp.get("/partners/<name>/<filename>", **ROUTE)
def partner_feed(name: str, filename: str) -> Response:
    fmt: ModuleType | None = BY_FILENAME.get(filename)
    svc = service()
    now = svc.settings.now()
    with svc.store.read() as reader:
        partner = partners.authenticate(reader, name, _partner_secret())
        if partner is None:
            return _unauthorized()
        if fmt is None:
            abort(404)
        token = request.args.get("token")
        query = f"?token={quote(token, safe='')}" if token else ""
        found = partner_plan(reader, svc.settings, partner, now, query)
        path = found.key.path(fmt.NAME)
        response = conditional_response(
            settled(reader, path, validators(svc.settings, found, fmt.NAME), now),
            fmt.MEDIA_TYPE,
            lambda: fmt.render(document(reader, svc.settings, found)),
            seconds=max_age(reader, svc.settings, now, found),
            links=[f'<{svc.settings.url(path)}>; rel="self"'],
            private=True,
            before_render=lambda: _rate_limit(partner.name, path, now),
        )
    return response


def _rate_limit(partner: str, path: str, now: datetime) -> Response | None:
    """429 when full answers come faster than FEEDS_PARTNER_MIN_INTERVAL; 304s and HEAD
    requests are free."""
    if request.method == "HEAD":
        return None
    svc = service()
    with svc.store.write() as writer:
        wait = partners.claim_full_answer(
            writer, partner, path, now, svc.settings.partner_min_interval
        )
    if not wait:
        return None
    return Response(
        f"Too many full requests; revalidate with If-None-Match, or retry in {wait} s.\n",
        status=429,
        content_type="text/plain; charset=utf-8",
        headers={"Retry-After": str(wait), "Cache-Control": "private, no-store"},
    )


def _serve_listing(section: str | None) -> Response:
    settings = service().settings
    page = section_path(section) if section else "/"
    template = "section.html" if section else "index.html"

    def build(reader: Reader, now: datetime) -> Built | None:
        found = plan(reader, settings, DocKey(section), now)
        if found is None:
            return None
        return Built(
            validators(settings, found, "html"),
            HTML,
            lambda: [_page(template, section, doc=document(reader, settings, found))],
            max_age=lifetime(settings),
            links=", ".join(_feed_links(settings, section)),
            valid_until=horizon(settings, found, now),
        )

    return cached_response(page, build)


@bp.get("/", **ROUTE)
def index() -> Response:
    return _serve_listing(None)


@bp.get("/sections/<section>", **ROUTE)
def section_page(section: str) -> Response:
    return _serve_listing(section)


@bp.get("/articles/<article_id>", **ROUTE)
def article(article_id: str) -> Response:
    settings = service().settings
    path = article_path(article_id)

    def build(reader: Reader, now: datetime) -> Built | None:
        found = reader.article(article_id)
        if found is None or found.published > now:  # unknown, or under embargo
            return None
        if found.withdrawn is not None:
            abort(410)
        links = _feed_links(settings, None)
        if found.section:
            links += _feed_links(settings, found.section)
        return Built(
            article_validators(settings, found),
            HTML,
            lambda: [_page("article.html", found.section, article=found, url=settings.url(path))],
            max_age=lifetime(settings),
            links=", ".join(links),
            settle=False,
        )

    return cached_response(path, build)


@bp.get("/feeds.opml", **ROUTE)
def directory() -> Response:
    settings = service().settings

    def build(reader: Reader, now: datetime) -> Built:
        sections = reader.sections(now)
        return Built(
            opml.validators(reader, settings, sections, now),
            opml.MEDIA_TYPE,
            lambda: [opml.render(settings, sections, FEED_LABELS)],
            max_age=lifetime(settings),
            links=f'<{settings.url("/feeds.opml")}>; rel="self"',
        )

    return cached_response("/feeds.opml", build)


@bp.get("/healthz", **ROUTE)
def healthz() -> Response:
    if service().store.ping():
        return Response(
            "ok\n",
            content_type="text/plain; charset=utf-8",
            headers={"Cache-Control": "no-store"},
        )
    return Response(
        "the store does not answer\n",
        status=503,
        content_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "no-store", "Retry-After": "10"},
    )
