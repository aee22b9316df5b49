"""Feed documents from the store: what a document holds, and its HTTP validators.

Validators come from a cheap query of the document's entries (ids and revisions, no text), so a
conditional request is answered without rendering anything.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from . import __version__
from .config import Settings
from .errors import StoreUnavailable
from .formats import FORMATS
from .model import Article, Entry, FeedDocument, FeedInfo
from .store import EPOCH, Head, Reader


@dataclass(frozen=True)
class Validators:
    """A strong entity tag (without quotes) and the Last-Modified instant of a document."""

    etag: str
    last_modified: datetime


def article_path(article_id: str) -> str:
    return "/articles/" + quote(article_id, safe="")


def feed_path(fmt: str) -> str:
    filename: str = FORMATS[fmt].FILENAME
    return "/feeds/" + filename


def _fingerprint(settings: Settings) -> bytes:
    """Everything besides the entries that shapes a document's bytes: the release and every
    setting but those of the database and the server processes."""
    shaping = dataclasses.replace(settings, database="", bind="", workers=0, threads=0)
    return repr((__version__, shaping)).encode()


def site_heads(reader: Reader, settings: Settings) -> list[Head]:
    return reader.newest_heads(settings.page_size)


def validators(reader: Reader, settings: Settings, heads: list[Head], fmt: str) -> Validators:
    """The ETag and Last-Modified of the document made of `heads` in format `fmt`."""
    digest = hashlib.sha256(_fingerprint(settings))
    digest.update(fmt.encode())
    for head in heads:
        digest.update(f"\n{head.id}\t{head.revision}".encode())
    floor = heads[-1].published if len(heads) >= settings.page_size else None
    moments = [h.modified for h in heads]
    departed = reader.latest_departure(floor)
    if departed is not None:
        moments.append(departed)
    return Validators(etag=digest.hexdigest()[:32], last_modified=max(moments, default=EPOCH))


def site_document(reader: Reader, settings: Settings, heads: list[Head]) -> FeedDocument:
    """The site's subscription document: the newest articles, newest first."""
    articles = reader.articles([h.id for h in heads])
    prefix, created = reader.meta("feed_id_prefix"), reader.meta("created")
    if prefix is None or created is None:
        raise StoreUnavailable("the store has no schema yet; run `feeds import` first")
    info = FeedInfo(
        feed_id=prefix + "feeds",
        title=settings.title,
        description=settings.description,
        language=settings.language,
        author=settings.author,
        home_url=settings.url("/"),
        urls={name: settings.url(feed_path(name)) for name in FORMATS},
        # With no entries, the store's creation: fixed, and a date readers find plausible.
        updated=max((a.updated for a in articles), default=datetime.fromisoformat(created)),
        generator="feeds",
        generator_version=__version__,
    )
    entries = tuple(Entry(a, settings.url(article_path(a.id))) for a in articles)
    return FeedDocument(info=info, entries=entries)


def article_validators(settings: Settings, article: Article) -> Validators:
    """Validators of an article's page, from its id and revision."""
    digest = hashlib.sha256(_fingerprint(settings))
    digest.update(f"page\n{article.id}\t{article.revision}".encode())
    return Validators(etag=digest.hexdigest()[:32], last_modified=article.modified)
