"""A planned document with its articles and metadata: what every format renders."""

from __future__ import annotations

from datetime import datetime

from feeds import __version__
from feeds.config import Settings
from feeds.errors import NoSchema
from feeds.formats import FORMATS
from feeds.model import Entry, FeedDocument, FeedInfo
from feeds.store import Reader

from .plan import Load, Plan
from .urls import DocKey, article_path, feed_title, home_path, hubs_of


def _urls(settings: Settings, key: DocKey | None, query: str = "") -> dict[str, str] | None:
    if key is None:
        return None
    return {name: settings.url(key.path(name)) + query for name in FORMATS}


def document(
    reader: Reader, settings: Settings, plan: Plan, load: Load | None = None
) -> FeedDocument:
    """The planned document with its articles (read by `load`, if given), ready for any
    format. Raises NoSchema when the store has none."""
    heads = plan.heads
    articles = load(reader, heads) if load else reader.articles([h.id for h in heads])
    prefix, created = reader.fixed_meta("feed_id_prefix"), reader.fixed_meta("created")
    if prefix is None or created is None:
        raise NoSchema("the store has no schema yet; run `feeds migrate`")
    section, author, partner = plan.key.section, plan.key.author, plan.partner
    if partner is not None:
        title = settings.title
        feed_id = f"{prefix}partners/{partner.name}"
    elif author is not None:
        title = f"{settings.title} — {plan.author_name or author}"
        feed_id = f"{prefix}feeds/authors/{author}"
    else:
        title = feed_title(settings, section)
        feed_id = prefix + "feeds" + (f"/{section}" if section else "")
    info = FeedInfo(
        feed_id=feed_id,
        title=title,
        description=settings.description,
        language=settings.language,
        author=settings.author,
        home_url=settings.url(home_path(section)),
        urls=_urls(settings, plan.key, plan.query) or {},
        # The latest instant its content changed (entries in or out, corrections,
        # withdrawals), from the stored data alone: the same on every server, never going
        # back. A document that never held anything has the store's creation.
        updated=plan.changed or datetime.fromisoformat(created),
        generator="feeds",
        generator_version=__version__,
        # A partner's links carry the ?token= it was read with, as its self link does.
        prev_archive=_urls(settings, plan.prev, plan.query),
        next_archive=_urls(settings, plan.next, plan.query),
        current=_urls(settings, plan.key.subscription, plan.query) if plan.key.month else None,
        rights=partner.rights or None if partner else None,
        hubs=hubs_of(settings, plan.key),
    )
    entries = tuple(Entry(a, settings.url(article_path(a.id))) for a in articles)
    return FeedDocument(
        info=info,
        entries=entries,
        tombstones=tuple(plan.tombstones),
        summary_only=partner is not None and partner.content == "summary",
    )
