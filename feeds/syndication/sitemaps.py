"""Sitemaps for search engines and news aggregators, and the robots.txt that names them.

- `/sitemap.xml`: a sitemap index (https://www.sitemaps.org/protocol.html#index) of the
  pages sitemap and of the article sitemaps, each listing at most `per_sitemap` visible
  articles in the order they were published (ties by id), with their update markers;
- `/sitemaps/news.xml`: a Google News sitemap of the articles published in the last two days
  (https://developers.google.com/search/docs/crawling-indexing/sitemaps/news-sitemap);
- `/robots.txt`: everything may be crawled, and where the sitemaps are.

Each document's bytes depend only on stored data and the settings that shape documents
(never on the current time), so its validators are decided before anything renders.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import quote
from xml.sax.saxutils import escape

from feeds.config import Settings
from feeds.model import Article, Head, Validators
from feeds.text import rfc3339

from .urls import article_path, home_path
from .validators import EPOCH, fingerprint

MEDIA_TYPE = "application/xml; charset=utf-8"
INDEX_PATH = "/sitemap.xml"
PAGES_PATH = "/sitemaps/pages.xml"
NEWS_PATH = "/sitemaps/news.xml"
ROBOTS_PATH = "/robots.txt"
# sitemaps.org: at most 50,000 URLs and 50 MB (52,428,800 bytes) uncompressed a sitemap.
PER_SITEMAP = 50_000
MAX_BYTES = 52_428_800
# Google News: articles published in the last two days, at most 1,000 a sitemap.
NEWS_WINDOW = timedelta(days=2)
NEWS_LIMIT = 1_000
# URLs a rendered part holds: the gzip of the parts not changed is kept (web/compression.py).
CHUNK = 1_000

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
IMAGE_NS = "http://www.google.com/schemas/sitemap-image/1.1"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
# The longest id an article may have (the store's column) and the longest update marker.
_LONGEST_ID = 255
_URL_LINE = "<url><loc></loc><lastmod>2020-01-01T00:00:00.000000Z</lastmod></url>\n"
# Characters a URL keeps as they are: RFC 3986's reserved and unreserved ones, and "%" of
# the escapes it already has; anything else (spaces, non-ASCII) is percent-encoded.
_URI_SAFE = ":/?#[]@!$&'()*+,;=%~-._"


def articles_path(number: int) -> str:
    """The path of the article sitemap `number` (from 1)."""
    return f"/sitemaps/articles-{number}.xml"


def per_sitemap(settings: Settings) -> int:
    """Articles an article sitemap lists: PER_SITEMAP, fewer if its longest lines could
    pass MAX_BYTES (an uncommonly long FEEDS_BASE_URL)."""
    longest = len(_escaped(settings.url(article_path("x" * _LONGEST_ID)))) + len(_URL_LINE)
    overhead = len(_DECLARATION) + len(_urlset_open("")) + len("</urlset>\n")
    return max(1, min(PER_SITEMAP, (MAX_BYTES - overhead) // longest))


def _escaped(url: str) -> str:
    return escape(quote(url, safe=_URI_SAFE))


def _digest(settings: Settings, kind: str) -> hashlib._Hash:
    digest = hashlib.sha256(fingerprint(settings))
    digest.update(f"sitemap\n{kind}".encode())
    return digest


def _validators(digest: hashlib._Hash, moments: Sequence[datetime | None]) -> Validators:
    return Validators(digest.hexdigest()[:32], max((m for m in moments if m), default=EPOCH))


def _urlset_open(extra: str) -> str:
    return f'<urlset xmlns="{SITEMAP_NS}"{extra}>\n'


# The sitemap index.


def index_validators(settings: Settings, lastmods: Sequence[datetime]) -> Validators:
    """The index changes with the number of article sitemaps and the latest update marker of
    each (`lastmods`, one per article sitemap)."""
    digest = _digest(settings, f"index\n{per_sitemap(settings)}")
    for moment in lastmods:
        digest.update(f"\n{rfc3339(moment)}".encode())
    return _validators(digest, lastmods)


def render_index(settings: Settings, lastmods: Sequence[datetime]) -> list[bytes]:
    """The sitemap index: the pages sitemap, then each article sitemap with its lastmod."""
    lines = [_DECLARATION, f'<sitemapindex xmlns="{SITEMAP_NS}">\n']
    lines.append(f"  <sitemap><loc>{_escaped(settings.url(PAGES_PATH))}</loc></sitemap>\n")
    for number, moment in enumerate(lastmods, start=1):
        loc = _escaped(settings.url(articles_path(number)))
        lines.append(f"  <sitemap><loc>{loc}</loc><lastmod>{rfc3339(moment)}</lastmod></sitemap>\n")
    lines.append("</sitemapindex>\n")
    return ["".join(lines).encode()]


# The pages sitemap: the home page and each section's, so that the index is never empty.


def pages_validators(
    settings: Settings, sections: Sequence[str], changed: datetime | None
) -> Validators:
    digest = _digest(settings, "pages\n" + "\n".join(sections))
    return _validators(digest, [changed])


def render_pages(settings: Settings, sections: Sequence[str]) -> list[bytes]:
    """A urlset of the home page and every section's page, without lastmod (they change with
    every article)."""
    lines = [_DECLARATION, _urlset_open("")]
    for section in [None, *sections]:
        lines.append(f"<url><loc>{_escaped(settings.url(home_path(section)))}</loc></url>\n")
    lines.append("</urlset>\n")
    return ["".join(lines).encode()]


# Article sitemaps.


def part_validators(
    settings: Settings, number: int, entries: Sequence[tuple[str, datetime]]
) -> Validators:
    """An article sitemap changes with the ids and update markers it lists."""
    digest = _digest(settings, f"articles\n{number}")
    for article_id, updated in entries:
        digest.update(f"\n{article_id}\t{rfc3339(updated)}".encode())
    return _validators(digest, [updated for _, updated in entries])


def render_part(settings: Settings, entries: Sequence[tuple[str, datetime]]) -> list[bytes]:
    """A urlset of article pages with their update markers as lastmod, in parts of CHUNK."""
    parts = [(_DECLARATION + _urlset_open("")).encode()]
    for start in range(0, len(entries), CHUNK):
        lines = [
            f"<url><loc>{_escaped(settings.url(article_path(article_id)))}</loc>"
            f"<lastmod>{rfc3339(updated)}</lastmod></url>\n"
            for article_id, updated in entries[start : start + CHUNK]
        ]
        parts.append("".join(lines).encode())
    parts.append(b"</urlset>\n")
    return parts


# The news sitemap.


def news_since(now: datetime) -> datetime:
    """Articles published after this instant are in the news sitemap at `now`."""
    return now - NEWS_WINDOW


def news_validators(settings: Settings, heads: Sequence[Head]) -> Validators:
    """The news sitemap changes with the articles it lists and their revisions (title,
    dates and lead image are part of an article's revision)."""
    digest = _digest(settings, "news")
    for head in heads:
        digest.update(f"\n{head.id}\t{head.revision}".encode())
    return _validators(digest, [head.modified for head in heads])


def news_valid_until(heads: Sequence[Head]) -> datetime | None:
    """When the oldest article listed turns NEWS_WINDOW old and leaves the sitemap."""
    oldest = min((head.published for head in heads), default=None)
    return None if oldest is None else oldest + NEWS_WINDOW


def news_language(tag: str) -> str:
    """A BCP 47 language tag (FEEDS_LANGUAGE) as Google News takes it: the ISO 639 code
    alone ("en-GB" -> "en"), but zh-cn or zh-tw for Chinese (Traditional for Taiwan, Hong
    Kong, Macao and the Hant script)."""
    subtags = tag.lower().split("-")
    if subtags[0] != "zh":
        return subtags[0]
    return "zh-tw" if {"tw", "hk", "mo", "hant"} & set(subtags[1:]) else "zh-cn"


def render_news(settings: Settings, articles: Sequence[Article]) -> list[bytes]:
    """A urlset with news:news (publication, date, title) and image:image for each article
    with a lead image, one part an article."""
    namespaces = f' xmlns:news="{NEWS_NS}" xmlns:image="{IMAGE_NS}"'
    publication = (
        "      <news:publication>\n"
        f"        <news:name>{escape(settings.title)}</news:name>\n"
        f"        <news:language>{news_language(settings.language)}</news:language>\n"
        "      </news:publication>\n"
    )
    parts = [(_DECLARATION + _urlset_open(namespaces)).encode()]
    for article in articles:
        lines = [
            "  <url>\n",
            f"    <loc>{_escaped(settings.url(article_path(article.id)))}</loc>\n",
            "    <news:news>\n",
            publication,
            f"      <news:publication_date>{rfc3339(article.published)}</news:publication_date>\n",
            f"      <news:title>{escape(article.title)}</news:title>\n",
            "    </news:news>\n",
        ]
        image = article.lead_image
        if image is not None:
            lines.append(
                f"    <image:image><image:loc>{_escaped(image.url)}</image:loc></image:image>\n"
            )
        lines.append("  </url>\n")
        parts.append("".join(lines).encode())
    parts.append(b"</urlset>\n")
    return parts


# robots.txt


def robots(settings: Settings) -> bytes:
    """RFC 9309: every crawler may fetch everything; the sitemaps' absolute URLs."""
    return (
        "User-agent: *\n"
        "Allow: /\n"
        "\n"
        f"Sitemap: {settings.url(INDEX_PATH)}\n"
        f"Sitemap: {settings.url(NEWS_PATH)}\n"
    ).encode()


def robots_validators(settings: Settings, created: datetime | None) -> Validators:
    """robots.txt changes with the settings alone; Last-Modified is when the store was made."""
    return _validators(_digest(settings, "robots"), [created])
