"""Fixed inputs: a document of two articles (the first with a lead image, every field of it
set, text that looks like markup and a URL that XML escapes) naming two WebSub hubs, for the
format tests and their golden files, and an article as the publishing API takes it."""

from __future__ import annotations

from datetime import UTC, datetime

from feeds.formats import FORMATS
from feeds.model import Article, Entry, FeedDocument, FeedInfo, Image

BASE = "https://news.example.com"
# The WebSub hubs of the sample subscription document: the built-in one, then an external one.
HUBS = (BASE + "/hub", "https://hub.example.net/?a=1&b=2")
# A body for the publishing API.
ARTICLE = {
    "title": "Budget day",
    "published": "2020-07-01T10:00:00+01:00",
    "section": "uk",
    "authors": ["Ann Writer", "Bo Reporter"],
    "tags": ["economy"],
    "text": "First paragraph.\nSecond paragraph.",
}
# A lead image for the publishing API: a relative URL, and every optional field.
LEAD_IMAGE = {
    "url": "/images/budget box.jpg",
    "alt": "The chancellor  holds\nthe red box",
    "caption": "Outside No. 11 this morning",
    "credit": "Photo: Ann Writer",
    "width": 1200,
    "height": 800,
    "type": "image/jpeg",
    "length": 183204,
}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


ARTICLES = (
    Article(
        id="b-summer",
        tag="tag:news.example.com,2026-01-15:b-summer",
        title="Summer <b>markup</b> & ampersands",
        published=utc(2019, 7, 1, 11, 0),
        updated=utc(2019, 7, 2, 8, 30),
        paragraphs=("a < b && c > d", "<script>x</script>"),
        section="world",
        revision=2,
        modified=utc(2026, 1, 15),
        authors=("Ann Writer",),
        image=Image(
            url=BASE + "/media/summer.jpg?w=1200&h=800",
            alt="A beach <b>at</b> noon",
            caption="Sun & sand </p> in July",
            credit="Photo: Bo Reporter & Co",
            width=1200,
            height=800,
            type="image/jpeg",
            length=183_402,
        ),
    ),
    Article(
        id="a-winter",
        tag="tag:news.example.com,2026-01-15:a-winter",
        title="Winter \u201cquotes\u201d and caf\u00e9",
        published=utc(2019, 1, 4, 18, 9),
        updated=utc(2019, 1, 4, 18, 9),
        paragraphs=("Only one paragraph.",),
        section=None,
        revision=1,
        modified=utc(2026, 1, 15),
    ),
)


def document() -> FeedDocument:
    info = FeedInfo(
        feed_id="tag:news.example.com,2026-01-15:feeds",
        title="The Newsroom",
        description="Latest news & views",
        language="en-GB",
        author="The Newsroom",
        home_url=BASE + "/",
        urls={n: f"{BASE}/feeds/{m.FILENAME}" for n, m in FORMATS.items()},
        updated=utc(2019, 7, 2, 8, 30),
        generator="feeds",
        generator_version="0.2.0",
        hubs=HUBS,
    )
    return FeedDocument(info, tuple(Entry(a, f"{BASE}/articles/{a.id}") for a in ARTICLES))


# URLs a feed validator refuses as given, each with what it is stored as: the host IDNA-encoded
# and in lower case, brackets outside an IPv6 host and lone percent signs percent-encoded.
NORMALISED_URLS = {
    "https://bücher.example/a.jpg": "https://xn--bcher-kva.example/a.jpg",
    "HTTPS://Photos.Example/a.jpg": "https://photos.example/a.jpg",
    "https://x.example/a.jpg?a=[1]": "https://x.example/a.jpg?a=%5B1%5D",
    "https://x.example/a.jpg#f[1]": "https://x.example/a.jpg#f%5B1%5D",
    "https://x.example/a.jpg?q=]]>": "https://x.example/a.jpg?q=%5D%5D%3E",
    "https://x.example/a%zz.jpg": "https://x.example/a%25zz.jpg",
    "https://x.example/a%.jpg": "https://x.example/a%25.jpg",
    "https://x.example/a%20b.jpg": "https://x.example/a%20b.jpg",
    "https://x.example:8080/a[1].jpg": "https://x.example:8080/a%5B1%5D.jpg",
    # As browsers encode host names (UTS 46, non-transitional), not as IDNA 2003 does.
    "https://faß.de/a.jpg": "https://xn--fa-hia.de/a.jpg",
    "https://βόλος.gr/a.jpg": "https://xn--nxasmm1c.gr/a.jpg",
    "https://img.example.com./a.jpg": "https://img.example.com/a.jpg",  # the root's dot
    "https://192.0.2.1/a.jpg": "https://192.0.2.1/a.jpg",
}
# URLs that cannot be made valid, each with what the publishing API says of them.
INVALID_URLS = {
    "https://x .example/a.jpg": "host name that is not valid",
    "https://x%20.example/a.jpg": "host name that is not valid",
    "https://x..example/a.jpg": "host name that is not valid",
    "https://x_y.example/a.jpg": "host name that is not valid",
    "https://" + "x" * 64 + ".example/a.jpg": "host name that is not valid",
    "https://x.example:abc/a.jpg": "port that is not valid",
    "https://x.example:99999/a.jpg": "port that is not valid",
    "https://@x.example/a.jpg": "user name or password",
    "https://user:pass@x.example/a.jpg": "user name or password",
    "https://[2001:db8::1]/a.jpg": "IP address",
    "https://a\u200db.example/a.jpg": "host name that is not valid",  # a joiner out of context
    "https://xn--zz.example/a.jpg": "host name that is not valid",
    "https://localhost/a.jpg": "one label",
    "https://com/a.jpg": "one label",
    # No host given: urljoin would take the site's, and store its home page.
    "//": "no host name",
    "https:": "no host name",
    "https://?x": "no host name",
    "https:///a.jpg": "no host name",
    "///a.jpg": "no host name",
    "https:a.jpg": "no host name",
}
