"""WebSub discovery (W3C WebSub §4): every subscription document (the site's, a section's, an
author's and a partner's feeds) names its hubs and its self URL in its Link header, on 200s
and 304s alike, and inside the document in each format; archives name no hub."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import feedparser
import pytest
from flask.testing import FlaskClient

from feeds.formats import FORMATS
from feeds.web.service import Service
from feeds.web.topics import render, topic
from tests.samples import ARTICLE, HUBS, document
from tests.support import GZIP, InProcess

HUB = "https://news.example.com/hub"
# The built-in hub given again (named once), then two others in the order given.
EXTERNAL = "https://push.example.org/hub, https://news.example.com/hub  https://hub.example.net/"
ALL_HUBS = [HUB, "https://push.example.org/hub", "https://hub.example.net/"]
FILENAMES = [fmt.FILENAME for fmt in FORMATS.values()]
_LINK = re.compile(r'<([^>]*)>;\s*rel="([^"]*)"')


def links(header: str) -> list[tuple[str, str]]:
    """(rel, URL) of each value of a Link header, in order; the whole header is only those."""
    found = [(rel, url) for url, rel in _LINK.findall(header)]
    assert ", ".join(f'<{url}>; rel="{rel}"' for rel, url in found) == header
    return found


def discovered(header: str) -> tuple[list[str], str]:
    """The hubs a Link header names, and its one self URL."""
    found = links(header)
    selves = [url for rel, url in found if rel == "self"]
    assert len(selves) == 1, header
    return [url for rel, url in found if rel == "hub"], selves[0]


def in_document(body: bytes, filename: str) -> tuple[list[str], list[str]]:
    """The hubs and self URLs a document names: JSON Feed's `hubs` and `feed_url`, the
    links feedparser finds in RSS and Atom."""
    if filename == "feed.json":
        data = json.loads(body)
        assert all(hub["type"] == "WebSub" for hub in data.get("hubs", []))
        return [hub["url"] for hub in data.get("hubs", [])], [data["feed_url"]]
    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.get("bozo_exception")
    found = parsed.feed.links
    return [x.href for x in found if x.rel == "hub"], [x.href for x in found if x.rel == "self"]


@dataclass
class Published:
    """The site with FEEDS_HUBS set (and no bound on partners' polls), an article in section
    uk by Ann Writer, and partner globe (uk, full text) whose feed token is `token`."""

    site: InProcess
    token: str

    def url(self, path: str) -> str:
        return self.site.url(path)


@pytest.fixture
def site_env(site_env: dict[str, str]) -> dict[str, str]:
    return site_env | {"FEEDS_HUBS": EXTERNAL, "FEEDS_PARTNER_MIN_INTERVAL": "0"}


@pytest.fixture
def published(site: InProcess) -> Iterator[Published]:
    made = site.feeds("token", "create", "--name", "cms", "--scope", "publish")
    assert made.returncode == 0, made.stderr
    answer = site.client.put(
        "/api/v1/articles/budget",
        json=ARTICLE,
        headers={"Authorization": f"Bearer {made.stdout.strip()}"},
    )
    assert answer.status_code == 201, answer.get_data()
    yield Published(site, site.add_partner(sections="uk"))


PUBLIC = ["/feeds", "/feeds/uk", "/feeds/authors/ann-writer"]


@pytest.mark.parametrize("filename", FILENAMES)
@pytest.mark.parametrize("place", PUBLIC)
def test_public_feeds_name_their_hubs_and_self_in_headers_and_body(
    published: Published, place: str, filename: str
) -> None:
    url = published.url(f"{place}/{filename}")
    status, headers, body = published.site.fetch(url)
    assert status == 200
    assert discovered(headers["Link"]) == (ALL_HUBS, url)
    assert in_document(body, filename) == (ALL_HUBS, [url])
    # A revalidation (304), and a HEAD of the gzip representation, say the same.
    revalidated = published.site.fetch(url, {"If-None-Match": headers["ETag"]})
    assert revalidated[0] == 304 and revalidated[1]["Link"] == headers["Link"]
    head = published.site.fetch(url, GZIP, "HEAD")
    assert head[0] == 200 and head[1]["Link"] == headers["Link"]


@pytest.mark.parametrize("filename", FILENAMES)
def test_partner_feeds_name_their_topic_without_the_token(
    published: Published, filename: str
) -> None:
    topic = published.url(f"/partners/globe/{filename}")
    by_query = f"{topic}?token={published.token}"
    status, headers, body = published.site.fetch(by_query)
    assert status == 200
    # The built-in hub alone, which checks the partner's token: an external hub cannot read
    # the feed. The token is no part of the topic.
    assert discovered(headers["Link"]) == ([HUB], topic)
    # The document's own self link keeps the token, so readers that follow it keep access.
    assert in_document(body, filename) == ([HUB], [by_query])
    revalidated = published.site.fetch(by_query, {"If-None-Match": headers["ETag"]})
    assert revalidated[0] == 304 and revalidated[1]["Link"] == headers["Link"]
    bearer = {"Authorization": f"Bearer {published.token}"}
    status, headers, body = published.site.fetch(topic, bearer)
    assert status == 200
    assert discovered(headers["Link"]) == ([HUB], topic)
    assert in_document(body, filename) == ([HUB], [topic])


@pytest.mark.parametrize("filename", FILENAMES)
@pytest.mark.parametrize("place", [*PUBLIC, "/partners/globe"])
def test_archives_name_no_hub(published: Published, place: str, filename: str) -> None:
    token = {"Authorization": f"Bearer {published.token}"} if "partners" in place else {}
    atom = feedparser.parse(published.site.fetch(published.url(f"{place}/atom.xml"), token)[2])
    archive = next(x.href for x in atom.feed.links if x.rel == "prev-archive")
    url = archive.replace("/atom.xml", f"/{filename}")
    status, headers, body = published.site.fetch(url, token)
    assert status == 200
    assert links(headers["Link"]) == [("self", url)]
    assert in_document(body, filename)[0] == []
    assert b"hub" not in body


def test_without_feeds_hubs_the_built_in_hub_alone(client: FlaskClient) -> None:
    for filename in FILENAMES:
        answer = client.get(f"/feeds/{filename}")
        url = f"https://news.example.com/feeds/{filename}"
        assert discovered(answer.headers["Link"]) == ([HUB], url)
        assert in_document(answer.get_data(), filename) == ([HUB], [url])


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_formats_name_the_documents_hubs_in_order_and_none_without(name: str) -> None:
    filename = FORMATS[name].FILENAME
    doc = document()
    assert in_document(FORMATS[name].render(doc), filename)[0] == list(HUBS)
    reversed_hubs = dataclasses.replace(doc.info, hubs=HUBS[::-1])
    rendered = FORMATS[name].render(dataclasses.replace(doc, info=reversed_hubs))
    assert in_document(rendered, filename)[0] == list(HUBS[::-1])
    bare = FORMATS[name].render(
        dataclasses.replace(doc, info=dataclasses.replace(doc.info, hubs=()))
    )
    assert in_document(bare, filename)[0] == [] and b"hub" not in bare


def test_the_hub_sees_the_links_a_subscriber_gets(published: Published) -> None:
    """What the hub compares and delivers (web/topics.py) carries the same Link header as a
    GET of the topic: for a partner's, the token-less topic."""
    svc = Service.of(published.site.app)
    for path in ("/feeds/uk/atom.xml", "/partners/globe/feed.json"):
        url = published.url(path)
        named = topic(svc, f"{url}?token={published.token}" if "partners" in path else url)
        assert named is not None and named.url == url
        rendered = render(svc, named, svc.settings.now())
        assert rendered is not None
        hubs = [HUB] if "partners" in path else ALL_HUBS
        assert discovered(rendered.links) == (hubs, url)
