"""The database schema, shared by SQLite and PostgreSQL through SQLAlchemy Core."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC; returns them aware, in UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        """Aware UTC datetimes from what the dialect returns. On SQLite, text in the form
        this type stores is read with its offset in one step (a feed's plan reads hundreds
        of these); any other text goes through the dialect's own reader."""
        convert = self.impl_instance.result_processor(dialect, coltype)

        def aware(value: Any) -> datetime | None:
            if value is None:
                return None
            moment: Any = convert(value) if convert is not None else value
            if moment.tzinfo is None:
                return moment.replace(tzinfo=UTC)  # type: ignore[no-any-return]
            return moment.astimezone(UTC)  # type: ignore[no-any-return]

        if dialect.name != "sqlite":
            return aware

        def from_text(value: Any) -> datetime | None:
            if isinstance(value, str):
                moment = _from_stored(value)
                if moment is not None:
                    return moment
            return aware(value)

        return from_text


# How SQLAlchemy writes a datetime into SQLite text: "2020-01-04 18:09:00.000000".
_STORED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\Z")


@functools.lru_cache(maxsize=4096)
def _from_stored(text: str) -> datetime | None:
    """The instant of SQLite text in the stored form (None for any other), each text read
    once: a feed's plan reads the same few hundred again with every change."""
    return datetime.fromisoformat(text + "+00:00") if _STORED.match(text) else None


metadata = sa.MetaData()

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

articles = sa.Table(
    "articles",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("tag", sa.String(512), nullable=False, unique=True),
    sa.Column("section", sa.String(255)),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("paragraphs", sa.Text, nullable=False),  # JSON array of strings
    # Sanitised HTML when the body came as HTML through the API; paragraphs hold its text.
    sa.Column("body_html", sa.Text),
    sa.Column("authors", sa.Text, nullable=False, server_default="[]"),  # JSON array
    sa.Column("tags", sa.Text, nullable=False, server_default="[]"),  # JSON array
    sa.Column("image", sa.Text),  # the lead image given with it: JSON (model.Image.as_json)
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("published", UTCDateTime, nullable=False),
    sa.Column("updated", UTCDateTime, nullable=False),  # the update marker
    # When the article last changed as HTTP caches see it (Last-Modified).
    sa.Column("modified", UTCDateTime, nullable=False),
    # The number of its latest change in the store's sequence: orders changes of one second.
    sa.Column("change_seq", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_stored", UTCDateTime, nullable=False),
    # Where the article's file was found (resolved path), for `feeds import --sync`.
    sa.Column("source_path", sa.Text),
    # When the article was withdrawn; withdrawn articles keep their row, so no id is reused.
    sa.Column("withdrawn", UTCDateTime),
    # How: "delete" (its file may still be there) or "sync" (its file was gone).
    sa.Column("withdrawn_by", sa.String(16)),
)
_current = articles.c.withdrawn.is_(None)
# When the next embargo ends: the visible-to-be articles by published time.
sa.Index(
    "ix_articles_published",
    articles.c.published,
    sqlite_where=_current,
    postgresql_where=_current,
)
sa.Index("ix_articles_modified", articles.c.modified)
# Subscription documents hold the articles that changed most recently: these partial indexes
# read them in that order, with what a plan reads of each.
_changed = (articles.c.revision, articles.c.published)
sa.Index(
    "ix_articles_changed",
    articles.c.modified.desc(),
    articles.c.change_seq.desc(),
    articles.c.id,
    *_changed,
    sqlite_where=_current,
    postgresql_where=_current,
)
sa.Index(
    "ix_articles_section_changed",
    articles.c.section,
    articles.c.modified.desc(),
    articles.c.change_seq.desc(),
    articles.c.id,
    *_changed,
    sqlite_where=_current,
    postgresql_where=_current,
)
sa.Index("ix_articles_updated", articles.c.updated)

# An article that left the place it had among the newest (re-dated or moved to another
# section) leaves a record, so the documents it left get a newer Last-Modified.
departures = sa.Table(
    "departures",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("article_id", sa.String(255), nullable=False),
    sa.Column("published", UTCDateTime, nullable=False),
    sa.Column("section", sa.String(255)),
    sa.Column("at", UTCDateTime, nullable=False),
)
# The latest departure of the site, of a section, of some articles: each one index search.
sa.Index("ix_departures_at", departures.c.at)
sa.Index("ix_departures_section_at", departures.c.section, departures.c.at)
sa.Index("ix_departures_article", departures.c.article_id)
_gone = articles.c.withdrawn.is_not(None)
sa.Index("ix_articles_withdrawn", articles.c.withdrawn, sqlite_where=_gone, postgresql_where=_gone)

# Where each article sits in the archives of each place it appears in: the site ("*"), its
# section ("s:" + name) and each of its authors ("a:" + slug). A place's archives list its
# placements in the order (entered, seq), month by month of `entered`, in parts of
# FEEDS_ARCHIVE_SIZE. Rows are never deleted once the article could be seen: an article
# that leaves a place (moved to another section, an author taken off) keeps its row there
# with `left_at` set, and a withdrawn article keeps all of them, so no part boundary ever
# moves. A new placement enters after every one before it: `entered` is the article's
# published time when that is later than anything stored, else the time it was stored.
# Its key is the order of a place's archives; on SQLite the rows are kept in that order
# (WITHOUT ROWID), so reading a part is one range of the key and no other index is written.
placements = sa.Table(
    "placements",
    metadata,
    sa.Column("place", sa.String(260), primary_key=True),
    sa.Column("entered", UTCDateTime, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("article_id", sa.String(255), nullable=False),
    sa.Column("left_at", UTCDateTime),
    sqlite_with_rowid=False,
)
sa.Index("ix_placements_article", placements.c.article_id)
_left = placements.c.left_at.is_not(None)
sa.Index(
    "ix_placements_left",
    placements.c.place,
    placements.c.left_at,
    sqlite_where=_left,
    postgresql_where=_left,
)

# The validators each document was last served with: when a document's ETag changes but the
# Last-Modified its data gives does not move (a neighbour archive appeared, a tombstone
# expired), the time of that first answer is its Last-Modified, so that a client revalidating
# by date alone still sees the change.
served = sa.Table(
    "served",
    metadata,
    sa.Column("document", sa.String(512), primary_key=True),
    sa.Column("etag", sa.String(64), nullable=False),
    sa.Column("last_modified", UTCDateTime, nullable=False),
)

# API and partner tokens: only a SHA-256 digest of each token is kept.
tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("scope", sa.String(32), nullable=False),
    sa.Column("created", UTCDateTime, nullable=False),
    sa.Column("revoked", UTCDateTime),
)

# Every write through the API: who, what, when, and the result, a row each. Refused requests
# (status 400 and above) share a row per minute, status, method and token: `count` of them,
# from `at` to `last_at`; the newest of those rows are kept (accounts.REFUSED_KEPT).
audit = sa.Table(
    "audit",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("token", sa.String(128)),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("article_id", sa.String(255), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("count", sa.Integer, nullable=False, server_default="1"),
    sa.Column("last_at", UTCDateTime),
)
AUDIT_REFUSED = audit.c.status >= 400
# A refused request finds its minute's row, and the oldest rows beyond the kept ones go,
# through this index of the refused rows alone.
sa.Index(
    "ix_audit_refused_at", audit.c.at, sqlite_where=AUDIT_REFUSED, postgresql_where=AUDIT_REFUSED
)

# Who wrote each article, by slug, so that an author's feed is an indexed lookup.
article_authors = sa.Table(
    "article_authors",
    metadata,
    sa.Column("slug", sa.String(255), primary_key=True),
    sa.Column("article_id", sa.String(255), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
)

# Syndication partners: the sections they bought, full text or summaries, rights, and a feed
# token kept as a SHA-256 digest.
partners = sa.Table(
    "partners",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("sections", sa.Text, nullable=False),  # JSON array
    sa.Column("content", sa.String(16), nullable=False),  # "full" or "summary"
    sa.Column("rights", sa.Text, nullable=False, server_default=""),
    sa.Column("created", UTCDateTime, nullable=False),
    sa.Column("revoked", UTCDateTime),
    # The consumer whose rules its feeds keep to (feeds.syndication.profiles), or None.
    sa.Column("profile", sa.String(32)),
)

# When each partner last got a full (200) answer for each of its feeds.
partner_polls = sa.Table(
    "partner_polls",
    metadata,
    sa.Column("partner", sa.String(128), primary_key=True),
    sa.Column("document", sa.String(512), primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False),
)

# The built-in WebSub hub (feeds.push). Its times are the wall clock's, never FEEDS_CLOCK's:
# they schedule work (retries, leases, claims), not what a document shows.

# Ids of hub rows are never given twice (SQLite's AUTOINCREMENT; else a deleted newest row's id
# would come again, and a late answer to its request could act on a newer one).

# Verified subscriptions, one per (topic, callback) as WebSub §5.1 asks: a topic is the self
# URL of a subscription document, a partner's named by `partner` (private to it).
hub_subscriptions = sa.Table(
    "hub_subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("topic", sa.String(512), nullable=False),
    sa.Column("callback", sa.String(2048), nullable=False),
    sa.Column("secret", sa.String(255)),
    sa.Column("lease_seconds", sa.Integer, nullable=False),
    sa.Column("expires", UTCDateTime, nullable=False),
    sa.Column("partner", sa.String(128)),
    sa.Column("created", UTCDateTime, nullable=False),
    sa.Column("renewed", UTCDateTime, nullable=False),
    sa.UniqueConstraint("topic", "callback", name="uq_hub_subscriptions_topic_callback"),
    sqlite_autoincrement=True,
)
sa.Index("ix_hub_subscriptions_expires", hub_subscriptions.c.expires)
sa.Index("ix_hub_subscriptions_partner", hub_subscriptions.c.partner)

# Subscribe and unsubscribe requests answered 202 and not yet verified (or denied).
hub_requests = sa.Table(
    "hub_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("mode", sa.String(16), nullable=False),  # subscribe, unsubscribe, denied
    sa.Column("topic", sa.String(2048), nullable=False),  # as given: a denial names it so
    sa.Column("callback", sa.String(2048), nullable=False),
    sa.Column("secret", sa.String(255)),
    sa.Column("lease_seconds", sa.Integer, nullable=False),
    sa.Column("partner", sa.String(128)),
    sa.Column("reason", sa.Text),  # of a denial
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("due", UTCDateTime, nullable=False),
    sa.Column("claimed_until", UTCDateTime),
    sqlite_autoincrement=True,
)
sa.Index("ix_hub_requests_due", hub_requests.c.due)

# What each topic was when last looked at: its ETag and the bytes and headers subscribers get,
# and when time alone may change it next (an embargo ends, a tombstone expires).
hub_topics = sa.Table(
    "hub_topics",
    metadata,
    sa.Column("topic", sa.String(512), primary_key=True),
    sa.Column("etag", sa.String(64), nullable=False),
    sa.Column("media_type", sa.String(128), nullable=False),
    sa.Column("links", sa.Text, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("changed", UTCDateTime, nullable=False),
    sa.Column("recheck", UTCDateTime),  # in the documents' time (FEEDS_CLOCK)
)
sa.Index("ix_hub_topics_recheck", hub_topics.c.recheck)

# The outbox: every write transaction that changed what documents show leaves a row, in that
# transaction, naming the articles it touched (JSON array; null: too many to name, look at
# every topic). The hub's dispatcher turns them into deliveries and pings.
hub_changes = sa.Table(
    "hub_changes",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("articles", sa.Text),
    sqlite_autoincrement=True,
)

# One pending delivery per subscription, of its topic's latest bytes (hub_topics): a change
# that comes while one waits makes it send the newer bytes, never two deliveries out of order.
hub_deliveries = sa.Table(
    "hub_deliveries",
    metadata,
    sa.Column("subscription_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("etag", sa.String(64), nullable=False),  # the topic's ETag it was made for
    sa.Column("due", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("claimed_until", UTCDateTime),
    sa.Column("made", UTCDateTime, nullable=False),  # when the change was found
    sa.Column("error", sa.Text),  # why the last attempt failed
)
sa.Index("ix_hub_deliveries_due", hub_deliveries.c.due)

# Pings of external hubs (FEEDS_HUBS): one per (hub, topic) until sent; sent ten a request.
hub_pings = sa.Table(
    "hub_pings",
    metadata,
    sa.Column("hub", sa.String(2048), primary_key=True),
    sa.Column("topic", sa.String(512), primary_key=True),
    sa.Column("due", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("claimed_until", UTCDateTime),
)
sa.Index("ix_hub_pings_due", hub_pings.c.due)

# Audience figures (feeds.audience): polls of each subscription feed per day (UTC), by its
# public path; partners' feeds under /partners/NAME/FILE.
audience_polls = sa.Table(
    "audience_polls",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("feed", sa.String(512), primary_key=True),
    sa.Column("polls", sa.Integer, nullable=False),
    sa.Column("not_modified", sa.Integer, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
)

# The latest figure each aggregator that reports subscribers gave for a feed: `key` is its
# feed id when it sends one, else its User-Agent with the digits masked (agents.Agent.key).
audience_reporters = sa.Table(
    "audience_reporters",
    metadata,
    sa.Column("feed", sa.String(512), primary_key=True),
    sa.Column("reader", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("subscribers", sa.Integer, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
)
sa.Index("ix_audience_reporters_last_seen", audience_reporters.c.last_seen)

# Clients that report no subscribers, one row per feed, reader and day each: the hash of
# their network and User-Agent with that day's salt, never the address itself.
audience_visitors = sa.Table(
    "audience_visitors",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("feed", sa.String(512), primary_key=True),
    sa.Column("reader", sa.String(64), primary_key=True),
    sa.Column("hash", sa.String(64), primary_key=True),
)

# Each day's random salt, deleted once the day is over: then no hash can be linked to an
# address again.
audience_salts = sa.Table(
    "audience_salts",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("salt", sa.String(64), nullable=False),
)

# Running totals of imports (feeds.metrics reads them at each scrape): runs by result,
# articles by outcome, durations per histogram bucket and their sum.
import_figures = sa.Table(
    "import_figures",
    metadata,
    sa.Column("figure", sa.String(64), primary_key=True),
    sa.Column("label", sa.String(64), primary_key=True),
    sa.Column("value", sa.Double, nullable=False),
)
