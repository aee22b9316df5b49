"""`feeds check` against a store built to break each rule once, the served documents read
back in every format, and partners whose profile leaves out what it would reject."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from feeds.config import Settings
from feeds.ingest import rules
from feeds.ingest.rules import Change, Markers, prepare
from feeds.model import Image, ParsedArticle
from feeds.store import Store
from feeds.syndication.profiles import PROFILES, Item, ItemImage
from feeds.syndication.reading import read
from tests.support import IMPORT_TIME, InProcess

BASE = "https://news.example.com"
RECENT = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
GOOD = Image(f"{BASE}/img/good.jpg", "A good picture", credit="Ann", width=1200, height=800)


def put(store: Store, settings: Settings, *articles: ParsedArticle) -> None:
    """Store articles as the API does, at IMPORT_TIME."""
    with store.write() as writer:
        change = Change(
            now=IMPORT_TIME,
            tag_authority=settings.tag_authority,
            floor=writer.latest_modified(),
            markers=Markers(writer),
            locate=lambda article_id: None,
        )
        rules.apply(writer, [prepare(a) for a in articles], change)


def article(
    article_id: str,
    title: str = "A headline of a perfectly ordinary length",
    published: datetime = RECENT,
    image: Image | None = GOOD,
) -> ParsedArticle:
    return ParsedArticle(
        id=article_id,
        title=title,
        published=published,
        updated=published,
        paragraphs=("A first paragraph of some length. " * 12, "The rest of it."),
        section="world",
        source="{}",
        authors=("Ann Smith",),
        image=image,
    )


# One article per MSN rule the service's documents can break: what it breaks, and how.
MSN_BROKEN = {
    "short": (article("short", title="Too short"), "msn.title", "rejected"),
    "old": (article("old", published=datetime(2024, 6, 1, tzinfo=UTC)), "msn.published",
            "rejected"),
    "bare": (article("bare", image=None), "msn.image", "rejected"),
    "heavy": (article("heavy", image=replace(GOOD, length=20_000_000)), "msn.image-bytes",
              "rejected"),
    "narrow": (article("narrow", image=replace(GOOD, width=400, height=300)), "msn.image-width",
               "downgraded"),
    "unsized": (article("unsized", image=replace(GOOD, width=None, height=None)),
                "msn.image-width", "downgraded"),
    "tall": (article("tall", image=replace(GOOD, width=800, height=2000)), "msn.image-ratio",
             "downgraded"),
}  # fmt: skip


@pytest.fixture
def site_env(site_env: dict[str, str], clock: Path) -> dict[str, str]:
    return site_env | {"FEEDS_CLOCK": str(clock), "FEEDS_PARTNER_MIN_INTERVAL": "0"}


@pytest.fixture
def msn_store(store: Store, settings: Settings) -> Store:
    put(store, settings, article("good"), *(broken for broken, _, _ in MSN_BROKEN.values()))
    return store


def findings(stdout: str) -> set[tuple[str, str, str]]:
    """(article id or "document", rule, outcome) of each report line."""
    found = set()
    for line in stdout.splitlines():
        fields = line.split("\t")
        if len(fields) == 5:
            subject = fields[0].removeprefix(f"{BASE}/articles/")
            found.add((subject, fields[1], fields[2]))
    return found


def test_check_names_exactly_the_rules_each_article_breaks(
    msn_store: Store, site: InProcess
) -> None:
    result = site.feeds("check", "--profile", "msn")
    expected = {(name, rule, outcome) for name, (_, rule, outcome) in MSN_BROKEN.items()}
    assert findings(result.stdout) == expected
    assert result.stdout.splitlines()[-1] == (
        "msn: /feeds/rss.xml: 8 articles, 4 would be rejected, 3 downgraded"
    )
    assert result.returncode == 1
    for line in result.stdout.splitlines()[:-1]:  # each rule with its source
        assert line.split("\t")[4] == PROFILES["msn"].rule(line.split("\t")[1]).source


def test_check_passes_a_store_that_keeps_the_rules(
    store: Store, settings: Settings, site: InProcess
) -> None:
    put(store, settings, article("good"), article("also-good"))
    for path in ("/feeds/rss.xml", "/feeds/atom.xml"):  # MSN reads no JSON Feed
        result = site.feeds("check", "--profile", "msn", "--feed", path)
        assert (result.returncode, findings(result.stdout)) == (0, set()), path
        assert (
            result.stdout.strip() == f"msn: {path}: 2 articles, 0 would be rejected, 0 downgraded"
        )


def test_a_plain_http_base_url_is_rejected_as_a_document(
    store: Store, settings: Settings, site_env: dict[str, str]
) -> None:
    put(store, settings, article("good"))
    site = InProcess(site_env | {"FEEDS_BASE_URL": "http://news.example.com"})
    try:
        result = site.feeds("check", "--profile", "msn")
    finally:
        site.close()
    assert findings(result.stdout) == {("document", "msn.https", "rejected")}
    assert result.returncode == 1
    assert "the document would be rejected" in result.stdout.splitlines()[-1]


def test_each_profile_reports_in_one_summary_line(msn_store: Store, site: InProcess) -> None:
    result = site.feeds("check", "--feed", "/feeds/atom.xml")
    summaries = [line for line in result.stdout.splitlines() if "\t" not in line]
    assert [line.split(":")[0] for line in summaries] == list(PROFILES)
    # Google News reads News sitemaps, not feeds; Apple News takes every article, downgraded
    assert ("document", "google-news.format", "rejected") in findings(result.stdout)
    apple = {f for f in findings(result.stdout) if f[1].startswith("apple-news.")}
    assert apple == {("short", "apple-news.title", "downgraded")}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "myspace"], "no profile 'myspace'; choose one of msn, flipboard"),
        (["--profile", "msn", "--feed", "/feeds/nothing.xml"], "/feeds/nothing.xml answered 404"),
        (["--feed", "feeds/rss.xml"], "give a path on the site"),
        (["--profile", "msn", "--feed", "/healthz"], "/healthz is text/plain, not a feed"),
        (["--profile", "msn", "--feed", "/feeds.opml"], "/feeds.opml is text/x-opml, not a"),
        (["--profile", "msn", "--feed", "/sitemap.xml"], "/sitemap.xml: the document is not"),
        (["--feed", "/partners/p/rss.xml?token=SECRET"], "checked through its profile"),
    ],
)
def test_a_profile_or_document_that_cannot_be_used_is_exit_status_2(
    msn_store: Store, site: InProcess, args: list[str], message: str
) -> None:
    result = site.feeds("check", *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "SECRET" not in result.stdout + result.stderr


# The documents read back: what each format says of an item.


def item(text: bytes) -> Item:
    (found,) = read(text, BASE)[1]
    return found


def test_media_rss_enclosures_and_json_feed_images_are_read_as_the_standards_place_them() -> None:
    rss = b"""<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>
    <item><title>T</title><link>L</link><guid>G</guid>
    <media:content url="https://x/a.jpg" medium="image" width="800" height="600" fileSize="9">
    <media:credit>Ann</media:credit></media:content></item></channel></rss>"""
    assert item(rss).image == ItemImage("https://x/a.jpg", 800, 600, 9, "Ann")
    enclosed = b"""<rss version="2.0"><channel><item><title>T</title>
    <enclosure url="https://x/b.png" length="5" type="image/png"/></item></channel></rss>"""
    assert item(enclosed).image == ItemImage("https://x/b.png", length=5)
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>i</id>
    <link rel="enclosure" href="https://x/c.jpg" type="image/jpeg" length="7"/></entry></feed>"""
    assert item(atom).image == ItemImage("https://x/c.jpg", length=7)
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [
            {
                "id": "i",
                "image": "https://x/d.jpg",
                "attachments": [
                    {"url": "https://x/d.jpg", "mime_type": "image/jpeg", "size_in_bytes": 3}
                ],
            }
        ],
    }  # fmt: skip
    assert item(json.dumps(feed).encode()).image == ItemImage("https://x/d.jpg", length=3)


NEWS_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>https://news.example.com/articles/a</loc><news:news>
    <news:publication><news:name>Newsroom</news:name><news:language>en</news:language>
    </news:publication>
    <news:publication_date>2026-01-15T09:00:00Z</news:publication_date>
    <news:title>Fresh</news:title></news:news></url>
  <url><loc>https://news.example.com/articles/b</loc><news:news>
    <news:publication><news:name>Newsroom</news:name><news:language></news:language>
    </news:publication>
    <news:publication_date>2026-01-01</news:publication_date>
    <news:title></news:title></news:news></url>
</urlset>"""


def test_google_news_reads_a_news_sitemap() -> None:
    doc, items = read(NEWS_SITEMAP, BASE)
    profile = PROFILES["google-news"]
    assert (doc.kind, doc.items) == ("news-sitemap", 2)
    assert profile.document_findings(doc, IMPORT_TIME) == []
    assert profile.item_findings(items[0], IMPORT_TIME) == []
    broken = {f.rule.id for f in profile.item_findings(items[1], IMPORT_TIME)}
    assert broken == {"google-news.title", "google-news.recent", "google-news.publication"}
    many = replace(doc, items=1001)
    assert [f.rule.id for f in profile.document_findings(many, IMPORT_TIME)] == [
        "google-news.count"
    ]


def test_rules_the_service_never_breaks_still_judge_what_they_read() -> None:
    whole = Item(
        "i",
        "https://x/a",
        "A headline of a fine length",
        900,
        400,
        ItemImage("u", 800, 600),
        ("Ann",),
        RECENT,
    )
    summary_only = replace(whole, content=None, authors=(), description=100)
    flipboard, msn = PROFILES["flipboard"], PROFILES["msn"]
    assert {f.rule.id for f in flipboard.item_findings(whole, IMPORT_TIME)} == set()
    assert {f.rule.id for f in flipboard.item_findings(summary_only, IMPORT_TIME)} == {
        "flipboard.full-text",
        "flipboard.creator",
        "flipboard.description",
    }
    small = replace(whole, image=ItemImage("u", 450, 300))
    assert {f.rule.id for f in flipboard.item_findings(small, IMPORT_TIME)} == {
        "flipboard.image-size",
        "flipboard.enclosure-size",
    }
    assert {f.rule.id for f in msn.item_findings(replace(whole, id="", link=""), IMPORT_TIME)} == {
        "msn.id",
        "msn.link",
    }
    assert msn.rejects(summary_only, IMPORT_TIME)
    # An article turns too old for MSN 365 days after it was published.
    assert msn.turns(whole, IMPORT_TIME) == RECENT + timedelta(days=365)
    assert not msn.rejects(whole, RECENT + timedelta(days=365, microseconds=-1))  # fmt: skip
    assert msn.rejects(whole, RECENT + timedelta(days=365))


def test_a_feed_parser_reads_the_items_check_reads(msn_store: Store, site: InProcess) -> None:
    body = site.fetch(site.url("/feeds/rss.xml"))[2]
    ids = {i.id for i in read(body, BASE)[1]}
    assert ids == {e.id for e in feedparser.parse(body).entries}


# Partners with a profile.


def partner_feed(site: InProcess, token: str, fmt: str = "rss.xml") -> tuple[set[str], str]:
    """The article ids a partner's feed holds, and its ETag."""
    status, headers, body = site.fetch(site.url(f"/partners/choosy/{fmt}?token={token}"))
    assert status == 200
    return {i.link.rsplit("/", 1)[1] for i in read(body, BASE)[1]}, headers["ETag"]


def add_choosy(site: InProcess, *options: str) -> str:
    result = site.feeds(
        "partner", "add", "choosy", "--sections", "world", "--content", "full", *options
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_partners_feed_leaves_out_what_its_profile_rejects(
    msn_store: Store, settings: Settings, site: InProcess, clock: Path
) -> None:
    token = add_choosy(site, "--profile", "msn")
    assert "choosy\tworld\tfull\tmsn\tactive" in site.feeds("partner", "list").stdout
    taken = {"good", "narrow", "unsized", "tall"}  # downgraded ones are sent
    for fmt in ("rss.xml", "atom.xml", "feed.json"):
        assert partner_feed(site, token, fmt)[0] == taken
    _, etag = partner_feed(site, token)
    # `feeds check` names what the partner is not sent
    lines = site.feeds("check", "--profile", "msn").stdout.splitlines()
    withheld = [line for line in lines if "withheld" in line]
    assert {line.split("\t")[0].rsplit("/", 1)[1] for line in withheld} == {
        "short",
        "old",
        "bare",
        "heavy",
    }
    assert all(line.endswith("withheld from partner choosy") for line in withheld)
    # An image for `bare`: it is sent, and the document's ETag changes.
    put(msn_store, settings, article("bare"))
    again, new_etag = partner_feed(site, token)
    assert again == taken | {"bare"} and new_etag != etag
    # A year on, time alone leaves out the articles grown too old, at once: sooner than
    # the render cache would look again (RECHECK) for any other reason.
    turn = RECENT + timedelta(days=365)
    clock.write_text((turn - timedelta(seconds=10)).isoformat())
    assert partner_feed(site, token)[0] == taken | {"bare"}
    clock.write_text(turn.isoformat())
    assert partner_feed(site, token)[0] == set()


def test_a_profile_must_be_one_partner_feeds_can_keep_to(site: InProcess) -> None:
    refused = site.feeds(
        "partner", "add", "x", "--sections", "world", "--content", "full", "--profile", "yahoo"
    )
    assert (
        refused.returncode == 1
        and "--profile 'yahoo' is not a feed profile; choose one of msn" in refused.stderr
    )
    sitemap = site.feeds(
        "partner",
        "add",
        "x",
        "--sections",
        "world",
        "--content",
        "full",
        "--profile",
        "google-news",
    )
    assert sitemap.returncode == 1 and "not a feed profile" in sitemap.stderr
    summary = site.feeds(
        "partner", "add", "x", "--sections", "world", "--content", "summary", "--profile", "msn"
    )
    assert summary.returncode == 1 and "--profile msn needs --content full" in summary.stderr
    assert site.feeds("partner", "list").stdout == ""


def test_an_article_leaves_a_partners_feed_the_instant_it_turns_too_old(
    msn_store: Store, site: InProcess, clock: Path
) -> None:
    """A request in the last second before an article turns 365 days old must not make the
    answer (and the render cache's entry) outlive that article's leaving."""
    token = add_choosy(site, "--profile", "msn")
    turn = RECENT + timedelta(days=365)
    clock.write_text((turn - timedelta(seconds=1)).isoformat())
    status, headers, _ = site.fetch(site.url(f"/partners/choosy/rss.xml?token={token}"))
    assert status == 200
    assert headers["Cache-Control"] == "private, max-age=1"
    assert partner_feed(site, token)[0] != set()
    clock.write_text(turn.isoformat())
    assert partner_feed(site, token)[0] == set()


def test_check_of_a_store_never_made_says_so_and_makes_none(site: InProcess) -> None:
    """A mistyped FEEDS_DATABASE must not pass a CI gate by checking an empty store that
    `feeds check` made itself (as audit, token list and partner list refuse to)."""
    ran = site.feeds("check", "--profile", "msn")
    assert ran.returncode == 2
    assert "Error: there is no store at FEEDS_DATABASE=" in ran.stderr
    if "sqlite" in site.env["FEEDS_DATABASE"]:
        path = Path(site.env["FEEDS_DATABASE"].split("sqlite:///", 1)[1])
        assert not path.exists()
