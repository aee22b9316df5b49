"""Where documents live and what they are called: document names (DocKey), their paths, and
the titles and lists of feeds that pages, the OPML directory and Link headers show, and the
hubs that subscription documents name."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from feeds.config import Settings
from feeds.formats import FORMATS


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def of(cls, moment: datetime) -> Month:
        utc = moment.astimezone(UTC)
        return cls(utc.year, utc.month)

    @property
    def span(self) -> tuple[datetime, datetime]:
        start = datetime(self.year, self.month, 1, tzinfo=UTC)
        end = datetime(self.year + self.month // 12, self.month % 12 + 1, 1, tzinfo=UTC)
        return start, end


@dataclass(frozen=True)
class DocKey:
    """Names one document: a section (None: the site), an author or a partner, and for an
    archive its month and part."""

    section: str | None = None
    month: Month | None = None
    part: int = 0
    author: str | None = None  # an author's slug
    partner: str | None = None

    def path(self, fmt: str) -> str:
        filename = FORMATS[fmt].FILENAME
        if self.partner is not None:
            base = f"/partners/{self.partner}"
        elif self.author is not None:
            base = f"/feeds/authors/{self.author}"
        else:
            base = "/feeds" + (f"/{self.section}" if self.section else "")
        if self.month is not None:
            base += f"/archive/{self.month.year:04d}/{self.month.month:02d}/{self.part}"
        return f"{base}/{filename}"

    @property
    def subscription(self) -> DocKey:
        return DocKey(self.section, author=self.author, partner=self.partner)


def hubs_of(settings: Settings, key: DocKey) -> tuple[str, ...]:
    """The WebSub hubs the document named by `key` names (W3C WebSub §4): every hub, the
    built-in one first, for a subscription document; none for an archive, which is no topic.
    A partner's feed names the built-in hub alone: an external hub cannot read a feed that
    takes a token."""
    if key.month is not None:
        return ()
    return (settings.hub_url,) if key.partner is not None else settings.all_hubs


@functools.lru_cache(maxsize=4096)  # a document asks for the same ones with every rebuild
def article_path(article_id: str) -> str:
    return "/articles/" + quote(article_id, safe="")


def section_path(section: str) -> str:
    return "/sections/" + quote(section, safe="")


def feed_path(fmt: str, section: str | None = None) -> str:
    return DocKey(section).path(fmt)


def home_path(section: str | None) -> str:
    """The page a feed's entries are listed on."""
    return section_path(section) if section else "/"


def section_label(section: str) -> str:
    return section[:1].upper() + section[1:]


def feed_title(settings: Settings, section: str | None = None) -> str:
    """The title of the site's feeds, or of a section's: 'Newsroom — World'."""
    return settings.title + (f" — {section_label(section)}" if section else "")


@dataclass(frozen=True)
class FeedLink:
    """One feed as pages, the directory and Link headers list it."""

    title: str  # 'Newsroom — World (Atom)'
    label: str  # 'Atom'
    url: str
    media_type: str  # without parameters


def feed_links(settings: Settings, section: str | None = None) -> list[FeedLink]:
    """The site's feeds, or a section's, one per format."""
    title = feed_title(settings, section)
    return [
        FeedLink(
            f"{title} ({fmt.LABEL})",
            fmt.LABEL,
            settings.url(feed_path(name, section)),
            fmt.MEDIA_TYPE.split(";")[0],
        )
        for name, fmt in FORMATS.items()
    ]
