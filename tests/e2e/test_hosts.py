"""Absolute URLs come from FEEDS_BASE_URL alone: every route of the app (read from its URL
map), asked by a real gunicorn process (and through deploy/'s nginx) with a hostile Host and
every X-Forwarded-* header, in every way a client can ask (HEAD, OPTIONS, other methods,
conditional requests, gzip, doubled slashes that are redirected, unknown names, API writes
and partner feeds with and without their tokens), answers with no URL that does not start
with the base URL or name a known external document, and never with a hostile name."""

from __future__ import annotations

import gzip
import http.client
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from feeds.web import create_app
from feeds.web.service import Service
from tests.e2e.test_deploy import behind_nginx, production_env
from tests.support import Content, article_text, run_feeds, start_server

BASE = "https://news.example.com/site"
HOSTILE_HEADERS = {
    "Host": "evil-host.example",
    "X-Forwarded-Host": "evil-forwarded-host.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Port": "6666",
    "X-Forwarded-For": "203.0.113.66",
    "X-Forwarded-Prefix": "/evil-prefix",
    "X-Forwarded-Server": "evil-forwarded-server.example",
    "X-Original-Host": "evil-original-host.example",
    "Forwarded": "for=203.0.113.66;host=evil-forwarded.example;proto=https",
}
# What a hostile header could bring into an answer: each as it would appear there (a port
# after its colon), never as random ETags and tokens may spell it by chance (hex "6666").
MARKERS = ("evil-", ":6666", "203.0.113")
# Documents the answers name that are not the site's: XML namespaces and format specifications,
# and the links of the article body the API was sent that lead out of the site: one to
# another site, and one to its host's root ("/articles/w1" is there by RFC 3986 §5.2).
EXTERNAL = (
    "http://www.w3.org/2005/Atom",
    "http://www.w3.org/XML/1998/namespace",
    "http://purl.org/dc/elements/1.1/",
    "http://purl.org/rss/1.0/modules/content/",
    "http://purl.org/syndication/history/1.0",
    "http://purl.org/atompub/tombstones/1.0",
    "http://search.yahoo.com/mrss/",
    "http://www.rssboard.org/rss-specification",
    "https://jsonfeed.org/version/1.1",
    "http://opml.org/spec2.opml",
    "http://www.sitemaps.org/schemas/sitemap/0.9",
    "http://www.google.com/schemas/sitemap-news/0.9",
    "http://www.google.com/schemas/sitemap-image/1.1",
    "https://example.org/report",
    "https://news.example.com/articles/w1",
)
_ABSOLUTE = re.compile(r"""(?:[a-z][a-z0-9+.-]*:)?//[^\s"'<>\\)]+""", re.IGNORECASE)
_LINKING = re.compile(r"""\b(?:href|src|xmlUrl|htmlUrl|url|cite)=["']([^"']*)["']""")
# A real value for each path variable, and an unknown one.
VALUES = {
    "article_id": ["w1", "gone", "by-ann", "missing"],
    "section": ["world", "missing"],
    "author": ["ann-writer", "nobody"],
    "name": ["globe", "nobody"],
    "year": ["2020"],
    "month": ["01"],
    "part": ["1", "9"],
    "number": ["1", "2"],  # an article sitemap, and one past the last
    "filename": ["rss.xml", "atom.xml", "feed.json", "other.txt"],
}
HTML_BODY = (
    '<p>See <a href="/articles/w1">the first report</a>, <a href="report.html">this one</a> '
    'and <a href="https://example.org/report">theirs</a>.</p><img src="pic.jpg" alt="A pic">'
)


@dataclass
class Answer:
    method: str
    path: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def text(self) -> str:
        body = self.body
        if dict(self.headers).get("Content-Encoding") == "gzip" and body:
            body = gzip.decompress(body)
        return body.decode("utf-8", "replace")


@dataclass
class Sweep:
    """Requests sent to one server, all with the hostile headers, and their answers."""

    address: tuple[str, int]
    publish: str
    partner: str
    answers: list[Answer] = field(default_factory=list)

    def send(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: Any = None
    ) -> Answer:
        sent = {**HOSTILE_HEADERS, **(headers or {})}
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            sent["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection(*self.address, timeout=30)
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            answer = Answer(method, path, response.status, response.getheaders(), response.read())
        finally:
            connection.close()
        self.answers.append(answer)
        return answer


def _paths(rule: str) -> Iterator[str]:
    """`rule` with every combination of the values of its variables."""
    names = re.findall(r"<(?:\w+:)?(\w+)>", rule)
    pieces = re.split(r"<(?:\w+:)?\w+>", rule)  # the text around the variables
    for combination in itertools.product(*(VALUES[name] for name in names)):
        yield "".join(itertools.chain(*zip(pieces, [*combination, ""], strict=True)))


def _ways(sweep: Sweep, path: str) -> list[dict[str, str]]:
    """The credentials a client may send to `path`: none, and the route's token."""
    if path.startswith("/api/"):
        return [{}, {"Authorization": f"Bearer {sweep.publish}"}]
    if path.startswith("/partners/"):
        return [{}, {"Authorization": f"Bearer {sweep.partner}"}, {"X-Token": sweep.partner}]
    return [{}]


def _ask(sweep: Sweep, method: str, path: str, credentials: dict[str, str]) -> None:
    if "X-Token" in credentials:  # the token in the URL, as feed readers send it
        path, credentials = f"{path}?token={credentials['X-Token']}", {}
    body = {"title": "By Ann", "published": "2020-01-02T10:00:00Z", "html": HTML_BODY}
    answer = sweep.send(method, path, credentials, body if method == "PUT" else None)
    etag = dict(answer.headers).get("ETag")
    if method == "GET" and answer.status == 200 and etag:  # revalidated: 304
        sweep.send("GET", path, {**credentials, "If-None-Match": etag})
        sweep.send("GET", path, {**credentials, "Accept-Encoding": "gzip"})
        later = "Wed, 01 Jan 2100 00:00:00 GMT"
        sweep.send("HEAD", path, {**credentials, "If-Modified-Since": later})


def sweep_every_route(sweep: Sweep, rules: list[tuple[str, set[str]]]) -> None:
    """Ask every route every way; then the API's refusals and the redirects of doubled
    slashes."""
    for rule, methods in rules:
        for path in _paths(rule):
            for method in sorted(methods | {"OPTIONS", "POST", "PATCH"}):
                for credentials in _ways(sweep, path):
                    _ask(sweep, method, path, credentials)
            for doubled in (path.replace("/", "//", 1), path[::-1].replace("/", "//", 1)[::-1]):
                if doubled.count("/") > 2:
                    sweep.send("GET", doubled)
    publish = {"Authorization": f"Bearer {sweep.publish}"}
    sweep.send("PUT", "/api/v1/articles/bad", publish, {"title": ""})
    sweep.send("PUT", "/api/v1/articles/bad", {**publish, "Content-Type": "text/plain"})
    sweep.send("GET", "/nowhere")
    sweep.send("GET", "/api/v1/nowhere")


def urls_in(answer: Answer) -> list[str]:
    """Every URL an answer holds: in any header and anywhere in its body (absolute ones),
    and every value of a linking attribute or JSON member (absolute or not)."""
    values = [value for _, value in answer.headers]
    text = answer.text()
    found = [m.group(0) for v in [*values, text] for m in _ABSOLUTE.finditer(v)]
    found += _LINKING.findall(text)
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    found += list(_json_urls(document))
    return found


def _json_urls(value: Any, key: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _json_urls(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from _json_urls(item, key)
    elif isinstance(value, str) and key.endswith("url"):
        yield value


def check(answers: list[Answer]) -> Counter[int]:
    """Every answer's URLs start with BASE or name a known external document, and no
    hostile name is anywhere; the statuses seen."""
    for answer in answers:
        where = (answer.method, answer.path, answer.status)
        whole = (str(answer.headers) + answer.text()).lower()
        assert not [m for m in MARKERS if m in whole], (where, whole[:2000])
        for url in urls_in(answer):
            fits = url == BASE or url.startswith((BASE + "/", BASE + "?"))
            assert fits or url.startswith(EXTERNAL), (where, url)
    return Counter(answer.status for answer in answers)


def seed(env: dict[str, str], content: Content) -> tuple[str, str]:
    """Articles (one withdrawn, one from the API with an author and links to make
    absolute), a partner and a publish token: (publish token, partner token)."""
    content.write("world/w1.txt", article_text(title="First", dateline="1 January 2020, 10:00"))
    content.write("world/gone.txt", article_text(title="Gone", dateline="3 January 2020, 10:00"))
    assert run_feeds(env, "import").returncode == 0
    assert run_feeds(env, "delete", "gone").returncode == 0
    publish = run_feeds(env, "token", "create", "--name", "cms", "--scope", "publish")
    partner = run_feeds(env, "partner", "add", "globe", "--sections", "world", "--content", "full")
    return publish.stdout.strip(), partner.stdout.strip()


def app_rules(env: dict[str, str]) -> list[tuple[str, set[str]]]:
    app = create_app(environ=env)
    try:
        return [(rule.rule, set(rule.methods or ())) for rule in app.url_map.iter_rules()]
    finally:
        Service.of(app).store.close()


def prepared(sweep: Sweep) -> Sweep:
    answer = sweep.send(
        "PUT",
        "/api/v1/articles/by-ann",
        {"Authorization": f"Bearer {sweep.publish}"},
        {
            "title": "By Ann",
            "published": "2020-01-02T10:00:00Z",
            "section": "world",
            "authors": ["Ann Writer"],
            "html": HTML_BODY,
        },
    )
    assert answer.status == 201, answer.body
    return sweep


def covered(statuses: Counter[int], answers: list[Answer]) -> None:
    """The sweep met every kind of answer, and every route answered 2xx once."""
    assert {200, 201, 204, 304, 308, 401, 404, 405, 410, 415, 422} <= set(statuses), statuses
    ok = {a.path.split("?")[0] for a in answers if a.status < 300}
    for needed in ("/feeds/world/archive/2020/01/1/atom.xml", "/partners/globe/feed.json"):
        assert needed in ok
    redirected = [a for a in answers if a.status == 308]
    assert all(dict(a.headers)["Location"].startswith(BASE + "/") for a in redirected)


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sweep]:
    """A real gunicorn process (`feeds serve`), seeded, and the sweep sent to it."""
    folder = tmp_path_factory.mktemp("hosts")
    content = Content(folder / "content")
    content.root.mkdir()
    server = start_server(folder, {"FEEDS_BASE_URL": BASE, "FEEDS_CONTENT": str(content.root)})
    try:
        publish, partner = seed(server.env, content)
        address = urlsplit(server.base_url)
        assert address.hostname and address.port
        sweep = prepared(Sweep((address.hostname, address.port), publish, partner))
        sweep_every_route(sweep, app_rules(server.env))
        yield sweep
    finally:
        server.stop()


def test_every_answer_of_every_route_holds_only_urls_under_the_base(direct: Sweep) -> None:
    statuses = check(direct.answers)
    covered(statuses, direct.answers)
    assert len(direct.answers) > 500, len(direct.answers)


def test_a_doubled_slash_redirects_under_the_base_url(direct: Sweep) -> None:
    answer = direct.send("GET", "/feeds//rss.xml")
    assert (answer.status, dict(answer.headers)["Location"]) == (308, BASE + "/feeds/rss.xml")


def test_behind_nginx_too(tmp_path: Path, content: Content) -> None:
    env = production_env(tmp_path, 60)
    env |= {"FEEDS_BASE_URL": BASE, "FEEDS_CONTENT": str(content.root)}
    run_feeds(env, "migrate")
    publish, partner = seed(env, content)
    with behind_nginx(tmp_path, env) as port:
        sweep = prepared(Sweep(("127.0.0.1", port), publish, partner))
        sweep_every_route(sweep, app_rules(env))
        statuses = check(sweep.answers)
    covered(statuses, sweep.answers)
