"""The frozen records that flow between the rooms; every datetime is timezone-aware UTC."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from .text import first_image, first_paragraph, paragraphs_html, shorten


@dataclass(frozen=True)
class Image:
    """An article's lead image: an absolute http(s) URL, its alt text (never empty), and
    what else is known of it. `type` is a MIME type (image/...), `length` its size in bytes."""

    url: str
    alt: str
    caption: str | None = None
    credit: str | None = None
    width: int | None = None
    height: int | None = None
    type: str | None = None
    length: int | None = None

    def as_json(self) -> dict[str, str | int]:
        """The fields that are set, in the order above: as stored and as the API shows it."""
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, str | int]) -> Image:
        return cls(**data)  # type: ignore[arg-type]


def _image_json(image: Image | None) -> str | None:
    return None if image is None else _dumps(image.as_json())


@dataclass(frozen=True)
class ParsedArticle:
    """An article as read from a file, validated, before it is stored."""

    id: str
    title: str
    published: datetime
    updated: datetime
    paragraphs: tuple[str, ...]
    section: str | None
    source: str
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    body_html: str | None = None
    image: Image | None = None  # the lead image given, not one found in the body
    # Set by the text parser when the title and paragraphs are already what _fold makes of
    # them (each white-space run one plain space, none at either end).
    folded: bool = field(default=False, compare=False, repr=False)

    @cached_property
    def paragraphs_json(self) -> str:
        """The paragraphs as stored: a JSON array of strings."""
        return _dumps(list(self.paragraphs))

    @cached_property
    def image_json(self) -> str | None:
        """The lead image as stored: a JSON object, or None."""
        return _image_json(self.image)

    @cached_property  # computed once: the importer compares it and stores it
    def content_hash(self) -> str:
        """A digest of what readers see; white space alone does not change it.

        The SHA-256 of the compact JSON array [title, published, updated, [paragraphs...]]
        with white space folded, followed by [authors...], [tags...] and the HTML body when
        any of them or a lead image is set, and then the lead image (Image.as_json) when it
        is. Stored digests are compared with new ones: never change this."""
        if self.folded:
            title, paragraphs = self.title, self.paragraphs_json
        else:
            title, paragraphs = _fold(self.title), _dumps([_fold(p) for p in self.paragraphs])
        fields = [_dumps(title), _dumps(self.published.isoformat())]
        fields += [_dumps(self.updated.isoformat()), paragraphs]
        if self.authors or self.tags or self.body_html is not None or self.image is not None:
            fields += [_dumps(list(self.authors)), _dumps(list(self.tags))]
            fields.append(_dumps(_fold(self.body_html or "")))
        if self.image_json is not None:
            fields.append(self.image_json)
        data = "[" + ",".join(fields) + "]"
        return hashlib.sha256(data.encode()).hexdigest()


def _fold(text: str) -> str:
    return " ".join(text.split())


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Article:
    """A stored article: the parsed fields plus what the store minted and tracks."""

    id: str
    tag: str
    title: str
    published: datetime
    updated: datetime
    paragraphs: tuple[str, ...]
    section: str | None
    revision: int
    modified: datetime  # when the article last changed as HTTP caches see it
    withdrawn: datetime | None = None
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    body_html: str | None = None
    image: Image | None = None  # the lead image given with the article

    @property
    def lead_image(self) -> Image | None:
        """The lead image given with the article; failing that, the first image of its HTML
        body that has alt text (the sanitiser keeps no other), None when there is neither.
        Found once per article, as `html` is."""
        if self.image is not None or self.body_html is None:
            return self.image
        if "_lead" not in self.__dict__:
            found = first_image(self.body_html)
            self.__dict__["_lead"] = None if found is None else Image(**found)  # type: ignore[arg-type]
        lead: Image | None = self.__dict__["_lead"]
        return lead

    @property
    def image_in_body(self) -> bool:
        """Whether the lead image is one the body shows already (no figure is added)."""
        return self.image is None and self.lead_image is not None

    @property
    def summary(self) -> str:
        """Plain text: the first paragraph (of an HTML body, its first paragraph of text, not
        a heading: see text.first_paragraph), cut to SUMMARY_LENGTH characters at a word
        boundary with an ellipsis when it is longer. Made once per article, as `html` is."""
        made: str | None = self.__dict__.get("_summary")
        if made is None:
            first = None if self.body_html is None else first_paragraph(self.body_html)
            made = self.__dict__["_summary"] = shorten(first or self.paragraphs[0])
        return made

    @property
    def html(self) -> str:
        """The body as HTML: the sanitised HTML it came with, or its paragraphs as `<p>`
        elements. Made once per article: the article cache keeps it for every document that
        shows the article."""
        made: str | None = self.__dict__.get("_html")
        if made is None:
            # Kept beside the fields, as functools.cached_property does, but without the
            # lock it takes on Python 3.11 (one for every article, across threads).
            html = self.body_html
            made = self.__dict__["_html"] = (
                html if html is not None else paragraphs_html(self.paragraphs)
            )
        return made


@dataclass(frozen=True)
class FeedInfo:
    """Feed-level metadata of one document, the same for every format."""

    feed_id: str
    title: str
    description: str
    language: str
    author: str
    home_url: str
    urls: dict[str, str]  # format name -> absolute URL of that format's document
    updated: datetime
    generator: str
    generator_version: str
    # RFC 5005 links, each as format name -> absolute URL; `current` only in archives.
    prev_archive: dict[str, str] | None = None
    next_archive: dict[str, str] | None = None
    current: dict[str, str] | None = None
    rights: str | None = None  # a rights statement (partner feeds)
    # The WebSub hubs it names (W3C WebSub §4), in order: subscription documents only.
    hubs: tuple[str, ...] = ()

    @property
    def archive(self) -> bool:
        return self.current is not None


@dataclass(frozen=True)
class Tombstone:
    """A withdrawn article, for RFC 6721 deleted-entry elements in Atom."""

    tag: str
    when: datetime


@dataclass(frozen=True)
class Entry:
    """One article as a feed entry: a stored article plus its public URL."""

    article: Article
    url: str


@dataclass(frozen=True)
class FeedDocument:
    """Everything a format needs to render one feed document."""

    info: FeedInfo
    entries: tuple[Entry, ...]
    tombstones: tuple[Tombstone, ...] = ()
    summary_only: bool = False  # entries carry their summary, not the full text


@dataclass(frozen=True)
class Head:
    """The few columns of a stored article that decide a document's validators, read
    without its text."""

    id: str
    revision: int
    published: datetime
    modified: datetime


@dataclass(frozen=True)
class Stored:
    """What the update rules compare an incoming article against."""

    content_hash: str
    section: str | None
    published: datetime
    updated: datetime
    revision: int
    withdrawn: datetime | None
    withdrawn_by: str | None  # "delete" (its file may still be there) or "sync" (it was gone)


@dataclass(frozen=True)
class Validators:
    """A strong entity tag (without quotes) and the Last-Modified instant of a document."""

    etag: str
    last_modified: datetime


@dataclass(frozen=True)
class Token:
    """An API token, as listed: never its secret, which only the one who made it saw."""

    name: str
    scope: str
    created: datetime
    revoked: datetime | None


@dataclass(frozen=True)
class Partner:
    """A syndication partner: the sections it bought, full text or summaries, its rights
    statement, the digest of its feed token, and the consumer profile (see
    feeds.syndication.profiles) whose rules its feeds keep to, if any."""

    name: str
    sections: tuple[str, ...]
    content: str  # "full" or "summary"
    rights: str
    created: datetime
    revoked: datetime | None
    digest: str = field(default="", repr=False, compare=False)
    profile: str | None = None

    @property
    def shaping(self) -> str:
        """What of the partner's terms shapes its feeds' bytes."""
        if self.profile is None:
            return repr((self.sections, self.content, self.rights))
        return repr((self.sections, self.content, self.rights, self.profile))


# The token of a refused request that carried credentials, but no active publish token.
INVALID_TOKEN = "(invalid token)"


@dataclass(frozen=True)
class AuditEntry:
    """One write through the API (status below 400), or refused attempts at one: `count` of
    them from `at` to `last`, alike in status, method and token. `token` is the holder's
    name, INVALID_TOKEN, or None when no credentials came."""

    at: datetime
    token: str | None
    method: str
    article_id: str
    status: int
    detail: str
    count: int = 1
    last: datetime | None = None

    @property
    def refused(self) -> bool:
        return self.status >= 400


@dataclass(frozen=True)
class Subscription:
    """A verified WebSub subscription of `callback` to `topic` (a subscription document's
    self URL) until `expires`; `partner` names the partner whose private topic it is."""

    id: int
    topic: str
    callback: str
    secret: str | None = field(repr=False)
    lease_seconds: int
    expires: datetime
    partner: str | None
    created: datetime
    renewed: datetime


@dataclass(frozen=True)
class HubRequest:
    """A subscribe or unsubscribe request the hub answered 202 and has yet to verify, or a
    denial (mode "denied", with its reason) it has yet to send."""

    id: int
    mode: str
    topic: str
    callback: str
    secret: str | None = field(repr=False)
    lease_seconds: int
    partner: str | None
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class TopicState:
    """A topic as the hub last saw it: what subscribers get, and when time alone may change
    it next (in the documents' time)."""

    topic: str
    etag: str
    media_type: str
    links: str
    body: bytes = field(repr=False)
    changed: datetime
    recheck: datetime | None


@dataclass(frozen=True)
class Delivery:
    """A delivery claimed by a hub worker: the subscription and the topic's latest bytes."""

    subscription: Subscription
    topic: TopicState
    attempts: int
    made: datetime  # when the change it carries was found
