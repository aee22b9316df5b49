"""The page a browser is shown for a feed: a person who opens a feed's URL (Sec-Fetch-Mode:
navigate, Sec-Fetch-Dest: document; hits.navigation) reads what a feed is and how to follow
it, the URL to copy, buttons for common feed readers, the feed's other formats and its newest
entries; every other client gets the feed itself. The page is rendered through the render
cache under a key of its own (hits.VIEW), with an ETag of its own and Cache-Control private,
so no shared cache hands it to a reader."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from flask import render_template

from feeds.formats import FORMATS, Format
from feeds.store import Reader
from feeds.syndication.assemble import document
from feeds.syndication.plan import Plan
from feeds.syndication.urls import FeedLink, home_path
from feeds.syndication.validators import lifetime, next_time_change, validators

from .cache import Built
from .service import Service

HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class FeedReader:
    """A web feed reader that subscribes to a URL given in a link of its own."""

    name: str
    pattern: str  # {url} stands for the feed's URL, percent-encoded

    def link(self, url: str) -> str:
        return self.pattern.format(url=quote(url, safe=""))


# Subscribe links as the readers take them, checked against the lists that feed-detector
# browser extensions and "subscribe" pages in public code build them from (each of these
# seen in several: Feedly's /i/subscription/feed/URL, Inoreader's ?add_feed=URL, NewsBlur's
# ?url=URL, The Old Reader's /feeds/subscribe?url=URL, Feedbin's ?subscribe=URL).
READERS = (
    FeedReader("Feedly", "https://feedly.com/i/subscription/feed/{url}"),
    FeedReader("Inoreader", "https://www.inoreader.com/?add_feed={url}"),
    FeedReader("NewsBlur", "https://www.newsblur.com/?url={url}"),
    FeedReader("The Old Reader", "https://theoldreader.com/feeds/subscribe?url={url}"),
    FeedReader("Feedbin", "https://feedbin.com/?subscribe={url}"),
)


def _alternates(svc: Service, planned: Plan) -> str:
    """The Link header: the feed in each format as rel="alternate" (never rel="self", and no
    hub: the page is no WebSub topic, W3C WebSub §4.1), without a partner's token."""
    return ", ".join(
        f'<{svc.settings.url(planned.key.path(name))}>; rel="alternate"; '
        f'type="{fmt.MEDIA_TYPE.split(";")[0]}"'
        for name, fmt in FORMATS.items()
    )


def view_built(svc: Service, reader: Reader, planned: Plan, fmt: Format, now: datetime) -> Built:
    """What the render cache needs of the page of the planned feed in `fmt`. A partner's page
    shows the URL the partner read it with (?token= and all) to copy, as its feed's own links
    do, and offers no reader: a private feed goes to the partner's own reader alone."""
    settings = svc.settings

    def render() -> list[bytes]:
        doc = document(reader, settings, planned, svc.cache.articles.load)
        info = doc.info
        formats = [
            FeedLink(
                f"{info.title} ({f.LABEL})", f.LABEL, info.urls[name], f.MEDIA_TYPE.split(";")[0]
            )
            for name, f in FORMATS.items()
        ]
        url = info.urls[fmt.NAME]
        page = render_template(
            "feed.html",
            settings=settings,
            feeds=formats,
            fmt=fmt,
            doc=doc,
            url=url,
            home_url=settings.url(home_path(planned.key.section)),
            current=info.current[fmt.NAME] if info.current else None,
            month=planned.key.month,
            readers=[] if planned.partner else [(r.name, r.link(url)) for r in READERS],
            partner=planned.partner is not None,
            opml_url=settings.url("/feeds.opml"),
        )
        return [page.encode()]

    return Built(
        validators(settings, planned, f"view:{fmt.NAME}"),
        HTML,
        render,
        max_age=lifetime(settings, planned),
        links=_alternates(svc, planned),
        valid_until=next_time_change(settings, planned, now),
        # Its ETag moves with every change it shows; only the browser's own cache keeps it,
        # and revalidates with If-None-Match.
        ledger=False,
        private=True,
        format="html",
        navigable=True,
    )
