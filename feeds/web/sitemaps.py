"""The routes crawlers read: the sitemap index, the pages, article and news sitemaps, and
robots.txt, each from the render cache with ETag, Last-Modified and conditional GET.

Time changes them only as it changes what is visible: an embargo that ends (the render cache
rebuilds at the store's next release) and, for the news sitemap, an article that turns two
days old (`valid_until`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime

from flask import Blueprint, Response

from feeds.config import Settings
from feeds.errors import NotFound
from feeds.model import Validators
from feeds.store import Reader
from feeds.syndication import sitemaps as sm
from feeds.syndication.plan import created_at
from feeds.syndication.validators import lifetime

from .cache import Built
from .responses import ROUTE, TEXT, cached, self_link
from .service import Service, service

bp = Blueprint("sitemaps", __name__)
_NUMBER = re.compile(r"^[1-9]\d{0,8}$")


def _built(
    settings: Settings,
    path: str,
    validators: Validators,
    render: Callable[[], Sequence[bytes]],
    media_type: str = sm.MEDIA_TYPE,
    valid_until: datetime | None = None,
) -> Built:
    """What the render cache needs of the document at `path`: public for FEEDS_MAX_AGE."""
    return Built(
        validators,
        media_type,
        render,
        max_age=lifetime(settings),
        links=self_link(settings.url(path)),
        valid_until=valid_until,
        format="sitemap",
    )


def _serve(path: str, build: Callable[[Service, Reader, datetime], Built | None]) -> Response:
    svc = service()
    missing = "there is no such sitemap"
    return cached(svc, path, lambda reader, now: build(svc, reader, now), missing)


def _index(svc: Service, reader: Reader, now: datetime) -> Built:
    settings = svc.settings
    lastmods = reader.sitemap_parts(now, sm.per_sitemap(settings))
    validators = sm.index_validators(settings, lastmods)
    return _built(settings, sm.INDEX_PATH, validators, lambda: sm.render_index(settings, lastmods))


def _pages(svc: Service, reader: Reader, now: datetime) -> Built:
    settings = svc.settings
    sections = reader.sections(now)
    changed = reader.latest_visible_modified(now) or created_at(reader)
    validators = sm.pages_validators(settings, sections, changed)
    return _built(settings, sm.PAGES_PATH, validators, lambda: sm.render_pages(settings, sections))


def _news(svc: Service, reader: Reader, now: datetime) -> Built:
    settings = svc.settings
    heads = reader.published_since(sm.news_since(now), now, sm.NEWS_LIMIT)
    return _built(
        settings,
        sm.NEWS_PATH,
        sm.news_validators(settings, heads),
        lambda: sm.render_news(settings, svc.cache.articles.load(reader, heads)),
        valid_until=sm.news_valid_until(heads),
    )


def _robots(svc: Service, reader: Reader, now: datetime) -> Built:
    settings = svc.settings
    validators = sm.robots_validators(settings, created_at(reader))
    return _built(settings, sm.ROBOTS_PATH, validators, lambda: [sm.robots(settings)], TEXT)


@bp.get(sm.INDEX_PATH, **ROUTE)
def index() -> Response:
    return _serve(sm.INDEX_PATH, _index)


@bp.get(sm.PAGES_PATH, **ROUTE)
def pages() -> Response:
    return _serve(sm.PAGES_PATH, _pages)


@bp.get(sm.NEWS_PATH, **ROUTE)
def news() -> Response:
    return _serve(sm.NEWS_PATH, _news)


@bp.get(sm.ROBOTS_PATH, **ROUTE)
def robots() -> Response:
    return _serve(sm.ROBOTS_PATH, _robots)


@bp.get("/sitemaps/articles-<number>.xml", **ROUTE)
def articles(number: str) -> Response:
    if not _NUMBER.match(number):
        raise NotFound("article sitemaps are named articles-N.xml, from articles-1.xml")
    part = int(number)
    path = sm.articles_path(part)

    def build(svc: Service, reader: Reader, now: datetime) -> Built | None:
        settings = svc.settings
        size = sm.per_sitemap(settings)
        entries = reader.sitemap_entries(now, (part - 1) * size, size)
        if not entries:
            return None  # past the last article sitemap
        validators = sm.part_validators(settings, part, entries)
        return _built(settings, path, validators, lambda: sm.render_part(settings, entries))

    return _serve(path, build)
