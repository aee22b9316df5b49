"""WebSub topics: the subscription documents (site, section, author and partner feeds, in
each format; not archives) by their self URLs, and each one rendered as a subscriber gets
it: the bytes, Content-Type and Link header a GET of the self URL answers with, through the
same builders and render cache as the views (a partner's as its feed shows to it, without
its token)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from feeds import credentials
from feeds.formats import BY_FILENAME, FORMATS
from feeds.model import Partner
from feeds.store import Reader
from feeds.store.queries import SITE
from feeds.syndication.plan import plan
from feeds.syndication.urls import DocKey
from feeds.text import ID_PATTERN

from .cache import Built
from .public import LONGEST_NAME, feed_built
from .service import Service

_FILE = "(" + "|".join(re.escape(name) for name in BY_FILENAME) + ")"
_SHAPES = [
    (re.compile(rf"^/feeds/{_FILE}\Z"), "site"),
    (re.compile(rf"^/feeds/authors/([^/]+)/{_FILE}\Z"), "author"),
    (re.compile(rf"^/feeds/([^/]+)/{_FILE}\Z"), "section"),
    (re.compile(rf"^/partners/([^/]+)/{_FILE}\Z"), "partner"),
]


@dataclass(frozen=True)
class Topic:
    """A subscription document: its path, format and name; `url` is its self URL."""

    path: str
    key: DocKey
    fmt: str
    url: str

    @property
    def partner(self) -> str | None:
        return self.key.partner


@dataclass(frozen=True)
class TopicDocument:
    """A topic as a GET of it answers now."""

    topic: Topic
    etag: str
    media_type: str
    links: str
    body: bytes
    changes: datetime | None  # when time alone may change it next


def topic(svc: Service, url: str) -> Topic | None:
    """The subscription document whose self URL is `url` (a partner's may carry ?token=,
    which is not part of it), or None when `url` names none (another site's URL, an archive,
    a page, a name no section, author or partner can have)."""
    base = svc.settings.base_url + "/"
    if not url.startswith(base):
        return None
    path, _, query = url[len(base) - 1 :].partition("?")
    for shape, kind in _SHAPES:
        match = shape.match(path)
        if match is None:
            continue
        *names, filename = match.groups()
        name = names[0] if names else None
        if query and not (kind == "partner" and _token_only(query)):
            return None
        if name is not None and not _nameable(name, kind):
            return None
        key = {
            "site": DocKey(),
            "author": DocKey(author=name),
            "section": DocKey(section=name),
            "partner": DocKey(partner=name),
        }[kind]
        fmt = BY_FILENAME[filename].NAME
        return Topic(key.path(fmt), key, fmt, svc.settings.url(key.path(fmt)))
    return None


def _token_only(query: str) -> bool:
    return query.startswith("token=") and "&" not in query


def _nameable(name: str, kind: str) -> bool:
    if kind == "partner":
        return bool(credentials.PARTNER_NAME.fullmatch(name))
    return len(name) <= LONGEST_NAME and bool(ID_PATTERN.match(name))


def topics_of(svc: Service, keys: Iterable[DocKey]) -> list[Topic]:
    """The topics of these documents, in every format."""
    found = []
    for key in keys:
        for fmt in FORMATS:
            path = key.path(fmt)
            found.append(Topic(path, key, fmt, svc.settings.url(path)))
    return found


def keys_of_places(places: Iterable[str]) -> list[DocKey]:
    """The subscription documents of placements' places (queries.places_of)."""
    keys = []
    for place in places:
        if place == SITE:
            keys.append(DocKey())
        elif place.startswith("s:"):
            keys.append(DocKey(section=place[2:]))
        elif place.startswith("a:"):
            keys.append(DocKey(author=place[2:]))
    return keys


def render(svc: Service, topic: Topic, now: datetime) -> TopicDocument | None:
    """The topic as of `now`, or None when there is no such document now (a section with no
    article, an unknown or revoked partner)."""
    settings = svc.settings
    fmt = FORMATS[topic.fmt]
    partner: Partner | None = None
    if topic.partner is not None:
        with svc.store.read() as reader:
            partner = reader.partner(topic.partner)
        if partner is None or partner.revoked is not None:
            return None

    def build(reader: Reader, moment: datetime) -> Built | None:
        load = svc.cache.articles.load
        planned = plan(reader, settings, topic.key, moment, partner, "", load)
        if planned is None:
            return None
        return feed_built(svc, reader, planned, fmt, moment, private=partner is not None)

    # Partners' documents are kept under keys no request path can be (as partner_feeds's).
    kept = topic.path if partner is None else f"hub:{topic.path}"
    entry = svc.cache.get(kept, now, build, lambda _etag, _since: True)
    if entry is None or entry.body is None:
        return None
    return TopicDocument(
        topic, entry.etag, entry.media_type, entry.links, entry.body, entry.changes
    )
