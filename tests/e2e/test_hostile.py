"""Hostile requests, sent over raw sockets to a real gunicorn (`feeds serve`) and, where nginx
is installed, through deploy/nginx.conf in front of it: oversized headers, request-smuggling
shapes, encoded NULs, traversal and bad percent-encodings in the variable part of every route,
very long paths.

Each gets a clean 4xx and never a 5xx; the server's log shows no traceback; the connection
stays in step (a request hidden in a body is never answered as a request of its own, and a
request that follows on the same connection gets its own answer); and no answer holds the
contents of a file outside the store.
"""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from tests.e2e.test_deploy import find_nginx, start_nginx
from tests.support import SEED, Served, article_text, start_server

# A request that ends every exchange: its answer shows the connection is still in step, and
# it asks the server to close, so reading up to the end of the stream reads every answer.
FOLLOW_UP = b"GET /healthz HTTP/1.1\r\nHost: news.example.com\r\nConnection: close\r\n\r\n"
# A request hidden in a body: answered only by a server that lost track of where the body
# ends. Its answer (the OPML directory) is unmistakable.
HIDDEN = b"GET /feeds.opml HTTP/1.1\r\nHost: news.example.com\r\n\r\n"
CANARY = f"canary-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def read_answers(raw: bytes, head: bool = False) -> list[Answer]:
    """The HTTP/1.1 responses in `raw`, everything one connection carried, in order; the
    first answers a HEAD request when `head` is set (then it has no body)."""
    answers: list[Answer] = []
    while raw:
        start, found, raw = raw.partition(b"\r\n\r\n")
        assert found, f"an incomplete response: {start[:300]!r}"
        status_line, *lines = start.decode("latin-1").split("\r\n")
        assert re.match(r"HTTP/1\.[01] \d{3}", status_line), status_line
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status = int(status_line.split()[1])
        if (head and not answers) or status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", ""):
            body = b""
            while True:
                size_line, _, raw = raw.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                body, raw = body + raw[:size], raw[size + 2 :]
                if size == 0:
                    break
        elif "content-length" in headers:
            length = int(headers["content-length"])
            body, raw = raw[:length], raw[length:]
        else:  # delimited by the end of the connection
            body, raw = raw, b""
        answers.append(Answer(status, headers, body))
    return answers


@dataclass
class Target:
    """Where the hostile requests go: gunicorn itself or nginx in front of it."""

    name: str
    port: int
    server: Served
    publish_token: str
    partner_token: str

    def exchange(self, data: bytes) -> list[Answer]:
        """Send `data` on one connection, read until the server closes it."""
        return read_answers(self.send(data), head=data.startswith(b"HEAD "))

    def send(self, data: bytes) -> bytes:
        """Send `data` on one connection: the bytes received until the server closed it."""
        received = b""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            try:
                sock.sendall(data)
            except OSError:  # the server may answer and close before reading everything
                pass
            while True:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                received += chunk
        return received


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str, str]]:
    """`feeds serve` over a store with an article in a section, an author and a partner:
    (server, publish token, partner token). A file beside the store holds the canary."""
    tmp = tmp_path_factory.mktemp("hostile")
    (tmp / "canary.txt").write_text(CANARY)
    content = tmp / "content"
    (content / "world").mkdir(parents=True)
    (content / "world" / SEED.name).write_bytes(SEED.read_bytes())
    (content / "uk.txt").write_text(article_text("A top-level article"))
    settings = {
        "FEEDS_CONTENT": str(content),
        "FEEDS_MAX_AGE": "0",
        "FEEDS_PARTNER_MIN_INTERVAL": "0",
    }
    server = start_server(tmp, settings)
    try:
        assert server.feeds("import").returncode == 0
        publish = server.feeds("token", "create", "--name", "cms", "--scope", "publish")
        partner = server.feeds(
            "partner", "add", "globe", "--sections", "world", "--content", "full"
        )
        assert publish.returncode == 0 and partner.returncode == 0, publish.stderr + partner.stderr
        publish_token, partner_token = publish.stdout.strip(), partner.stdout.strip()
        body = json.dumps(
            {
                "title": "By an author",
                "published": "2020-01-05T10:00:00Z",
                "section": "world",
                "authors": ["Ann Writer"],
                "text": "A paragraph.",
            }
        ).encode()
        put = (
            b"PUT /api/v1/articles/by-ann HTTP/1.1\r\nHost: news.example.com\r\n"
            b"Authorization: Bearer " + publish_token.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % len(body) + body
        )
        port = int(server.base_url.rsplit(":", 1)[1])
        answers = Target("gunicorn", port, server, "", "").exchange(put)
        assert [a.status for a in answers] == [201], answers
        yield server, publish_token, partner_token
    finally:
        server.stop()


@pytest.fixture(scope="module", params=["gunicorn", "nginx"])
def target(
    request: pytest.FixtureRequest,
    served: tuple[Served, str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Target]:
    """The requests' target: gunicorn, or deploy/'s nginx in front of it."""
    server, publish, partner = served
    port = int(server.base_url.rsplit(":", 1)[1])
    if request.param == "gunicorn":
        yield Target("gunicorn", port, server, publish, partner)
        return
    find_nginx()  # skips where nginx is not installed (fails in CI)
    nginx_port, nginx, _ = start_nginx(tmp_path_factory.mktemp("nginx"), f"127.0.0.1:{port}")
    try:
        yield Target("nginx", nginx_port, server, publish, partner)
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)


ACCESS_STATUS = re.compile(r'" (\d{3}) (?:\d+|-) [\d.]+s "[^"]*"$')


@contextmanager
def log_stays_clean(target: Target) -> Iterator[None]:
    """Around a test's requests: nothing the server logs meanwhile is a traceback or an
    answer with a 5xx status. Waits for a marker request's line to be logged first, so the
    lines of the requests before it are there."""
    log = target.server.log
    start = log.stat().st_size
    yield
    marker = f"/marker-{uuid.uuid4().hex}"
    deadline = time.monotonic() + 30
    while marker.encode() not in log.read_bytes()[start:] and time.monotonic() < deadline:
        target.exchange(f"GET {marker} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        time.sleep(0.05)
    written = log.read_bytes()[start:].decode("utf-8", "replace")
    assert marker in written, "the server logged no access line for the marker request"
    assert "Traceback" not in written and "Error handling request" not in written, written
    for line in written.splitlines():
        found = ACCESS_STATUS.search(line)
        assert found is None or not found[1].startswith("5"), line


def refused_in_step(target: Target, request: bytes, allowed: tuple[int, ...] = ()) -> Answer:
    """Send `request` and the follow-up on one connection: the first answer is a 4xx (or
    one of `allowed`); the follow-up is answered 200, or not at all when the server closed
    the connection after refusing; nothing else is answered. Returns the first answer."""
    answers = target.exchange(request + FOLLOW_UP)
    statuses = [a.status for a in answers]
    assert answers and (400 <= statuses[0] < 500 or statuses[0] in allowed), statuses
    assert len(answers) <= 2, statuses
    if len(answers) == 2:
        assert statuses[1] == 200 and answers[1].body.strip() == b"ok", statuses
    for answer in answers:
        assert b"<opml" not in answer.body, "a request hidden in a body was answered"
        assert b"root:" not in answer.body and CANARY.encode() not in answer.body
    return answers[0]


# ---------------------------------------------------------------------------------------
# Headers too large, and the shapes of request smuggling.

HOST = b"Host: news.example.com\r\n"
PUT_START = b"PUT /api/v1/articles/smuggled HTTP/1.1\r\n" + HOST


def test_one_64_kib_header_is_refused(target: Target) -> None:
    with log_stays_clean(target):
        big = b"X-Big: " + b"a" * 65536 + b"\r\n"
        refused_in_step(target, b"GET /healthz HTTP/1.1\r\n" + HOST + big + b"\r\n")


def test_two_hundred_headers_are_refused(target: Target) -> None:
    many = b"".join(b"X-Header-%d: value\r\n" % n for n in range(200))
    with log_stays_clean(target):
        refused_in_step(target, b"GET /healthz HTTP/1.1\r\n" + HOST + many + b"\r\n")


def test_a_very_long_path_is_refused(target: Target) -> None:
    with log_stays_clean(target):
        path = b"/articles/" + b"a" * 100_000
        refused_in_step(target, b"GET " + path + b" HTTP/1.1\r\n" + HOST + b"\r\n")


SMUGGLING = {
    # RFC 9112 §6.3: both is an attack; the server must not take either length on trust.
    "content-length-and-chunked": (
        PUT_START + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + HIDDEN
    ),
    "chunked-and-content-length": (
        PUT_START
        + b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n\r\n0\r\n\r\n" % (5 + len(HIDDEN))
        + HIDDEN
    ),
    "two-content-lengths": (
        PUT_START + b"Content-Length: 0\r\nContent-Length: %d\r\n\r\n" % len(HIDDEN) + HIDDEN
    ),
    # RFC 9112 §5.2: a line folded onto the one before (obs-fold) is refused or unfolded.
    "obs-fold": b"GET /healthz HTTP/1.1\r\n" + HOST + b"X-Folded: a\r\n b\r\n\r\n",
    "obs-fold-transfer-encoding": (
        PUT_START + b"Content-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + HIDDEN
    ),
    "space-before-colon": (
        PUT_START + b"Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + HIDDEN
    ),
    # A bare LF ending a header line: where it counts as a line end, the Content-Length
    # after it makes the hidden request a body; where not, the header line is malformed.
    "bare-lf": (
        b"GET /healthz HTTP/1.1\r\n"
        + HOST
        + b"X-A: a\nContent-Length: %d\r\n\r\n" % len(HIDDEN)
        + HIDDEN
    ),
    "bare-cr": b"GET /healthz HTTP/1.1\r\n" + HOST + b"X-A: a\rX-B: b\r\n\r\n",
    # RFC 9112 §6.3: chunked that is not the last coding leaves the length unknown.
    "chunked-then-identity": (
        PUT_START + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + HIDDEN
    ),
    "raw-nul-in-target": b"GET /articles/a\x00b HTTP/1.1\r\n" + HOST + b"\r\n",
}
# The shapes a server may also read as the client meant them (RFC 9112 §2.2: a recipient MAY
# take a bare LF for a line end), answering them in full and in step.
READABLE = {"bare-lf": (200,)}
# nginx answers a transfer coding it does not know (identity is none since RFC 7230) with
# 501 Not Implemented, as RFC 9112 §6.1 says a server SHOULD, and closes the connection.
UNKNOWN_CODING = {"chunked-then-identity": (501,)}


@pytest.mark.parametrize("shape", sorted(SMUGGLING))
def test_smuggling_shapes_are_refused_and_the_connection_stays_in_step(
    target: Target, shape: str
) -> None:
    allowed: tuple[int, ...] = READABLE.get(shape, ())
    if target.name == "nginx":
        allowed += UNKNOWN_CODING.get(shape, ())
    with log_stays_clean(target):
        refused_in_step(target, SMUGGLING[shape], allowed)


# ---------------------------------------------------------------------------------------
# The variable part of every route.

PAYLOADS = {
    "nul": ["%00", "a%00b", "world%00"],
    "traversal": [
        "..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "..%2f" * 12 + "{canary}",  # the canary by its absolute path, slashes encoded
        "%2e%2e/" * 12 + "{canary}",
        "..%5c..%5c..%5cetc%5cpasswd",
        "..\\..\\..\\etc\\passwd",
        "%c0%ae%c0%ae%c0%af%c0%ae%c0%ae%c0%afetc%c0%afpasswd",  # overlong UTF-8 for ../
        "..",
        "%2e%2e",
    ],
    "encoding": ["%ff", "%fe%ff", "%", "%zz", "%e2%80%ae", "%0d%0aX-Injected:%20yes"],
    "long": ["." * 300, "a" * 3000],
}
ROUTES = [
    "/articles/{}",
    "/sections/{}",
    "/feeds/{}/rss.xml",
    "/feeds/world/{}",
    "/feeds/authors/{}/atom.xml",
    "/feeds/authors/ann-writer/{}",
    "/feeds/archive/{}/01/1/atom.xml",
    "/feeds/archive/2020/{}/1/atom.xml",
    "/feeds/archive/2020/01/{}/atom.xml",
    "/feeds/archive/2020/01/1/{}",
    "/feeds/{}/archive/2020/01/1/atom.xml",
    "/feeds/world/archive/2020/01/{}/rss.xml",
    "/feeds/authors/{}/archive/2020/01/1/rss.xml",
    "/partners/{}/rss.xml",
    "/partners/globe/{}",
    "/partners/{}/archive/2020/01/1/feed.json",
    "/partners/globe/archive/2020/01/{}/feed.json",
    "/api/v1/articles/{}",
]


def hostile_request(target: Target, method: str, route: str, payload: str) -> bytes:
    canary = quote(str(target.server.log.parent / "canary.txt").lstrip("/"), safe="")
    path = route.replace("{}", payload.replace("{canary}", canary))
    headers = HOST
    if route.startswith("/partners/"):
        headers += b"Authorization: Bearer " + target.partner_token.encode() + b"\r\n"
    if route.startswith("/api/"):
        headers += b"Authorization: Bearer " + target.publish_token.encode() + b"\r\n"
    body = b""
    if method == "PUT":
        body = json.dumps({"title": "T", "published": "2020-01-01T10:00:00Z", "text": "x"}).encode()
        headers += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return f"{method} {path} HTTP/1.1\r\n".encode("latin-1") + headers + b"\r\n" + body


def test_the_routes_answer_real_ids(target: Target) -> None:
    """What the hostile ids below are told apart from: each route's real ids answer 200."""
    for path in [
        "/articles/by-ann",
        "/sections/world",
        "/feeds/world/rss.xml",
        "/feeds/authors/ann-writer/atom.xml",
        "/feeds/archive/2020/01/1/atom.xml",
        "/feeds/world/archive/2020/01/1/rss.xml",
        "/feeds/authors/ann-writer/archive/2020/01/1/rss.xml",
        "/partners/globe/rss.xml",
        "/partners/globe/archive/2020/01/1/feed.json",
        "/api/v1/articles/by-ann",
    ]:
        with log_stays_clean(target):
            answers = target.exchange(hostile_request(target, "GET", path, "") + FOLLOW_UP)
        assert [a.status for a in answers] == [200, 200], path


def hostile_id_cases() -> Iterator[object]:
    for target_name in ("gunicorn", "nginx"):
        for route in ROUTES:
            for kind in PAYLOADS:
                yield pytest.param(target_name, route, kind, id=f"{target_name}-{route}-{kind}")


@pytest.mark.parametrize(("target", "route", "kind"), list(hostile_id_cases()), indirect=["target"])
def test_hostile_ids_get_a_clean_refusal(target: Target, route: str, kind: str) -> None:
    methods = ["GET", "HEAD"] + (["PUT", "DELETE"] if route.startswith("/api/") else [])
    with log_stays_clean(target):
        for payload in PAYLOADS[kind]:
            for method in methods:
                request = hostile_request(target, method, route, payload)
                # nginx removes dot segments (RFC 3986 §5.2.4, "%2e" being "."), so that
                # `/articles/..` is `/`, a page of the site like any other, read from no file.
                resolved = target.name == "nginx" and payload in ("..", "%2e%2e")
                answer = refused_in_step(target, request, (200,) if resolved else ())
                assert "x-injected" not in answer.headers, request
                if method != "HEAD":
                    assert answer.body, request  # says what is wrong
