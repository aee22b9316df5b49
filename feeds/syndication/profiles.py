"""Consumer profiles: what an aggregator or partner app says it rejects or downgrades, as rules
on a neutral record of one item (`Item`) and of one document (`Document`), each rule with the
page it comes from.

`feeds check` applies them to documents as served (reading.py turns the bytes into these
records); a partner with a profile gets feeds without the articles its rules reject, from
the same item rules applied to stored articles (`item_of`, used by plan.py). Where a fact is
not known (an image without width and height), a rule says it cannot tell, as a downgrade,
never a rejection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from feeds.errors import PartnerError
from feeds.formats.escaping import looks_like_markup
from feeds.model import Article

from .urls import feed_path

REJECTED = "rejected"
DOWNGRADED = "downgraded"
NEWS_SITEMAP = "/sitemaps/news.xml"


@dataclass(frozen=True)
class ItemImage:
    """An item's lead image as a consumer sees it; None where the document does not say."""

    url: str
    width: int | None = None
    height: int | None = None
    length: int | None = None  # bytes
    credit: str | None = None


@dataclass(frozen=True)
class Item:
    """One item of a document (or one stored article as a partner's document would carry it):
    text lengths are in characters."""

    id: str
    link: str
    title: str
    content: int | None  # length of the full text (HTML); None when only a summary is sent
    description: int  # length of the plain-text description or summary
    image: ItemImage | None = None
    authors: tuple[str, ...] = ()
    published: datetime | None = None
    updated: datetime | None = None
    publication: str = ""  # a news sitemap's publication name and language, "name/lang"

    @property
    def name(self) -> str:
        """What a report calls the item: its link, else its id."""
        return self.link or self.id


@dataclass(frozen=True)
class Document:
    """What a consumer sees of a whole document."""

    kind: str  # "rss", "atom", "json" or "news-sitemap"
    items: int
    size: int  # bytes, as served
    base_url: str  # FEEDS_BASE_URL
    utf8: bool
    title: str = ""
    link: str = ""
    language: str = ""
    description: str = ""


T = TypeVar("T", Item, Document)


@dataclass(frozen=True)
class Rule(Generic[T]):
    """One published requirement: `broken` gives the detail when the record breaks it at the
    given instant, else None; `turns` (for rules that depend on the time) the instant at
    which time alone changes the verdict on a record."""

    id: str
    checks: str
    outcome: str  # REJECTED or DOWNGRADED
    source: str
    broken: Callable[[T, datetime], str | None]
    turns: Callable[[T], datetime | None] | None = None


@dataclass(frozen=True)
class Finding:
    """A rule a record breaks: `subject` names the item, or is "document"."""

    subject: str
    rule: Rule[Item] | Rule[Document]
    detail: str


@dataclass(frozen=True)
class Profile:
    """A consumer: the rules it applies to each item and to the whole document, the document
    it reads by default, and whether a partner's feeds can be made to its rules."""

    name: str
    consumer: str
    path: str  # the document `feeds check` reads unless told
    items: tuple[Rule[Item], ...]
    document: tuple[Rule[Document], ...]
    full_text: bool = False  # it rejects articles without their full text
    feeds: bool = True  # it reads feeds (else a sitemap): partners may be given it

    def rule(self, rule_id: str) -> Rule[Item] | Rule[Document]:
        """The rule called `rule_id`; raises KeyError."""
        rules: list[Rule[Item] | Rule[Document]] = [*self.items, *self.document]
        return next(r for r in rules if r.id == rule_id)

    def item_findings(self, item: Item, now: datetime) -> list[Finding]:
        return _findings(item.name, self.items, item, now)

    def document_findings(self, doc: Document, now: datetime) -> list[Finding]:
        return _findings("document", self.document, doc, now)

    def rejects(self, item: Item, now: datetime) -> bool:
        """Whether the consumer would reject the item at `now` (a partner's feed leaves it out)."""
        return any(f.rule.outcome == REJECTED for f in self.item_findings(item, now))

    def turns(self, item: Item, now: datetime) -> datetime | None:
        """The first instant after `now` at which time alone may change the verdict."""
        moments = [rule.turns(item) for rule in self.items if rule.turns is not None]
        return min((m for m in moments if m is not None and m > now), default=None)


def _findings(subject: str, rules: tuple[Rule[T], ...], record: T, now: datetime) -> list[Finding]:
    found = []
    for rule in rules:
        detail = rule.broken(record, now)
        if detail is not None:
            found.append(Finding(subject, rule, detail))
    return found


def item_of(article: Article, link: str, summary_only: bool, byline: str) -> Item:
    """A stored article as a feed of the service carries it (`link`: its page's URL). An
    article without authors is bylined `byline` (FEEDS_AUTHOR), as its RSS item is."""
    lead = article.lead_image
    image = None
    if lead is not None:
        image = ItemImage(lead.url, lead.width, lead.height, lead.length, lead.credit)
    return Item(
        id=article.tag,
        link=link,
        title=article.title,
        content=None if summary_only else len(article.html),
        description=len(article.summary),
        image=image,
        authors=article.authors or (byline,),
        published=article.published,
        updated=article.updated,
    )


# What the rules share.


def _many(count: int, thing: str) -> str:
    return f"{count:,} {thing}" + ("" if count == 1 else "s")


def _length(low: int, high: int | None) -> Callable[[Item, datetime], str | None]:
    def broken(item: Item, now: datetime) -> str | None:
        size = len(item.title.strip())
        if size < low or (high is not None and size > high):
            bounds = f"{low} to {high}" if high is not None else f"at least {low}"
            return f"the title has {_many(size, 'character')} ({bounds} wanted)"
        return None

    return broken


def _full_text(item: Item, now: datetime) -> str | None:
    return "the item carries no full text, only a summary" if not item.content else None


def _has_image(item: Item, now: datetime) -> str | None:
    return "the item has no image" if item.image is None else None


def _fields(*names: str) -> Callable[[Item, datetime], str | None]:
    def broken(item: Item, now: datetime) -> str | None:
        present = {
            "id": bool(item.id),
            "link": bool(item.link),
            "title": bool(item.title.strip()),
            "description": item.description > 0,
            "published": item.published is not None,
        }
        missing = [name for name in names if not present[name]]
        return f"the item has no {', no '.join(missing)}" if missing else None

    return broken


def _smallest_side(low: int, unknown: bool) -> Callable[[Item, datetime], str | None]:
    """Broken by an image whose smaller side is known and under `low` px, or (`unknown`)
    by one whose size the document does not give."""

    def broken(item: Item, now: datetime) -> str | None:
        image = item.image
        if image is None:
            return None
        if image.width is None or image.height is None:
            return "cannot tell: the image's width and height are not given" if unknown else None
        side = min(image.width, image.height)
        if side < low and not unknown:
            return f"the image's smaller side is {side} px (at least {low} wanted)"
        return None

    return broken


def _age(id: str, days: int, what: str, source: str) -> Rule[Item]:
    """A rule on the publication date: present, and less than `days` old. The verdict turns
    at the instant the item is `days` old, which `turns` names: a document that holds the
    item is valid until then, and not one instant past it."""

    def broken(item: Item, now: datetime) -> str | None:
        if item.published is None:
            return "the item has no publication date"
        if item.published <= now - timedelta(days=days):
            return f"published {item.published:%Y-%m-%d}, {days} days ago or more"
        return None

    def turns(item: Item) -> datetime | None:
        return None if item.published is None else item.published + timedelta(days=days)

    return Rule(id, what, REJECTED, source, broken, turns)


def _kinds(*kinds: str) -> Callable[[Document, datetime], str | None]:
    def broken(doc: Document, now: datetime) -> str | None:
        if doc.kind in kinds:
            return None
        return f"the document is {doc.kind}; {' or '.join(kinds)} is read"

    return broken


def _https(doc: Document, now: datetime) -> str | None:
    if doc.base_url.startswith("https://"):
        return None
    return f"FEEDS_BASE_URL {doc.base_url} is not https"


def _utf8(doc: Document, now: datetime) -> str | None:
    return None if doc.utf8 else "the document is not valid UTF-8"


def _channel(doc: Document, now: datetime) -> str | None:
    present = {"title": doc.title, "link": doc.link, "language": doc.language}
    missing = [name for name, value in present.items() if not value.strip()]
    return f"the channel has no {', no '.join(missing)}" if missing else None


def _count(low: int | None, high: int | None) -> Callable[[Document, datetime], str | None]:
    def broken(doc: Document, now: datetime) -> str | None:
        if low is not None and doc.items < low:
            return f"the document holds {_many(doc.items, 'item')} (at least {low} wanted)"
        if high is not None and doc.items > high:
            return f"the document holds {_many(doc.items, 'item')} (at most {high} read)"
        return None

    return broken


MSN_FEEDS = "https://helpcenter.microsoftstart.com/kb/articles/25-feed-content-specifications"
MSN_ITEMS = "https://helpcenter.msn.com/kb/articles/51-feed-item-requirements"


def _msn_image_width(item: Item, now: datetime) -> str | None:
    image = item.image
    if image is None:
        return None
    if image.width is None:
        return "cannot tell: the image's width is not given (720 px or more recommended)"
    if image.width < 720:
        return f"the image is {image.width} px wide (720 px or more recommended)"
    return None


def _msn_image_ratio(item: Item, now: datetime) -> str | None:
    image = item.image
    if image is None or not image.width or not image.height:
        return None
    ratio = image.width / image.height
    return None if 0.5 <= ratio <= 1.89 else f"the image's aspect ratio is {ratio:.2f}"


def _msn_image_bytes(item: Item, now: datetime) -> str | None:
    image = item.image
    if image is None or image.length is None or image.length <= 15_000_000:
        return None
    return f"the image is {image.length} bytes (at most 15 MB)"


MSN = Profile(
    "msn",
    "MSN Partner Hub",
    feed_path("rss"),
    items=(
        Rule("msn.id", "a durable unique id", REJECTED, MSN_ITEMS, _fields("id")),
        Rule("msn.link", "a link to the article", REJECTED, MSN_ITEMS, _fields("link")),
        Rule("msn.title", "a title of 20 to 150 characters", REJECTED, MSN_ITEMS, _length(20, 150)),
        Rule("msn.body", "the full body", REJECTED, MSN_ITEMS, _full_text),
        _age("msn.published", 365, "a publication date within the last 365 days", MSN_ITEMS),
        Rule("msn.image", "an image (only articles with one are published)", REJECTED, MSN_FEEDS,
             _has_image),
        Rule("msn.image-width", "an image 720 px wide or more", DOWNGRADED, MSN_FEEDS,
             _msn_image_width),
        Rule("msn.image-ratio", "an image of aspect ratio 0.5 to 1.89", DOWNGRADED, MSN_FEEDS,
             _msn_image_ratio),
        Rule("msn.image-bytes", "an image of at most 15 MB", REJECTED, MSN_FEEDS,
             _msn_image_bytes),
    ),
    document=(
        Rule("msn.format", "an RSS or Atom feed", REJECTED, MSN_FEEDS, _kinds("rss", "atom")),
        Rule("msn.https", "a feed served over HTTPS", REJECTED, MSN_FEEDS, _https),
    ),
    full_text=True,
)  # fmt: skip

FLIPBOARD_SPEC = "https://about.flipboard.com/rss-spec/"
FLIPBOARD_HELP = "https://flipboard.helpshift.com/hc/en/1-flipboard/faq/1023-resubmit-an-rss-feed/"


def _byline(item: Item, now: datetime) -> str | None:
    return None if item.authors else "the item names no author (dc:creator)"


def _flipboard_description(item: Item, now: datetime) -> str | None:
    if item.description >= 300:
        return None
    return f"the description has {_many(item.description, 'character')} (at least 300 wanted)"


FLIPBOARD = Profile(
    "flipboard",
    "Flipboard",
    feed_path("rss"),
    items=(
        Rule("flipboard.fields", "a title, link, guid and pubDate", REJECTED, FLIPBOARD_SPEC,
             _fields("title", "link", "id", "published")),
        Rule("flipboard.full-text", "the full body in content:encoded", REJECTED, FLIPBOARD_SPEC,
             _full_text),
        Rule("flipboard.creator", "a byline in dc:creator", REJECTED, FLIPBOARD_SPEC, _byline),
        Rule("flipboard.description", "a description of 300 characters or more", DOWNGRADED,
             FLIPBOARD_SPEC, _flipboard_description),
        Rule("flipboard.image", "at least one image", REJECTED, FLIPBOARD_SPEC, _has_image),
        Rule("flipboard.image-size", "an image whose smaller side is 400 px or more", REJECTED,
             FLIPBOARD_SPEC, _smallest_side(400, unknown=False)),
        Rule("flipboard.image-size-known", "an image whose size is given", DOWNGRADED,
             FLIPBOARD_SPEC, _smallest_side(400, unknown=True)),
        Rule("flipboard.enclosure-size", "an image whose smaller side is 500 px or more",
             DOWNGRADED, FLIPBOARD_HELP, _smallest_side(500, unknown=False)),
    ),
    document=(
        Rule("flipboard.format", "an RSS feed", REJECTED, FLIPBOARD_SPEC, _kinds("rss")),
        Rule("flipboard.items", "at least the 20 most recent items", REJECTED, FLIPBOARD_HELP,
             _count(20, None)),
        Rule("flipboard.items-spec", "at least 30 items", DOWNGRADED, FLIPBOARD_SPEC,
             _count(30, None)),
    ),
    full_text=True,
)  # fmt: skip

APPLE = "https://support.apple.com/guide/news-publisher/apdc2c7520ff/icloud"


def _no_markup(item: Item, now: datetime) -> str | None:
    return "the title holds HTML (Apple News strips it)" if looks_like_markup(item.title) else None


def _long_form(item: Item, now: datetime) -> str | None:
    return "only a summary is sent (full text is recommended)" if not item.content else None


APPLE_NEWS = Profile(
    "apple-news",
    "Apple News",
    feed_path("rss"),
    items=(
        Rule("apple-news.fields", "a title, link and description", REJECTED, APPLE,
             _fields("title", "link", "description")),
        Rule("apple-news.title", "a title of 15 to 60 characters", DOWNGRADED, APPLE,
             _length(15, 60)),
        Rule("apple-news.title-html", "a title without HTML", DOWNGRADED, APPLE, _no_markup),
        Rule("apple-news.full-text", "the full text (long-form RSS)", DOWNGRADED, APPLE,
             _long_form),
    ),
    document=(
        Rule("apple-news.format", "an RSS 2.0 or Atom feed", REJECTED, APPLE,
             _kinds("rss", "atom")),
        Rule("apple-news.utf8", "UTF-8", REJECTED, APPLE, _utf8),
        Rule("apple-news.channel", "a channel title, language and link", REJECTED, APPLE,
             _channel),
    ),
)  # fmt: skip

GOOGLE = "https://developers.google.com/search/docs/crawling-indexing/sitemaps/news-sitemap"
GOOGLE_RSS = "https://ppc.land/google-news-shifts-to-automated-publication-pages"


def _publication(item: Item, now: datetime) -> str | None:
    name, _, language = item.publication.partition("/")
    if name.strip() and language.strip():
        return None
    return "news:publication needs its name and language"


GOOGLE_NEWS = Profile(
    "google-news",
    "Google News",
    NEWS_SITEMAP,
    items=(
        Rule("google-news.title", "a news:title", REJECTED, GOOGLE, _fields("title")),
        _age("google-news.recent", 2, "published within the last two days", GOOGLE),
        Rule("google-news.publication", "a news:publication with name and language", REJECTED,
             GOOGLE, _publication),
    ),
    document=(
        Rule("google-news.format", "a News sitemap (RSS feeds are no longer read)", REJECTED,
             GOOGLE_RSS, _kinds("news-sitemap")),
        Rule("google-news.count", "at most 1,000 news:news entries", REJECTED, GOOGLE,
             _count(None, 1000)),
    ),
    feeds=False,
)  # fmt: skip

SMARTNEWS = "https://publishers.smartnews.com/hc/en-us/articles/360036526213"


def _short_description(doc: Document, now: datetime) -> str | None:
    size = len(doc.description)
    if doc.description.strip() and size <= 30:
        return None
    return f"the channel description has {_many(size, 'character')} (1 to 30 wanted)"


def _one_megabyte(doc: Document, now: datetime) -> str | None:
    return None if doc.size <= 1_000_000 else f"the document is {doc.size} bytes (1 MB at most)"


SMARTNEWS_PROFILE = Profile(
    "smartnews",
    "SmartNews",
    feed_path("rss"),
    items=(),
    document=(
        Rule("smartnews.format", "an RSS 2.0 or Atom feed", REJECTED, SMARTNEWS,
             _kinds("rss", "atom")),
        Rule("smartnews.channel", "a channel title, language and link", REJECTED, SMARTNEWS,
             _channel),
        Rule("smartnews.description", "a channel description of at most 30 characters",
             REJECTED, SMARTNEWS, _short_description),
        Rule("smartnews.size", "a document of 1 MB or less", DOWNGRADED, SMARTNEWS,
             _one_megabyte),
    ),
)  # fmt: skip

NEWSBREAK = "https://support.newsbreak.com/publisher-faq"


def _credit(item: Item, now: datetime) -> str | None:
    if item.image is None or item.image.credit:
        return None
    return "the image has no credit"


NEWSBREAK_PROFILE = Profile(
    "newsbreak",
    "NewsBreak",
    feed_path("rss"),
    items=(
        Rule("newsbreak.full-text", "the full text", REJECTED, NEWSBREAK, _full_text),
        Rule("newsbreak.image", "an image", REJECTED, NEWSBREAK, _has_image),
        Rule("newsbreak.byline", "a byline", REJECTED, NEWSBREAK, _byline),
        Rule("newsbreak.credit", "an image credit", REJECTED, NEWSBREAK, _credit),
    ),
    document=(Rule("newsbreak.format", "an RSS feed", REJECTED, NEWSBREAK, _kinds("rss")),),
    full_text=True,
)  # fmt: skip

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (MSN, FLIPBOARD, APPLE_NEWS, GOOGLE_NEWS, SMARTNEWS_PROFILE, NEWSBREAK_PROFILE)
}


def check_partner_profile(name: str | None, content: str) -> None:
    """Raises PartnerError unless a partner taking `content` may be given profile `name`."""
    if name is None:
        return
    profile = PROFILES.get(name)
    feeds = [p.name for p in PROFILES.values() if p.feeds]
    if profile is None or not profile.feeds:
        raise PartnerError(
            f"--profile {name!r} is not a feed profile; choose one of {', '.join(feeds)}"
        )
    if profile.full_text and content != "full":
        raise PartnerError(
            f"--profile {name} needs --content full: {profile.consumer} rejects articles "
            "without their full text"
        )
