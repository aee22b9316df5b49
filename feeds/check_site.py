"""`feeds check`: the documents as the service serves them, judged by each consumer profile's
published rules (feeds.syndication.profiles), and what partners with a profile are not sent."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from flask import Flask

from feeds.config import Settings
from feeds.errors import FeedsError
from feeds.model import Partner
from feeds.store import Reader
from feeds.syndication.plan import partner_plan
from feeds.syndication.profiles import REJECTED, Finding, Profile, item_of
from feeds.syndication.reading import Unreadable, read
from feeds.syndication.urls import article_path
from feeds.web.service import Service

# The media types of what `feeds check` reads: the feeds' and the sitemaps'.
READABLE = {
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/xml",
    "text/xml",
}


@dataclass(frozen=True)
class Report:
    """One profile's verdict on one document: its findings, the document's first."""

    profile: Profile
    path: str
    items: int
    findings: list[Finding]

    @property
    def rejected(self) -> set[str]:
        """The items that would be rejected."""
        return {f.subject for f in self._items() if f.rule.outcome == REJECTED}

    @property
    def downgraded(self) -> set[str]:
        """The items that would be taken, downgraded."""
        return {f.subject for f in self._items()} - self.rejected

    @property
    def refused(self) -> bool:
        """Whether anything (an item, or the whole document) would be rejected."""
        return any(f.rule.outcome == REJECTED for f in self.findings)

    def _items(self) -> list[Finding]:
        return [f for f in self.findings if f.subject != "document"]

    def summary(self) -> str:
        whole = [f for f in self.findings if f.subject == "document"]
        document = (
            "the document would be rejected, "
            if any(f.rule.outcome == REJECTED for f in whole)
            else ""
        )
        return (
            f"{self.profile.name}: {self.path}: {self.items} "
            f"{'article' if self.items == 1 else 'articles'}, {document}"
            f"{len(self.rejected)} would be rejected, {len(self.downgraded)} downgraded"
        )


@dataclass(frozen=True)
class Withheld:
    """An article a partner's feed leaves out, and the rules its profile rejects it by."""

    partner: str
    subject: str
    findings: list[Finding]


def check(app: Flask, profiles: list[Profile], path: str | None = None) -> list[Report]:
    """Each profile's report on `path` (default: the document it reads) as served now.
    Raises FeedsError when the document cannot be had or read."""
    svc = Service.of(app)
    client = app.test_client()
    now = svc.settings.now()
    reports = []
    for profile in profiles:
        where = path or profile.path
        response = client.get(where)
        if response.status_code != 200:
            raise FeedsError(
                f"{where} answered {response.status_code}: give --feed the path of a feed "
                "(e.g. /feeds/rss.xml) or of a sitemap"
            )
        if response.mimetype not in READABLE:
            raise FeedsError(
                f"{where} is {response.mimetype or 'untyped'}, not a feed or a sitemap: give "
                "--feed the path of a feed (e.g. /feeds/rss.xml) or of a sitemap"
            )
        try:
            doc, items = read(response.get_data(), svc.settings.base_url)
        except Unreadable as e:
            raise FeedsError(
                f"{where}: {e}; give --feed the path of a feed (e.g. /feeds/rss.xml) or of a "
                "sitemap of articles (e.g. /sitemaps/news.xml)"
            ) from e
        findings = profile.document_findings(doc, now)
        for item in items:
            findings += profile.item_findings(item, now)
        reports.append(Report(profile, where, len(items), findings))
    return reports


def withheld(app: Flask, profile: Profile) -> list[Withheld]:
    """The articles that each active partner with `profile` is not sent, of those its
    subscription document would hold without the profile."""
    svc = Service.of(app)
    settings = svc.settings
    now = settings.now()
    left_out = []
    with svc.store.read() as reader:
        partners = [p for p in reader.partners() if p.profile == profile.name and p.revoked is None]
        for partner in partners:
            left_out += _withheld(reader, settings, partner, profile, now)
    return left_out


def _withheld(
    reader: Reader, settings: Settings, partner: Partner, profile: Profile, now: datetime
) -> list[Withheld]:
    planned = partner_plan(reader, settings, dataclasses.replace(partner, profile=None), now)
    found = []
    for article in reader.articles([h.id for h in planned.heads]):
        item = item_of(
            article,
            settings.url(article_path(article.id)),
            partner.content == "summary",
            settings.author,
        )
        rejections = [f for f in profile.item_findings(item, now) if f.rule.outcome == REJECTED]
        if rejections:
            found.append(Withheld(partner.name, item.name, rejections))
    return found
