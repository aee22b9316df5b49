"""The publishing API in this process: tokens, PUT/GET/DELETE, the import rules, If-Match,
problem documents, sanitising, size limits, the audit log and author feeds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element
from zoneinfo import ZoneInfo

import feedparser
import html5lib
import pytest
import sqlalchemy as sa

from feeds.errors import InvalidFields
from feeds.ingest import apijson
from tests.samples import ARTICLE, INVALID_URLS, LEAD_IMAGE, NORMALISED_URLS
from tests.support import IMPORT_TIME, Answer, InProcess

HTML_ARTICLE = {k: v for k, v in ARTICLE.items() if k != "text"}
PROBLEM = "application/problem+json"
MAX_BODY = 16384
HOSTILE = [
    "<script>alert(1)</script>",
    '<img src="x.jpg" onerror="alert(1)" alt="pic">',
    '<a href="javascript:alert(1)">js</a>',
    '<a href="data:text/html,<script>alert(1)</script>">data</a>',
    '<p style="background:url(javascript:alert(1))">styled</p>',
    '<iframe src="https://evil.example"></iframe>',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<svg><script>alert(1)</script><a xlink:href="javascript:alert(1)">s</a></svg>',
    '<svg onload="alert(1)"><animate onbegin="alert(1)"/></svg>',
    '<math><mi xlink:href="javascript:alert(1)">m</mi></math>',
    '<form action="javascript:alert(1)"><input onfocus="alert(1)" autofocus></form>',
    '<a href="  JaVaScRiPt:alert(1)">case</a>',
    '<img src="data:image/svg+xml;base64,PHN2Zz4=" alt="d">',
    '<base href="javascript:alert(1)//"><meta http-equiv="refresh" content="0;url=x">',
]
NEVER_SHOWN = (
    "<script",
    "onerror",
    "onload",
    "onbegin",
    "onfocus",
    "javascript:",
    "data:",
    "<iframe",
    "<object",
    "<embed",
    "style=",
    "<base",
    "<meta http",
)


@dataclass
class Api:
    """The site and an active publish token (held by "cms")."""

    site: InProcess
    token: str

    def url(self, path: str) -> str:
        return self.site.url(path)

    def get(self, path: str) -> Answer:
        """A public GET of `path`."""
        return self.site.fetch(self.site.url(path))

    def call(
        self,
        method: str,
        article_id: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, dict[str, str], Any]:
        """`method` /api/v1/articles/<article_id> with the token (or `token`), `body` as
        JSON (or `raw` bytes): the status, headers and the decoded JSON answer."""
        sent = {
            "Authorization": f"Bearer {token if token is not None else self.token}",
            **(headers or {}),
        }
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            sent["Content-Type"] = content_type
        response = self.site.client.open(
            f"/api/v1/articles/{article_id}", method=method, data=data, headers=sent
        )
        text = response.get_data()
        return response.status_code, dict(response.headers), json.loads(text) if text else None


@pytest.fixture
def site_env(site_env: dict[str, str], request: pytest.FixtureRequest) -> dict[str, str]:
    """A 16 KiB body limit, and any settings a test parametrizes `site_env` with."""
    return site_env | {"FEEDS_MAX_BODY": str(MAX_BODY)} | getattr(request, "param", {})


@pytest.fixture
def api(site: InProcess) -> Iterator[Api]:
    made = site.feeds("token", "create", "--name", "cms", "--scope", "publish")
    assert made.returncode == 0, made.stderr
    yield Api(site, made.stdout.strip())


def test_tokens_are_random_printed_once_and_stored_hashed(api: Api) -> None:
    assert len(api.token) >= 22  # at least 128 bits, URL-safe base64
    other = api.site.feeds("token", "create", "--name", "other", "--scope", "publish")
    assert other.stdout.strip() != api.token
    engine = sa.create_engine(api.site.env["FEEDS_DATABASE"])
    with engine.connect() as conn:
        stored = [str(v) for row in conn.exec_driver_sql("SELECT * FROM tokens") for v in row]
    engine.dispose()
    assert stored and all(api.token not in value for value in stored)
    listing = api.site.feeds("token", "list").stdout
    assert "cms\tpublish" in listing and api.token not in listing


def test_put_creates_get_returns_and_feeds_show_it_at_once(api: Api) -> None:
    status, headers, body = api.call("PUT", "budget", ARTICLE)
    assert status == 201 and headers["ETag"] == '"r1"'
    assert headers["Location"] == api.url("/api/v1/articles/budget")
    assert body["published"] == "2020-07-01T09:00:00Z" and body["revision"] == 1
    status, _, got = api.call("GET", "budget")
    assert status == 200 and got == body
    entry = feedparser.parse(api.get("/feeds/atom.xml")[2]).entries[0]
    assert entry.title == "Budget day"
    assert [a.name for a in entry.authors] == ["Ann Writer", "Bo Reporter"]
    assert [t.term for t in entry.tags] == ["uk", "economy"]
    assert b"<dc:creator>Ann Writer</dc:creator>" in api.get("/feeds/rss.xml")[2]
    item = json.loads(api.get("/feeds/feed.json")[2])["items"][0]
    assert item["authors"] == [{"name": "Ann Writer"}, {"name": "Bo Reporter"}]


def test_identical_put_changes_nothing_and_a_change_keeps_the_id(api: Api) -> None:
    api.call("PUT", "budget", ARTICLE)
    feed = api.get("/feeds/atom.xml")
    status, headers, body = api.call("PUT", "budget", ARTICLE)
    assert status == 200 and body["revision"] == 1 and headers["ETag"] == '"r1"'
    again = api.get("/feeds/atom.xml")
    assert again[2] == feed[2] and again[1]["ETag"] == feed[1]["ETag"]
    status, headers, changed = api.call("PUT", "budget", {**ARTICLE, "title": "Budget: update"})
    assert status == 200 and changed["revision"] == 2 and changed["tag"] == body["tag"]
    assert headers["ETag"] == '"r2"'
    assert changed["updated"] > body["updated"]


def test_if_match_guards_against_lost_updates(api: Api) -> None:
    api.call("PUT", "budget", ARTICLE)
    api.call("PUT", "budget", {**ARTICLE, "title": "Edited elsewhere"})
    mine = {**ARTICLE, "title": "Mine"}
    status, _, problem = api.call("PUT", "budget", mine, headers={"If-Match": '"r1"'})
    assert status == 412 and problem["status"] == 412
    assert api.call("GET", "budget")[2]["title"] == "Edited elsewhere"
    assert api.call("PUT", "budget", mine, headers={"If-Match": '"r2"'})[0] == 200
    assert api.call("DELETE", "budget", headers={"If-Match": '"r2"'})[0] == 412
    assert api.call("DELETE", "budget", headers={"If-Match": '"r3"'})[0] == 204


def test_if_match_takes_a_list_and_a_star_but_never_matches_a_missing_article(api: Api) -> None:
    assert api.call("PUT", "new", ARTICLE, headers={"If-Match": "*"})[0] == 412
    assert api.call("GET", "new")[0] == 404
    api.call("PUT", "new", ARTICLE)
    edit = {**ARTICLE, "title": "Edit"}
    assert api.call("PUT", "new", edit, headers={"If-Match": '"r7", "r1"'})[0] == 200
    assert api.call("PUT", "new", ARTICLE, headers={"If-Match": "*"})[0] == 200
    api.call("DELETE", "new")
    assert api.call("PUT", "new", ARTICLE, headers={"If-Match": "*"})[0] == 412  # withdrawn


def test_delete_withdraws_like_the_command(api: Api) -> None:
    api.call("PUT", "budget", ARTICLE)
    status, headers, body = api.call("DELETE", "budget")
    assert status == 204 and body is None and headers["Cache-Control"] == "no-store"
    status, headers, problem = api.call("GET", "budget")
    assert status == 410 and problem["status"] == 410
    assert headers["Content-Type"] == PROBLEM
    assert api.get("/articles/budget")[0] == 410
    assert b"deleted-entry" in api.get("/feeds/atom.xml")[2]
    assert api.call("DELETE", "budget")[0] == 404
    assert api.call("PUT", "budget", ARTICLE)[0] == 200  # an explicit PUT restores it
    assert api.call("GET", "budget")[0] == 200
    assert api.get("/articles/budget")[0] == 200


def test_an_article_withdrawn_by_the_command_is_gone_through_the_api(api: Api) -> None:
    api.call("PUT", "budget", ARTICLE)
    assert api.site.feeds("delete", "budget").returncode == 0
    assert api.call("GET", "budget")[0] == 410
    assert api.call("DELETE", "budget")[0] == 404


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({**ARTICLE, "title": ""}, {"title"}),
        ({**ARTICLE, "published": "yesterday"}, {"published"}),
        ({**ARTICLE, "published": "2020-02-30T10:00:00Z"}, {"published"}),
        ({**ARTICLE, "updated": "2020-07-01T08:00:00Z"}, {"updated"}),
        ({**ARTICLE, "html": "<p>x</p>"}, {"text"}),
        (HTML_ARTICLE, {"text"}),
        ({**ARTICLE, "authors": "Ann"}, {"authors"}),
        ({**ARTICLE, "section": "no/slash"}, {"section"}),
        ({**ARTICLE, "colour": "red"}, {"colour"}),
        ({"published": 3}, {"title", "published", "text"}),
        ({**ARTICLE, "tags": [f"t{n}" for n in range(51)]}, {"tags"}),
        ({**ARTICLE, "authors": ["a" * 201]}, {"authors"}),
        (["not", "an", "object"], {"(body)"}),
    ],
)
def test_invalid_fields_are_422_naming_each_field(api: Api, body: Any, fields: set[str]) -> None:
    status, headers, problem = api.call("PUT", "bad", body)
    assert status == 422 and headers["Content-Type"] == PROBLEM
    assert problem["status"] == 422 and problem["title"] == "Invalid article"
    assert problem["detail"] == "the article has invalid fields"
    assert {e["field"] for e in problem["errors"]} == fields
    assert all(e["detail"] for e in problem["errors"])
    assert api.call("GET", "bad")[0] == 404  # nothing stored


def test_request_errors_are_problem_documents(api: Api) -> None:
    big = {**ARTICLE, "text": "x" * (MAX_BODY + 1)}
    for expected, answer in (
        (400, api.call("PUT", "x", raw=b"{not json")),
        (415, api.call("PUT", "x", ARTICLE, content_type="text/plain")),
        (413, api.call("PUT", "x", big)),
        (404, api.call("GET", "missing")),
    ):
        status, headers, problem = answer
        assert status == expected and problem["status"] == expected
        assert headers["Content-Type"] == PROBLEM and headers["Cache-Control"] == "no-store"
        assert problem["type"] == "about:blank" and problem["title"] and problem["detail"]
    assert api.call("GET", "x")[0] == 404  # nothing was stored


@pytest.mark.parametrize(
    ("method", "path", "status", "title"),
    [
        ("GET", "/api/v1/nothing", 404, "Not found"),
        ("POST", "/api/v1/articles/x", 405, "Method not allowed"),
        ("GET", "/api/v1/articles/missing", 404, "Not found"),
    ],
)
def test_problems_are_titled_alike_whoever_answers(
    api: Api, method: str, path: str, status: int, title: str
) -> None:
    auth = {"Authorization": f"Bearer {api.token}"}
    response = api.site.client.open(path, method=method, headers=auth)
    assert response.status_code == status and response.json is not None
    assert response.json["title"] == title


def test_a_body_just_within_the_limit_is_read(api: Api) -> None:
    body = {**ARTICLE, "text": ""}
    padding = MAX_BODY - len(json.dumps(body).encode())
    raw = json.dumps({**ARTICLE, "text": "x" * padding}).encode()
    assert len(raw) == MAX_BODY
    assert api.call("PUT", "x", raw=raw)[0] == 201
    assert api.call("PUT", "y", raw=raw + b" ")[0] == 413


@pytest.mark.parametrize("token", ["", "wrong", "Basic abc"])
def test_bad_tokens_get_401_with_www_authenticate(api: Api, token: str) -> None:
    status, headers, problem = api.call("PUT", "x", ARTICLE, token=token)
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert headers["Content-Type"] == PROBLEM and problem["status"] == 401
    assert api.call("GET", "x", token=token)[0] == 401
    assert api.call("DELETE", "x", token=token)[0] == 401
    assert api.call("GET", "x")[0] == 404  # nothing stored


def test_only_a_bearer_token_is_accepted(api: Api) -> None:
    response = api.site.client.get(
        "/api/v1/articles/x", headers={"Authorization": f"Basic {api.token}"}
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="feeds", error="invalid_token"'
    no_header = api.site.client.get("/api/v1/articles/x")
    assert no_header.status_code == 401
    assert no_header.headers["WWW-Authenticate"] == 'Bearer realm="feeds"'
    response = api.site.client.get(
        "/api/v1/articles/x", headers={"Authorization": f"bearer {api.token}"}
    )
    assert response.status_code == 404  # the scheme's name is case-insensitive


def test_revoked_tokens_are_refused(api: Api) -> None:
    assert api.call("PUT", "x", ARTICLE)[0] == 201
    assert api.site.feeds("token", "revoke", "cms").returncode == 0
    status, headers, _ = api.call("PUT", "x", ARTICLE)
    assert status == 401 and 'error="invalid_token"' in headers["WWW-Authenticate"]
    assert api.call("GET", "x")[0] == 401
    renewed = api.site.feeds("token", "create", "--name", "cms", "--scope", "publish")
    assert api.call("GET", "x", token=renewed.stdout.strip())[0] == 200
    assert api.call("GET", "x")[0] == 401  # the revoked one stays refused


@pytest.mark.parametrize("fragment", HOSTILE)
def test_hostile_html_is_sanitised_everywhere(api: Api, fragment: str) -> None:
    body = {**HTML_ARTICLE, "html": f"<p>Safe text</p>{fragment}<p>More</p>"}
    status, _, shown = api.call("PUT", "h", body)
    assert status == 201, shown
    assert "Safe text" in shown["html"] and "More" in shown["html"]
    for text in (
        shown["html"],
        api.call("GET", "h")[2]["html"],
        api.get("/feeds/atom.xml")[2].decode(),
        api.get("/feeds/rss.xml")[2].decode(),
        api.get("/feeds/feed.json")[2].decode(),
        api.get("/articles/h")[2].decode(),
    ):
        lowered = text.lower().replace("&lt;", "<")
        for bad in NEVER_SHOWN:
            assert bad not in lowered, (bad, fragment)


def test_relative_links_become_absolute_and_allowed_markup_stays(api: Api) -> None:
    html = (
        '<h2>Sub</h2><p>See <a href="/articles/other">this</a> and <em>that</em>.</p>'
        '<figure><img src="img/a.jpg" alt="A chart"><figcaption>Chart</figcaption></figure>'
        "<ul><li>one</li></ul><blockquote>Quote</blockquote>"
    )
    shown = api.call("PUT", "h", {**HTML_ARTICLE, "html": html})[2]
    base = api.site.base_url
    assert f'href="{base}/articles/other"' in shown["html"]
    assert f'src="{base}/img/a.jpg"' in shown["html"]
    for tag in ("<h2>", "<em>", "<figure>", "<figcaption>", "<ul>", "<blockquote>"):
        assert tag in shown["html"]
    item = json.loads(api.get("/feeds/feed.json")[2])["items"][0]
    assert item["summary"] == "See this and that." and "Chart" in item["content_text"]


# A body whose first blocks are a heading, a caption, a list and a quote, with a paragraph of
# text after them that a <br> splits into two lines.
BLOCKY_HTML = (
    '<h2>Sub</h2><figure><img src="a.jpg" alt="A"><figcaption>Chart</figcaption></figure>'
    "<ul><li>one</li><li>two<br>lines</li></ul><blockquote><p>Quote</p></blockquote>"
    '<p>See <a href="/x">this</a><br>and <em>that</em>.</p>text outside<h3>Next</h3>'
    "<pre>a\n b</pre>"
)


def test_an_html_summary_is_the_first_paragraph_of_text(api: Api) -> None:
    assert api.call("PUT", "h", {**HTML_ARTICLE, "html": BLOCKY_HTML})[0] == 201
    rss = feedparser.parse(api.get("/feeds/rss.xml")[2]).entries[0]
    atom = feedparser.parse(api.get("/feeds/atom.xml")[2]).entries[0]
    item = json.loads(api.get("/feeds/feed.json")[2])["items"][0]
    for summary in (rss.summary, atom.summary, item["summary"]):
        assert summary == "See this and that."
    # The full text keeps every block, each line its own paragraph, as it was stored.
    assert item["content_text"].split("\n\n") == [
        *("Sub", "Chart", "one", "two", "lines", "Quote"),
        *("See this", "and that.", "text outside", "Next", "a b"),
    ]


@pytest.mark.parametrize(
    ("html", "summary"),
    [
        ("<h2>Heading</h2><ul><li>A point</li></ul><h3>More</h3>", "A point"),
        ("<h2>Only a heading</h2>", "Only a heading"),
        ("Loose <b>text</b><h2>Heading</h2><p>Later</p>", "Loose text"),
    ],
)
def test_a_body_without_a_paragraph_falls_back_to_a_block(
    api: Api, html: str, summary: str
) -> None:
    assert api.call("PUT", "h", {**HTML_ARTICLE, "html": html})[0] == 201
    assert json.loads(api.get("/feeds/feed.json")[2])["items"][0]["summary"] == summary


def test_an_html_bodys_paragraphs_and_content_hash_never_change() -> None:
    # Stores compare these digests with new ones: an unchanged PUT must stay unchanged.
    body = {**HTML_ARTICLE, "html": BLOCKY_HTML}
    parsed = apijson.parse(
        body, "h", ZoneInfo("Europe/London"), "https://news.example.com", IMPORT_TIME
    )
    assert parsed.paragraphs == (
        *("Sub", "Chart", "one", "two", "lines", "Quote"),
        *("See this", "and that.", "text outside", "Next", "a b"),
    )
    assert parsed.content_hash == (
        "ca53fc8206abc5e498ea61460223c9b0862e3c913d271add945c95fa65e1065d"
    )


def test_images_need_alt_text_and_urls_are_encoded(api: Api) -> None:
    html = (
        '<p>Text</p><img src="a.jpg"><img src="b.jpg" alt="  ">'
        '<img src="c.jpg" alt="C"><a href="/a b">spaced</a>'
    )
    shown = api.call("PUT", "img", {**HTML_ARTICLE, "html": html})[2]["html"]
    base = api.site.base_url
    assert "a.jpg" not in shown and "b.jpg" not in shown
    assert f'src="{base}/c.jpg" alt="C"' in shown
    assert f'href="{base}/a%20b"' in shown


def test_a_lead_image_is_made_absolute_folded_and_shown(api: Api) -> None:
    status, _, shown = api.call("PUT", "pic", {**ARTICLE, "image": LEAD_IMAGE})
    assert status == 201, shown
    assert shown["image"] == {
        **LEAD_IMAGE,
        "url": f"{api.site.base_url}/images/budget%20box.jpg",
        "alt": "The chancellor holds the red box",
    }
    assert api.call("GET", "pic")[2] == shown
    bare = {"url": "https://cdn.example/x.jpg", "alt": "X", "caption": "  ", "width": None}
    assert api.call("PUT", "bare", {**ARTICLE, "image": bare})[2]["image"] == {
        "url": "https://cdn.example/x.jpg",
        "alt": "X",
    }


def test_the_lead_image_is_part_of_the_revision(api: Api) -> None:
    body = {**ARTICLE, "image": LEAD_IMAGE}
    assert api.call("PUT", "pic", body)[2]["revision"] == 1
    # The same image, its members in another order and its alt text spaced otherwise.
    again = dict(reversed(LEAD_IMAGE.items())) | {"alt": " The chancellor holds the red box"}
    status, headers, same = api.call("PUT", "pic", {**ARTICLE, "image": again})
    assert status == 200 and same["revision"] == 1 and headers["ETag"] == '"r1"'
    recaptioned = {**ARTICLE, "image": {**LEAD_IMAGE, "caption": "Later that day"}}
    assert api.call("PUT", "pic", recaptioned)[2]["revision"] == 2
    status, _, removed = api.call("PUT", "pic", {**ARTICLE, "image": None})
    assert status == 200 and removed["revision"] == 3 and "image" not in removed
    assert api.call("PUT", "pic", ARTICLE)[2]["revision"] == 3  # absent is null


def test_an_image_found_in_the_body_is_not_shown_as_given(api: Api) -> None:
    html = '<p>Text</p><img src="/in-body.jpg" alt="In the body">'
    shown = api.call("PUT", "body", {**HTML_ARTICLE, "html": html})[2]
    assert "image" not in shown and 'alt="In the body"' in shown["html"]


@pytest.mark.parametrize(
    ("image", "field", "says"),
    [
        ("pic.jpg", "image", "must be an object"),
        ([LEAD_IMAGE], "image", "must be an object"),
        ({"alt": "A"}, "image.url", "is required"),
        ({**LEAD_IMAGE, "url": 7}, "image.url", "must be a string"),
        ({**LEAD_IMAGE, "url": None}, "image.url", "is required"),
        ({**LEAD_IMAGE, "url": " "}, "image.url", "is required"),
        ({**LEAD_IMAGE, "url": "ftp://example.com/a.jpg"}, "image.url", "http or https"),
        ({**LEAD_IMAGE, "url": "javascript:alert(1)"}, "image.url", "http or https"),
        ({**LEAD_IMAGE, "url": "data:image/png;base64,AAAA"}, "image.url", "http or https"),
        ({**LEAD_IMAGE, "url": "http:no-host.jpg"}, "image.url", "no host name"),
        ({**LEAD_IMAGE, "url": "http://[bad/a.jpg"}, "image.url", "http or https"),
        ({**LEAD_IMAGE, "url": "/" + "é" * 500}, "image.url", "once percent-encoded"),
        ({"url": "a.jpg"}, "image.alt", "is required"),
        ({**LEAD_IMAGE, "alt": " \n\t"}, "image.alt", "is required"),
        ({**LEAD_IMAGE, "alt": "\u200b"}, "image.alt", "a visible character"),
        ({**LEAD_IMAGE, "alt": "\ufeff\u202e"}, "image.alt", "a visible character"),
        ({**LEAD_IMAGE, "alt": "\u2060\u00ad \u3000"}, "image.alt", "a visible character"),
        ({**LEAD_IMAGE, "alt": "\U000e0041"}, "image.alt", "a visible character"),
        ({**LEAD_IMAGE, "alt": "a" * 501}, "image.alt", "more than the 500"),
        ({**LEAD_IMAGE, "caption": 3}, "image.caption", "must be a string"),
        (
            {**LEAD_IMAGE, "caption": "c" * 1001},
            "image.caption",
            "is 1,001 characters long, more than the 1,000",
        ),
        ({**LEAD_IMAGE, "credit": ["AP"]}, "image.credit", "must be a string"),
        ({**LEAD_IMAGE, "credit": "c" * 201}, "image.credit", "more than the 200"),
        ({**LEAD_IMAGE, "width": "1200"}, "image.width", "whole number of pixels"),
        ({**LEAD_IMAGE, "width": 12.5}, "image.width", "whole number of pixels"),
        ({**LEAD_IMAGE, "width": True}, "image.width", "whole number of pixels"),
        ({**LEAD_IMAGE, "height": 0}, "image.height", "positive whole number"),
        ({**LEAD_IMAGE, "height": 100_001}, "image.height", "more than the 100,000 pixels"),
        ({**LEAD_IMAGE, "type": "jpeg"}, "image.type", "such as image/jpeg"),
        ({**LEAD_IMAGE, "type": "text/html"}, "image.type", "such as image/jpeg"),
        ({**LEAD_IMAGE, "type": "image/jpeg; q=1"}, "image.type", "without parameters"),
        ({**LEAD_IMAGE, "type": "image/"}, "image.type", "such as image/jpeg"),
        ({**LEAD_IMAGE, "length": -1}, "image.length", "positive whole number of bytes"),
        ({**LEAD_IMAGE, "length": 10**9 + 1}, "image.length", "1,000,000,000 bytes"),
        ({**LEAD_IMAGE, "length": 10**400}, "image.length", "is too large: at most 1,000,000,000"),
        ({**LEAD_IMAGE, "width": -(10**400)}, "image.width", "is too small: give a positive"),
        ({**LEAD_IMAGE, "colour": "red"}, "image.colour", "is not a field of an image"),
    ],
)
def test_an_invalid_lead_image_is_422_naming_its_field(
    api: Api, image: Any, field: str, says: str
) -> None:
    status, _, problem = api.call("PUT", "pic", {**ARTICLE, "image": image})
    assert status == 422, problem
    (error,) = problem["errors"]
    assert error["field"] == field and says in error["detail"], error
    assert api.call("GET", "pic")[0] == 404  # nothing stored


@pytest.mark.parametrize(("url", "says"), INVALID_URLS.items())
def test_an_image_url_that_cannot_be_made_valid_is_422(api: Api, url: str, says: str) -> None:
    status, _, problem = api.call("PUT", "pic", {**ARTICLE, "image": {**LEAD_IMAGE, "url": url}})
    assert status == 422, problem
    assert [(e["field"], says in e["detail"]) for e in problem["errors"]] == [
        ("image.url", True)
    ], problem


@pytest.mark.parametrize(("url", "stored"), NORMALISED_URLS.items())
def test_an_image_url_is_stored_as_feed_validators_want_it(api: Api, url: str, stored: str) -> None:
    status, _, shown = api.call("PUT", "pic", {**ARTICLE, "image": {**LEAD_IMAGE, "url": url}})
    assert status == 201, shown
    assert shown["image"]["url"] == stored


def test_every_bad_member_of_an_image_is_named_at_once(api: Api) -> None:
    image = {"url": "", "alt": "", "width": 0, "type": "x", "extra": 1}
    problem = api.call("PUT", "pic", {**ARTICLE, "title": "", "image": image})[2]
    assert [e["field"] for e in problem["errors"]] == [
        "title",
        "image.extra",
        "image.url",
        "image.alt",
        "image.width",
        "image.type",
    ]


def test_a_media_type_is_kept_in_lower_case(api: Api) -> None:
    image = {**LEAD_IMAGE, "type": "Image/WebP"}
    assert api.call("PUT", "pic", {**ARTICLE, "image": image})[2]["image"]["type"] == "image/webp"


def page(api: Api, path: str) -> Element:
    """The page at `path`, read by a strict HTML parser (which raises on any parse error)."""
    status, _, data = api.get(path)
    assert status == 200, path
    html5lib.HTMLParser(strict=True).parse(data)
    tree: Element = html5lib.parse(data, treebuilder="etree", namespaceHTMLElements=False)
    return tree


def test_a_given_lead_image_is_a_figure_on_its_page(api: Api) -> None:
    image = {**LEAD_IMAGE, "caption": "Outside <script>alert(1)</script>", "credit": "AP & Co"}
    api.call("PUT", "pic", {**ARTICLE, "image": image})
    (figure,) = page(api, "/articles/pic").iter("figure")
    img, caption = list(figure)
    assert img.tag == "img" and img.attrib == {
        "src": f"{api.site.base_url}/images/budget%20box.jpg",
        "alt": "The chancellor holds the red box",
        "width": "1200",
        "height": "800",
    }
    assert caption.tag == "figcaption" and caption.text == "Outside <script>alert(1)</script> "
    assert [(e.tag, e.text) for e in caption] == [("small", "AP & Co")]
    assert b"<script>" not in api.get("/articles/pic")[2]
    api.call("PUT", "pic", {**ARTICLE, "image": {"url": "/a.png", "alt": "A", "credit": "AP"}})
    (figure,) = page(api, "/articles/pic").iter("figure")
    assert [e.tag for e in figure] == ["img", "figcaption"]
    assert set(figure[0].attrib) == {"src", "alt"}  # no size when none is known
    assert not figure[1].text and figure[1][0].text == "AP"
    api.call("PUT", "pic", {**ARTICLE, "image": {"url": "/a.png", "alt": "A"}})
    (figure,) = page(api, "/articles/pic").iter("figure")
    assert [e.tag for e in figure] == ["img"]  # nothing to caption
    api.call("PUT", "pic", ARTICLE)
    assert not list(page(api, "/articles/pic").iter("figure"))


def test_an_image_from_the_body_is_the_figure_of_a_page_showing_its_text(api: Api) -> None:
    html = '<p>Text</p><img src="https://cdn.example/b.jpg" alt="In the body" width="600">'
    api.call("PUT", "body", {**HTML_ARTICLE, "html": html})
    (figure,) = page(api, "/articles/body").iter("figure")
    assert [(e.tag, e.attrib) for e in figure] == [
        ("img", {"src": "https://cdn.example/b.jpg", "alt": "In the body", "width": "600"})
    ]


def test_listings_show_a_thumbnail_beside_each_headline_with_a_lead_image(api: Api) -> None:
    given = {"url": "/g.jpg", "alt": "Given <b>alt</b>", "width": 640, "height": 480}
    api.call("PUT", "given", {**ARTICLE, "title": "Given", "image": given})
    html = '<p>Text</p><img src="/b.jpg" alt="From the body">'
    api.call("PUT", "body", {**HTML_ARTICLE, "title": "Body", "html": html})
    api.call("PUT", "none", {**ARTICLE, "title": "None"})
    base = api.site.base_url
    for path in ("/", "/sections/uk"):
        items = {
            li.find("a").text: li.find("img")  # type: ignore[union-attr]
            for li in page(api, path).iter("li")
        }
        assert set(items) == {"Given", "Body", "None"}, path
        assert items["None"] is None
        assert items["Given"] is not None and items["Given"].attrib == {
            "class": "thumb",
            "src": f"{base}/g.jpg",
            "alt": "Given <b>alt</b>",
            "width": "640",
            "height": "480",
            "loading": "lazy",
        }
        assert items["Body"] is not None and items["Body"].attrib == {
            "class": "thumb",
            "src": f"{base}/b.jpg",
            "alt": "From the body",
            "loading": "lazy",
        }


def test_pre_keeps_its_lines_and_headings_map_to_allowed_levels(api: Api) -> None:
    html = "<h1>Big</h1><pre>line one\nline two</pre><h6>Small</h6><p>Text</p>"
    shown = api.call("PUT", "pre", {**HTML_ARTICLE, "html": html})[2]["html"]
    assert "<pre>line one\nline two</pre>" in shown
    assert "<h2>Big</h2>" in shown and "<h4>Small</h4>" in shown


def test_every_write_is_audited(api: Api) -> None:
    api.call("PUT", "a", ARTICLE)
    api.call("PUT", "a", ARTICLE, token="wrong")
    api.call("DELETE", "a")
    api.call("GET", "a")  # a read is not a write
    log = api.site.feeds("audit").stdout.splitlines()
    assert len(log) == 3
    assert "\tcms\tDELETE\ta\t204" in log[0]
    assert "\t(invalid token)\tPUT\ta\t401\trefused \u00d71: send Authorization" in log[1]
    assert "\tcms\tPUT\ta\t201\tadded" in log[2]
    assert api.token not in "\n".join(log)


def test_refused_writes_are_audited_with_their_status(api: Api) -> None:
    api.call("PUT", "a", {**ARTICLE, "title": ""})
    api.call("PUT", "a", raw=b"{not json")
    api.call("DELETE", "ghost")
    api.call("PUT", "a", ARTICLE)
    api.call("PUT", "a", ARTICLE)
    log = api.site.feeds("audit").stdout.splitlines()
    assert [line.split("\t")[1:5] for line in log] == [
        ["cms", "PUT", "a", "200"],
        ["cms", "PUT", "a", "201"],
        ["cms", "DELETE", "ghost", "404"],
        ["cms", "PUT", "a", "400"],
        ["cms", "PUT", "a", "422"],
    ]
    assert log[0].endswith("\tunchanged")


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"title": 1' + b"0" * 5000 + b"}", 400),  # an integer beyond what Python reads
        (b"[" * 100_000 + b"]" * 100_000, 413),  # over FEEDS_MAX_BODY here
        (b"[" * 3000 + b"]" * 3000, 400),  # nesting beyond the parser's recursion
        (b'{"title": "a", "title": "b"}', 400),  # a duplicate key
        (b'{"title": "x\\ud800", "published": "2020-01-01T00:00:00Z", "text": "a\\udfffb"}', 201),
        (b"\xff\xfe", 400),  # not UTF-8
        (b"", 422),  # no body at all: not an article
    ],
    ids=["big-integer", "too-large", "deep", "duplicate-key", "surrogates", "not-utf8", "empty"],
)
def test_odd_json_gets_a_problem_not_a_crash(api: Api, raw: bytes, status: int) -> None:
    answer_status, headers, body = api.call("PUT", "odd", raw=raw)
    assert answer_status == status, body
    if status >= 400:
        assert headers["Content-Type"] == PROBLEM and body["status"] == status
    else:
        assert body["title"] == "x" and body["text"] == "ab"  # lone surrogates dropped


@pytest.mark.parametrize(
    "site_env", [{"FEEDS_MAX_BODY": str(1024 * 1024)}], indirect=True, ids=["1MiB"]
)
def test_article_size_and_id_limits(api: Api) -> None:
    big = {**ARTICLE, "text": "y" * (300 * 1024)}
    status, _, problem = api.call("PUT", "x", big)
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["text"]
    html = {**HTML_ARTICLE, "html": "<p>" + "y" * (300 * 1024) + "</p>"}
    status, _, problem = api.call("PUT", "x", html)
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["html"]
    assert api.call("GET", "x")[0] == 404
    status, _, problem = api.call("PUT", "x" * 201, ARTICLE)
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["(id)"]
    assert api.call("PUT", "x" * 200, ARTICLE)[0] == 201
    assert api.call("GET", "x" * 201)[0] == 404
    assert api.call("DELETE", "x" * 201)[0] == 404


def test_unknown_api_routes_and_methods_are_problems_and_preconditions_come_first(
    api: Api,
) -> None:
    status, headers, body = api.get("/api/v1/nothing")
    assert status == 404 and headers["Content-Type"] == PROBLEM
    assert json.loads(body)["status"] == 404
    status, headers, problem = api.call("POST", "x", ARTICLE)
    assert status == 405 and headers["Content-Type"] == PROBLEM and problem["status"] == 405
    assert set(headers["Allow"].split(", ")) >= {"GET", "PUT", "DELETE"}
    assert api.call("DELETE", "ghost", headers={"If-Match": '"r1"'})[0] == 412
    status, headers, _ = api.call("PUT", "x", ARTICLE, token="")
    assert headers["WWW-Authenticate"] == 'Bearer realm="feeds"'


def test_authors_get_their_own_feeds(api: Api) -> None:
    api.call("PUT", "budget", ARTICLE)
    api.call("PUT", "solo", {**ARTICLE, "authors": ["Zoë O'Brien"], "title": "Solo"})
    for fmt in ("rss.xml", "atom.xml", "feed.json"):
        status, headers, body = api.get(f"/feeds/authors/ann-writer/{fmt}")
        assert status == 200 and b"Budget day" in body and b"Solo" not in body
        url, hub = api.url(f"/feeds/authors/ann-writer/{fmt}"), api.url("/hub")
        assert headers["Link"] == f'<{hub}>; rel="hub", <{url}>; rel="self"'
    parsed = feedparser.parse(api.get("/feeds/authors/zoe-o-brien/atom.xml")[2])
    assert parsed.feed.title == "Newsroom — Zoë O'Brien"
    assert [e.title for e in parsed.entries] == ["Solo"]
    assert api.get("/feeds/authors/nobody/rss.xml")[0] == 404
    api.call("PUT", "solo", {**ARTICLE, "authors": ["Someone Else"], "title": "Solo"})
    # A feed that has been seen stays, without the article that left it.
    status, _, body = api.get("/feeds/authors/zoe-o-brien/rss.xml")
    assert status == 200 and b"Solo" not in body
    assert b"Solo" in api.get("/feeds/authors/someone-else/rss.xml")[2]


def test_authors_whose_names_share_a_slug_keep_separate_feeds(api: Api) -> None:
    api.call("PUT", "one", {**ARTICLE, "authors": ["Zoë O'Brien"], "title": "One"})
    api.call("PUT", "two", {**ARTICLE, "authors": ["Zoe O Brien"], "title": "Two"})
    first = feedparser.parse(api.get("/feeds/authors/zoe-o-brien/atom.xml")[2])
    second = feedparser.parse(api.get("/feeds/authors/zoe-o-brien-2/atom.xml")[2])
    assert [e.title for e in first.entries] == ["One"]
    assert [e.title for e in second.entries] == ["Two"]
    assert second.feed.title == "Newsroom — Zoe O Brien"


def test_names_of_one_article_given_one_slug_keep_separate_feeds(api: Api) -> None:
    """A name whose slug another has takes the next free one, free of the names of its own
    article too: 'ann writer' takes ann-writer-2, so 'Ann Writer 2' takes ann-writer-2-2."""
    api.call("PUT", "one", {**ARTICLE, "authors": ["Ann Writer"], "title": "One"})
    two = {**ARTICLE, "authors": ["ann writer", "Ann Writer 2"], "title": "Two"}
    assert api.call("PUT", "two", two)[0] == 201
    for slug, name, titles in (
        ("ann-writer", "Ann Writer", ["One"]),
        ("ann-writer-2", "ann writer", ["Two"]),
        ("ann-writer-2-2", "Ann Writer 2", ["Two"]),
    ):
        parsed = feedparser.parse(api.get(f"/feeds/authors/{slug}/atom.xml")[2])
        assert parsed.feed.title == f"Newsroom — {name}", slug
        assert [e.title for e in parsed.entries] == titles, slug


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("published", "9999-12-31T23:55:00Z"),
        ("published", "9999-12-31T23:59:00"),  # FEEDS_TIMEZONE's wall clock
        ("published", "0001-01-01T00:30:00+01:00"),
        ("published", "9999-12-31T23:30:00-01:00"),
        ("updated", "9999-12-31T23:55:00Z"),
        ("updated", "9999-12-31T23:59:59-01:00"),
        ("updated", "0001-01-01T00:00:00+00:01"),
    ],
)
def test_instants_at_the_ends_of_the_calendar_are_422_and_audited(
    api: Api, field: str, value: str
) -> None:
    status, headers, problem = api.call("PUT", "far", {**ARTICLE, field: value})
    assert status == 422 and headers["Content-Type"] == PROBLEM
    assert field in {e["field"] for e in problem["errors"]}, problem
    assert "\tcms\tPUT\tfar\t422" in api.site.feeds("audit").stdout
    assert api.call("GET", "far")[0] == 404


@pytest.mark.parametrize(
    ("zone", "value"),
    [("America/New_York", "9999-12-31T23:59:00"), ("Asia/Tokyo", "0001-01-01T00:00:00")],
)
def test_a_wall_clock_time_its_zone_moves_out_of_the_calendar_is_invalid(
    zone: str, value: str
) -> None:
    body = {**ARTICLE, "published": value}
    with pytest.raises(InvalidFields) as raised:
        apijson.parse(body, "far", ZoneInfo(zone), "https://news.example.com", IMPORT_TIME)
    (error,) = raised.value.errors
    assert error["field"] == "published" and "years 1 to 9999" in error["detail"]


@pytest.mark.parametrize("site_env", [{"FEEDS_PAGE_SIZE": "1"}], indirect=True, ids=["page-1"])
def test_author_feeds_page_through_their_own_archives(api: Api) -> None:
    for n, month in ((1, "01"), (2, "02"), (3, "03")):
        mine = {**ARTICLE, "published": f"2020-{month}-01T10:00:00Z"}
        other = {**mine, "authors": ["Other Person"], "published": f"2020-{month}-02T10:00:00Z"}
        assert api.call("PUT", f"mine{n}", mine)[0] == 201
        assert api.call("PUT", f"other{n}", other)[0] == 201
    seen: list[str] = []
    address = api.url("/feeds/authors/ann-writer/atom.xml")
    while address:
        status, _, body = api.site.fetch(address)
        assert status == 200, address
        parsed = feedparser.parse(body)
        if "/archive/" in address:
            seen += [e.link.rsplit("/", 1)[1] for e in parsed.entries]
        else:
            assert len(parsed.entries) == 1
        address = next((link.href for link in parsed.feed.links if link.rel == "prev-archive"), "")
        assert not address or "/feeds/authors/ann-writer/archive/" in address
    assert sorted(seen) == ["mine1", "mine2", "mine3"]
