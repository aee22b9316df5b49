"""The public routes: feeds and their archives, the pages that list them, each article's
page, the OPML directory and the health check. Every document comes from the render cache.

Every absolute URL comes from FEEDS_BASE_URL; nothing here reads the Host header.
"""

from __future__ import annotations

import re
from datetime import datetime

from flask import Blueprint, Response, render_template, request

from feeds.errors import Gone, NotFound
from feeds.formats import BY_FILENAME, Format
from feeds.store import Reader
from feeds.syndication import opml
from feeds.syndication.assemble import document
from feeds.syndication.plan import Plan, plan
from feeds.syndication.urls import (
    DocKey,
    Month,
    article_path,
    feed_links,
    home_path,
    hubs_of,
    section_label,
)
from feeds.syndication.validators import (
    article_validators,
    lifetime,
    next_time_change,
    validators,
)
from feeds.text import ID_PATTERN

from .cache import Built
from .feed_view import view_built
from .hits import VIEW, navigation
from .responses import ROUTE, alternate_links, cached, self_link, text
from .service import Service, service

bp = Blueprint("feeds", __name__)
HTML = "text/html; charset=utf-8"
_YEAR, _MONTH, _PART = (
    re.compile(r"^\d{4}$"),
    re.compile(r"^(0[1-9]|1[0-2])$"),
    re.compile(r"^[1-9]\d*$"),
)
# The longest name of a stored article, section or author: ids and sections come from file
# names, which file systems keep to 255 bytes, or from the API, which takes fewer.
LONGEST_NAME = 255


def named(value: str, missing: str) -> str:
    """`value`, a path segment naming an article, section or author, when a stored one can be
    called that; else NotFound (`missing`), before any lookup: PostgreSQL refuses text holding
    NUL, werkzeug reads bytes that are not UTF-8 as U+FFFD, and no name holds either."""
    if len(value) > LONGEST_NAME or not ID_PATTERN.match(value):
        raise NotFound(missing)
    return value


def format_of(filename: str) -> Format:
    """The format whose documents end in `filename`; raises NotFound."""
    fmt = BY_FILENAME.get(filename)
    if fmt is None:
        raise NotFound(f"no feed is called {filename!r} (rss.xml, atom.xml, feed.json)")
    return fmt


def feed_built(
    svc: Service,
    reader: Reader,
    planned: Plan,
    fmt: Format,
    now: datetime,
    private: bool = False,
) -> Built:
    """What the render cache needs of the planned feed document in `fmt`."""
    settings = svc.settings
    return Built(
        validators(settings, planned, fmt.NAME),
        fmt.MEDIA_TYPE,
        lambda: fmt.parts(
            document(reader, settings, planned, svc.cache.articles.load), svc.cache.entry_parts
        ),
        max_age=lifetime(settings, planned),
        # The self URL without a partner's ?token= (the document's own self link keeps it):
        # the WebSub topic, as the hub knows it.
        links=self_link(settings.url(planned.key.path(fmt.NAME)), hubs_of(settings, planned.key)),
        valid_until=next_time_change(settings, planned, now),
        private=private,
        format=fmt.NAME,
        subscription=planned.key.month is None,  # archives are read once, not polled
        navigable=True,  # a browser is shown its page instead (feed_view.py)
        newest=max((max(h.published, h.modified) for h in planned.heads), default=None),
    )


def _serve_feed(key: DocKey, filename: str) -> Response:
    fmt = format_of(filename)
    for name in (key.section, key.author):
        if name is not None:
            named(name, "no such document")
    svc = service()
    settings = svc.settings
    path = key.path(fmt.NAME)

    if navigation(request.environ):  # a person opened the feed: its page, under its own key

        def page(reader: Reader, now: datetime) -> Built | None:
            planned = plan(reader, settings, key, now)
            return None if planned is None else view_built(svc, reader, planned, fmt, now)

        return cached(svc, VIEW + path, page)

    def build(reader: Reader, now: datetime) -> Built | None:
        planned = plan(reader, settings, key, now)
        return None if planned is None else feed_built(svc, reader, planned, fmt, now)

    return cached(svc, path, build)


def archive_key(section: str | None, year: str, month: str, part: str) -> DocKey:
    # Years a month of can be told apart from the next (datetime's are 1 to 9999).
    good = _YEAR.match(year) and 1 <= int(year) < 9999
    if not (good and _MONTH.match(month) and _PART.match(part)):
        raise NotFound("archives are named YYYY/MM/PART, e.g. archive/2020/01/1/atom.xml")
    return DocKey(section, Month(int(year), int(month)), int(part))


@bp.get("/feeds/<filename>", **ROUTE)
def feed(filename: str) -> Response:
    return _serve_feed(DocKey(), filename)


@bp.get("/feeds/<section>/<filename>", **ROUTE)
def section_feed(section: str, filename: str) -> Response:
    return _serve_feed(DocKey(section), filename)


@bp.get("/feeds/archive/<year>/<month>/<part>/<filename>", **ROUTE)
def archive(year: str, month: str, part: str, filename: str) -> Response:
    return _serve_feed(archive_key(None, year, month, part), filename)


@bp.get("/feeds/<section>/archive/<year>/<month>/<part>/<filename>", **ROUTE)
def section_archive(section: str, year: str, month: str, part: str, filename: str) -> Response:
    return _serve_feed(archive_key(section, year, month, part), filename)


@bp.get("/feeds/authors/<author>/<filename>", **ROUTE)
def author_feed(author: str, filename: str) -> Response:
    return _serve_feed(DocKey(author=author), filename)


@bp.get("/feeds/authors/<author>/archive/<year>/<month>/<part>/<filename>", **ROUTE)
def author_archive(author: str, year: str, month: str, part: str, filename: str) -> Response:
    key = archive_key(None, year, month, part)
    return _serve_feed(DocKey(month=key.month, part=key.part, author=author), filename)


def _page(svc: Service, template: str, section: str | None = None, **context: object) -> bytes:
    settings = svc.settings
    return render_template(
        template,
        settings=settings,
        feeds=feed_links(settings, section),
        section=section,
        section_label=section_label(section) if section else None,
        opml_url=settings.url("/feeds.opml"),
        **context,
    ).encode()


def _serve_listing(section: str | None) -> Response:
    if section is not None:
        named(section, "no such section")
    svc = service()
    settings = svc.settings
    template = "section.html" if section else "index.html"

    def build(reader: Reader, now: datetime) -> Built | None:
        planned = plan(reader, settings, DocKey(section), now)
        if planned is None:
            return None
        return Built(
            validators(settings, planned, "html"),
            HTML,
            lambda: [_page(svc, template, section, doc=document(reader, settings, planned))],
            max_age=lifetime(settings),
            links=", ".join(alternate_links(settings, section)),
            valid_until=next_time_change(settings, planned, now),
            format="html",
        )

    return cached(svc, home_path(section), build, missing="no such section")


@bp.get("/", **ROUTE)
def index() -> Response:
    return _serve_listing(None)


@bp.get("/sections/<section>", **ROUTE)
def section_page(section: str) -> Response:
    return _serve_listing(section)


@bp.get("/articles/<article_id>", **ROUTE)
def article(article_id: str) -> Response:
    named(article_id, "no such article")
    svc = service()
    settings = svc.settings
    path = article_path(article_id)

    def build(reader: Reader, now: datetime) -> Built | None:
        stored = reader.article(article_id)
        if stored is None or stored.published > now:  # unknown, or under embargo
            return None
        if stored.withdrawn is not None:
            raise Gone(f"article {article_id!r} was withdrawn")
        links = alternate_links(settings, None)
        if stored.section:
            links += alternate_links(settings, stored.section)
        return Built(
            article_validators(settings, stored),
            HTML,
            lambda: [
                _page(svc, "article.html", stored.section, article=stored, url=settings.url(path))
            ],
            max_age=lifetime(settings),
            links=", ".join(links),
            ledger=False,
            format="html",
        )

    return cached(svc, path, build, missing="no such article")


@bp.get("/feeds.opml", **ROUTE)
def directory() -> Response:
    svc = service()
    settings = svc.settings

    def build(reader: Reader, now: datetime) -> Built:
        sections = reader.sections(now)
        return Built(
            opml.validators(reader, settings, sections, now),
            opml.MEDIA_TYPE,
            lambda: [opml.render(settings, sections)],
            max_age=lifetime(settings),
            links=self_link(settings.url("/feeds.opml")),
            format="opml",
        )

    return cached(svc, "/feeds.opml", build)


@bp.get("/healthz", **ROUTE)
def healthz() -> Response:
    """200 while the store can be read and written (or is a read-only replica by design);
    the store's errors otherwise (503 with Retry-After, or 500 without a schema), through
    the error table. Cheap, and never waits for a writer (Store.check)."""
    return text(service().store.check())
