"""Sitemaps and robots.txt: validity against the published schemas (tests/schemas/), what
they list (never withdrawn or embargoed articles; the news sitemap's two days and 1,000
articles), splitting, conditional GET, stable bytes, absolute URLs and `feeds render`."""

from __future__ import annotations

import json
import urllib.robotparser
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from feeds.config import load_settings
from feeds.syndication import sitemaps as sm
from tests.support import IMPORT_TIME as NOW
from tests.support import Content, InProcess, article_text

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"
IMAGE = "{http://www.google.com/schemas/sitemap-image/1.1}"
BASE = "https://news.example.com"
IMAGE_URL = "https://img.example.com/lead.jpg?w=720&h=480"


def schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / name)))


def valid(body: bytes, name: str) -> etree._Element:
    """The parsed document, once `name` (a schema under tests/schemas/) has passed it."""
    document = etree.fromstring(body)
    checker = schema(name)
    assert checker.validate(document), checker.error_log
    return document


def dateline(moment: datetime) -> str:
    return f"{moment:%-d %B %Y, %H:%M}"  # the clock is in January: London is on UTC


class Newsroom:
    """The site on a driven clock, with article files to import."""

    def __init__(self, site: InProcess, content: Content, clock: Path) -> None:
        self.site, self.content, self.clock = site, content, clock

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        return self.site.fetch(self.site.url(path), headers)

    def body(self, path: str) -> bytes:
        status, _, body = self.get(path)
        assert status == 200, (path, body)
        return body

    def write(self, article_id: str, published: datetime, title: str = "") -> None:
        text = article_text(title=title or f"Article {article_id}", dateline=dateline(published))
        self.content.write(f"world/{article_id}.txt", text)

    def run(self, *args: str) -> str:
        result = self.site.feeds(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def set_clock(self, moment: datetime) -> None:
        self.clock.write_text(moment.isoformat())

    def locs(self, path: str) -> list[str]:
        return [e.text or "" for e in etree.fromstring(self.body(path)).iter(f"{SM}loc")]

    def article_ids(self, path: str) -> list[str]:
        return [loc.rsplit("/", 1)[1] for loc in self.locs(path)]


@pytest.fixture
def site_env(site_env: dict[str, str], clock: Path) -> dict[str, str]:
    return site_env | {"FEEDS_CLOCK": str(clock), "FEEDS_TITLE": "The Daily <&> News"}


@pytest.fixture
def newsroom(site: InProcess, content: Content, clock: Path) -> Newsroom:
    room = Newsroom(site, content, clock)
    for number, age in enumerate([timedelta(days=400), timedelta(days=3), timedelta(hours=30)]):
        room.write(f"a{number}", NOW - age)
    assert "3 added" in room.run("import")
    return room


def publish_with_image(newsroom: Newsroom, article_id: str, published: datetime) -> None:
    token = newsroom.run("token", "create", "--name", "cms", "--scope", "publish").strip()
    body = {
        "title": "Pictured & <named>",
        "published": published.isoformat(),
        "section": "world",
        "html": f'<p>Text.</p><img src="{IMAGE_URL.replace("&", "&amp;")}" alt="A lead">',
    }
    response = newsroom.site.client.put(
        f"/api/v1/articles/{article_id}",
        data=json.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.get_data()


def test_every_document_passes_the_published_schemas(newsroom: Newsroom) -> None:
    publish_with_image(newsroom, "pic", NOW - timedelta(hours=1))
    index = valid(newsroom.body("/sitemap.xml"), "siteindex.xsd")
    sitemaps = [loc.text for loc in index.iter(f"{SM}loc")]
    assert sitemaps == [f"{BASE}/sitemaps/pages.xml", f"{BASE}/sitemaps/articles-1.xml"]
    valid(newsroom.body("/sitemaps/pages.xml"), "sitemap.xsd")
    valid(newsroom.body("/sitemaps/articles-1.xml"), "sitemap.xsd")
    news = valid(newsroom.body("/sitemaps/news.xml"), "news-sitemap.xsd")
    urls = news.findall(f"{SM}url")
    assert [u.findtext(f"{SM}loc") for u in urls] == [f"{BASE}/articles/pic", f"{BASE}/articles/a2"]
    first = urls[0]
    assert first.findtext(f"{NEWS}news/{NEWS}publication/{NEWS}name") == "The Daily <&> News"
    assert first.findtext(f"{NEWS}news/{NEWS}publication/{NEWS}language") == "en"
    assert first.findtext(f"{NEWS}news/{NEWS}title") == "Pictured & <named>"
    assert first.findtext(f"{NEWS}news/{NEWS}publication_date") == "2026-01-15T11:00:00Z"
    assert first.findtext(f"{IMAGE}image/{IMAGE}loc") == IMAGE_URL
    assert urls[1].find(f"{IMAGE}image") is None  # no lead image


def test_article_sitemaps_list_visible_articles_by_publication_with_update_markers(
    newsroom: Newsroom,
) -> None:
    part = etree.fromstring(newsroom.body("/sitemaps/articles-1.xml"))
    assert [(u.findtext(f"{SM}loc"), u.findtext(f"{SM}lastmod")) for u in part] == [
        (f"{BASE}/articles/a0", "2024-12-11T12:00:00Z"),
        (f"{BASE}/articles/a1", "2026-01-12T12:00:00Z"),
        (f"{BASE}/articles/a2", "2026-01-14T06:00:00Z"),
    ]
    index = etree.fromstring(newsroom.body("/sitemap.xml"))
    assert [e.text for e in index.iter(f"{SM}lastmod")] == ["2026-01-14T06:00:00Z"]


def test_withdrawn_and_embargoed_articles_never_appear_until_the_embargo_ends(
    newsroom: Newsroom,
) -> None:
    release = NOW + timedelta(hours=2)
    newsroom.write("later", release)
    newsroom.run("import")
    newsroom.run("delete", "a1")
    paths = ["/sitemap.xml", "/sitemaps/articles-1.xml", "/sitemaps/news.xml"]
    before = {path: newsroom.get(path) for path in paths}
    for path, (_, _, body) in before.items():
        assert b"/articles/later<" not in body and b"/articles/a1<" not in body, path
    assert newsroom.article_ids("/sitemaps/articles-1.xml") == ["a0", "a2"]
    newsroom.set_clock(release - timedelta(seconds=1))
    for path, (_, headers, body) in before.items():
        status, again, same = newsroom.get(path)
        assert (same, again["ETag"]) == (body, headers["ETag"]), path
        assert again["Cache-Control"] == "public, max-age=1", path  # never past the release
    newsroom.set_clock(release)
    for path, (_, headers, _) in before.items():
        _, again, body = newsroom.get(path)
        assert b"/articles/later<" in body or path == "/sitemap.xml", path
        assert again["ETag"] != headers["ETag"], path
    assert newsroom.article_ids("/sitemaps/articles-1.xml") == ["a0", "a2", "later"]
    assert newsroom.article_ids("/sitemaps/news.xml") == ["later", "a2"]


def test_the_news_sitemap_holds_two_days_and_changes_when_an_article_ages_out(
    newsroom: Newsroom,
) -> None:
    assert newsroom.article_ids("/sitemaps/news.xml") == ["a2"]  # a1 is 3 days old
    _, headers, body = newsroom.get("/sitemaps/news.xml")
    assert NOW.isoformat()[:10].encode() not in body.replace(b"2026-01-14", b"")
    aged = NOW - timedelta(hours=30) + timedelta(days=2)
    newsroom.set_clock(aged - timedelta(seconds=30))  # built again, and kept: no data change
    kept = newsroom.get("/sitemaps/news.xml")[1]
    assert kept["ETag"] == headers["ETag"]
    assert kept["Cache-Control"] == "public, max-age=30"  # no cache keeps it past then
    newsroom.set_clock(aged)  # within the render cache's recheck: valid_until decides
    status, again, empty = newsroom.get("/sitemaps/news.xml")
    assert status == 200 and again["ETag"] != headers["ETag"]
    assert etree.fromstring(empty).findall(f"{SM}url") == []


def test_the_news_sitemap_keeps_the_newest_up_to_its_limit(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sm.NEWS_LIMIT == 1_000
    monkeypatch.setattr(sm, "NEWS_LIMIT", 3)
    for hours in range(1, 5):
        newsroom.write(f"n{hours}", NOW - timedelta(hours=hours))
    newsroom.run("import")
    assert newsroom.article_ids("/sitemaps/news.xml") == ["n1", "n2", "n3"]


def test_article_sitemaps_split_at_their_limit_and_keep_their_order(
    newsroom: Newsroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sm.PER_SITEMAP == 50_000
    monkeypatch.setattr(sm, "PER_SITEMAP", 2)
    newsroom.write("b1", NOW - timedelta(hours=2))
    newsroom.write("b2", NOW - timedelta(hours=1))
    newsroom.run("import")
    parts = [f"/sitemaps/articles-{n}.xml" for n in (1, 2, 3)]
    assert [newsroom.article_ids(p) for p in parts] == [["a0", "a1"], ["a2", "b1"], ["b2"]]
    index = etree.fromstring(newsroom.body("/sitemap.xml"))
    assert [loc.text for loc in index.iter(f"{SM}loc")][1:] == [BASE + p for p in parts]
    assert [e.text for e in index.iter(f"{SM}lastmod")] == [
        "2026-01-12T12:00:00Z",
        "2026-01-15T10:00:00Z",
        "2026-01-15T11:00:00Z",
    ]
    assert newsroom.get("/sitemaps/articles-4.xml")[0] == 404
    for odd in ("articles-0.xml", "articles-01.xml", "articles-x.xml"):
        assert newsroom.get(f"/sitemaps/{odd}")[0] == 404
    first = newsroom.get(parts[0])[1]["ETag"]
    newsroom.write("b3", NOW)  # published last: only the last sitemap changes
    newsroom.run("import")
    assert newsroom.get(parts[0])[1]["ETag"] == first
    assert newsroom.article_ids(parts[2]) == ["b2", "b3"]


def test_an_article_sitemap_stays_within_50_mb_whatever_the_base_url() -> None:
    long = load_settings({}, {"base_url": "https://news.example.com/" + "p" * 2000})
    assert 0 < sm.per_sitemap(long) < sm.PER_SITEMAP
    entry = sm.render_part(long, [("x" * 255, NOW.replace(microsecond=1))])[1]
    assert sm.per_sitemap(long) * len(entry) + 200 <= sm.MAX_BYTES
    assert sm.per_sitemap(load_settings({}, {"base_url": BASE})) == sm.PER_SITEMAP


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("en-GB", "en"),
        ("de", "de"),
        ("FIL-PH", "fil"),
        ("zh-Hans-CN", "zh-cn"),
        ("zh", "zh-cn"),
        ("zh-TW", "zh-tw"),
        ("zh-Hant", "zh-tw"),
        ("zh-HK", "zh-tw"),
    ],
)
def test_the_news_language_is_what_google_news_takes(tag: str, code: str) -> None:
    assert sm.news_language(tag) == code


@pytest.mark.parametrize(
    "path",
    [
        "/sitemap.xml",
        "/sitemaps/articles-1.xml",
        "/sitemaps/news.xml",
        "/sitemaps/pages.xml",
        "/robots.txt",
    ],
)
def test_conditional_gets_and_stable_bytes(
    newsroom: Newsroom, path: str, site_env: dict[str, str]
) -> None:
    status, headers, body = newsroom.get(path)
    assert status == 200 and headers["Last-Modified"] and headers["ETag"]
    assert newsroom.get(path, {"If-None-Match": headers["ETag"]})[0] == 304
    assert newsroom.get(path, {"If-Modified-Since": headers["Last-Modified"]})[0] == 304
    other = InProcess(site_env)  # another worker, its own render cache
    try:
        again = other.fetch(other.url(path))
    finally:
        other.close()
    assert again[2] == body and again[1]["ETag"] == headers["ETag"]


def test_urls_come_from_the_base_url_whatever_the_host(newsroom: Newsroom) -> None:
    client = newsroom.site.client
    for path in ("/robots.txt", "/sitemap.xml", "/sitemaps/news.xml", "/sitemaps/articles-1.xml"):
        body = client.get(path, headers={"Host": "evil.example.org"}).get_data()
        assert b"evil" not in body and BASE.encode() in body, path
    # New documents too, built first for a request with another host.
    newsroom.write("c1", NOW)
    newsroom.run("import")
    body = client.get("/sitemaps/news.xml", base_url="http://evil.example.org").get_data()
    assert b"evil" not in body and f"{BASE}/articles/c1".encode() in body


def test_robots_txt_allows_everything_and_names_the_sitemaps(newsroom: Newsroom) -> None:
    status, headers, body = newsroom.get("/robots.txt")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert body == (
        b"User-agent: *\nAllow: /\n\n"
        b"Sitemap: https://news.example.com/sitemap.xml\n"
        b"Sitemap: https://news.example.com/sitemaps/news.xml\n"
    )
    robots = urllib.robotparser.RobotFileParser()
    robots.parse(body.decode().splitlines())
    assert robots.can_fetch("Googlebot", f"{BASE}/articles/a0")
    assert robots.site_maps() == [f"{BASE}/sitemap.xml", f"{BASE}/sitemaps/news.xml"]


def test_render_writes_the_sitemaps_and_robots_txt(
    newsroom: Newsroom, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sm, "PER_SITEMAP", 2)
    out = tmp_path / "out"
    newsroom.run("render", "--out", str(out))
    for name in (
        "sitemap.xml",
        "sitemaps/articles-1.xml",
        "sitemaps/articles-2.xml",
        "sitemaps/news.xml",
        "sitemaps/pages.xml",
        "robots.txt",
    ):
        assert (out / name).read_bytes() == newsroom.body("/" + name), name
    assert not (out / "sitemaps/articles-3.xml").exists()
