"""The publishing API behind a real gunicorn process: chunked bodies, an access log that
never holds a token, and writes a feed reader sees over HTTP."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import feedparser
import pytest

from tests.samples import ARTICLE, LEAD_IMAGE
from tests.support import Answer, Served, fetch, start_server

MAX_BODY = 16384


@dataclass
class Api:
    """A served site and an active publish token."""

    server: Served
    token: str

    def send(
        self,
        method: str,
        article_id: str,
        body: bytes | Iterable[bytes] | None = None,
        token: str | None = None,
    ) -> Answer:
        """`method` /api/v1/articles/<article_id> over one new connection; a body that is
        an iterable of chunks goes with Transfer-Encoding: chunked."""
        address = urllib.parse.urlsplit(self.server.base_url)
        assert address.hostname is not None and address.port is not None
        headers = {"Authorization": f"Bearer {self.token if token is None else token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        try:
            connection.request(
                method,
                f"/api/v1/articles/{article_id}",
                body=body,
                headers=headers,
                encode_chunked=body is not None and not isinstance(body, bytes),
            )
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    server = start_server(tmp_path_factory.mktemp("api"), {"FEEDS_MAX_BODY": str(MAX_BODY)})
    try:
        made = server.feeds("token", "create", "--name", "cms", "--scope", "publish")
        assert made.returncode == 0, made.stderr
        yield Api(server, made.stdout.strip())
    finally:
        server.stop()


def chunks(body: bytes, size: int = 1024) -> Iterator[bytes]:
    return (body[i : i + size] for i in range(0, len(body), size))


def test_a_chunked_body_is_read_whole(api: Api) -> None:
    body = json.dumps({**ARTICLE, "text": "x" * (MAX_BODY - 1024)}).encode()
    status, _, answer = api.send("PUT", "chunked-small", chunks(body, 100))
    assert status == 201, answer
    assert json.loads(answer)["text"] == "x" * (MAX_BODY - 1024)


def test_a_chunked_body_of_exactly_the_limit_is_taken(api: Api) -> None:
    body = json.dumps({**ARTICLE, "text": ""}).encode()
    body = json.dumps({**ARTICLE, "text": "x" * (MAX_BODY - len(body))}).encode()
    assert len(body) == MAX_BODY
    status, _, answer = api.send("PUT", "chunked-exact", chunks(body))
    assert status == 201, answer


def test_a_chunked_body_past_the_body_limit_is_413(api: Api) -> None:
    big = json.dumps({**ARTICLE, "text": "x" * (MAX_BODY + 4096)}).encode()
    status, headers, body = api.send("PUT", "chunked-big", chunks(big))
    assert status == 413 and headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["status"] == 413
    assert api.send("GET", "chunked-big")[0] == 404  # nothing was stored


def test_a_malformed_chunked_body_is_a_400_and_audited(api: Api) -> None:
    address = urllib.parse.urlsplit(api.server.base_url)
    assert address.hostname is not None and address.port is not None
    request = (
        "PUT /api/v1/articles/bad-chunks HTTP/1.1\r\n"
        f"Host: {address.hostname}\r\nAuthorization: Bearer {api.token}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        "zz\r\n{}\r\n0\r\n\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = sock.makefile("rb").read()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"application/problem+json" in head, answer
    assert b"the body could not be read" in body
    log = api.server.feeds("audit", "--limit", "5").stdout
    assert "\tPUT\tbad-chunks\t400\trefused \u00d71: the body could not be read" in log


def test_tokens_never_reach_the_servers_log(api: Api) -> None:
    assert api.send("PUT", "logged", json.dumps(ARTICLE).encode())[0] in (200, 201)
    assert api.send("GET", "logged")[0] == 200
    assert api.send("GET", "logged", token=api.token + "x")[0] == 401
    assert api.send("DELETE", "logged")[0] == 204
    last = '"DELETE /api/v1/articles/logged HTTP/1.1" 204'
    deadline = time.monotonic() + 10  # a worker logs a request once it has answered
    while last not in api.server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = api.server.log.read_text()
    assert '"PUT /api/v1/articles/logged HTTP/1.1"' in log and last in log
    assert api.token not in log


def test_no_request_can_write_a_line_of_the_servers_log(api: Api) -> None:
    forged = '127.0.0.1 "PUT /api/v1/articles/budget HTTP/1.1" 201'
    path = "/articles/x%0d%0a" + urllib.parse.quote(forged) + "%1b[2J"
    address = urllib.parse.urlsplit(api.server.base_url)
    assert address.hostname is not None and address.port is not None
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        connection.request("GET", path)
        assert connection.getresponse().status == 404
    finally:
        connection.close()
    deadline = time.monotonic() + 10  # a worker logs a request once it has answered
    while "/articles/x" not in api.server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = api.server.log.read_text().splitlines()
    (logged,) = (line for line in lines if "/articles/x" in line)
    assert "/articles/x\\r\\n127.0.0.1" in logged and "\\x1b[2J" in logged, logged
    assert not any(line.startswith(forged) for line in lines)
    assert not any("\x1b" in line for line in lines)


def test_a_request_line_gunicorn_refuses_is_logged_without_its_token(api: Api) -> None:
    address = urllib.parse.urlsplit(api.server.base_url)
    assert address.hostname is not None and address.port is not None
    secret = "s3cr3t-partner-token-value"
    for line in (
        f"GET /partners/globe/rss.xml?token={secret}&x=\xc3\xa9 HTTP/1.1",
        f"GET /partners/globe/rss.xml?token={secret}\x7f HTTP/1.1",
    ):
        with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
            conn.sendall(line.encode("latin-1") + b"\r\nHost: x\r\n\r\n")
            assert conn.recv(4096).startswith(b"HTTP/1.1 400")
    deadline = time.monotonic() + 10
    while api.server.log.read_text().count("Invalid request") < 2:
        assert time.monotonic() < deadline, api.server.log.read_text()[-2000:]
        time.sleep(0.05)
    log = api.server.log.read_text()
    assert secret not in log and "token=[token]" in log


def test_a_write_through_the_api_reaches_a_feed_reader_at_once(api: Api) -> None:
    feed = api.server.url("/feeds/atom.xml")
    for _ in range(4):  # the workers hold the feed as it was before the write
        assert fetch(feed)[0] == 200
    article = {**ARTICLE, "title": "Read by a reader"}
    assert api.send("PUT", "reader", json.dumps(article).encode())[0] in (200, 201)
    link = api.server.url("/articles/reader")
    for _ in range(4):
        parsed = feedparser.parse(feed)
        assert parsed.status == 200 and not parsed.bozo
        (entry,) = (e for e in parsed.entries if e.link == link)
        assert entry.title == "Read by a reader"
        assert [a.name for a in entry.authors] == ["Ann Writer", "Bo Reporter"]
        assert [t.term for t in entry.tags] == ["uk", "economy"]
    assert fetch(link)[0] == 200


def test_a_lead_image_keeps_its_revision_until_it_changes(api: Api) -> None:
    body = {**ARTICLE, "title": "Pictured", "image": LEAD_IMAGE}
    status, headers, answer = api.send("PUT", "pictured", json.dumps(body).encode())
    assert status == 201 and headers["ETag"] == '"r1"', answer
    image = json.loads(answer)["image"]
    assert image["url"] == api.server.url("/images/budget%20box.jpg")
    again = api.send("PUT", "pictured", json.dumps(body).encode())
    assert again[0] == 200 and again[1]["ETag"] == '"r1"'
    moved = {**body, "image": {**LEAD_IMAGE, "url": "https://cdn.example/box.jpg"}}
    changed = api.send("PUT", "pictured", json.dumps(moved).encode())
    assert changed[0] == 200 and changed[1]["ETag"] == '"r2"'
    status, _, shown = api.send("GET", "pictured")
    assert status == 200 and json.loads(shown)["image"]["url"] == "https://cdn.example/box.jpg"
    page = fetch(api.server.url("/articles/pictured"))[2].decode()
    assert '<figure class="lead">\n<img src="https://cdn.example/box.jpg"' in page
    assert "<figcaption>Outside No. 11 this morning " in page
    home = fetch(api.server.url("/"))[2].decode()
    assert '<img class="thumb" src="https://cdn.example/box.jpg"' in home


def test_an_article_published_with_a_lead_image_shows_it_everywhere(api: Api) -> None:
    """Published through the API, the image reaches every format, as feed readers parse
    them, and the sitemaps; its page is listed too."""
    published = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {**ARTICLE, "title": "Pictured today", "published": published, "image": LEAD_IMAGE}
    status, _, answer = api.send("PUT", "pictured-today", json.dumps(body).encode())
    assert status == 201, answer
    image, page = (
        api.server.url("/images/budget%20box.jpg"),
        api.server.url("/articles/pictured-today"),
    )
    for name in ("rss.xml", "atom.xml"):
        entry = next(
            e
            for e in feedparser.parse(fetch(api.server.url(f"/feeds/{name}"))[2]).entries
            if e.link == page
        )
        assert [m["url"] for m in entry.media_content] == [image], name
        assert entry.media_content[0]["width"] == "1200", name
        assert [t["url"] for t in entry.media_thumbnail] == [image], name
        assert [(e.href, e.length) for e in entry.enclosures] == [(image, "183204")], name
    items = json.loads(fetch(api.server.url("/feeds/feed.json"))[2])["items"]
    item = next(i for i in items if i["url"] == page)
    assert item["image"] == image
    assert item["attachments"] == [
        {"url": image, "mime_type": "image/jpeg", "size_in_bytes": 183204}
    ]
    news = fetch(api.server.url("/sitemaps/news.xml"))[2].decode()
    assert f"<loc>{page}</loc>" in news and f"<image:loc>{image}</image:loc>" in news
    index = fetch(api.server.url("/sitemap.xml"))[2].decode()
    listed = [fetch(url)[2].decode() for url in re.findall(r"<loc>([^<]+)</loc>", index)]
    assert sum(f"<loc>{page}</loc>" in sitemap for sitemap in listed) == 1
