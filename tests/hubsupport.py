"""What the WebSub tests share: subscriber servers on loopback that record every request
(and answer as told: echo the challenge or not, fail deliveries, answer 410 Gone), requests
to a hub, Link headers, signatures, and waiting for what a hub sends."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

from tests.support import Answer, Served, fetch

T = TypeVar("T")
WAIT_S = 30.0  # how long a test waits for what a hub sends before it fails
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";,]+)"?')


@dataclass(frozen=True)
class Received:
    """One request a subscriber server got."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    def param(self, name: str) -> str | None:
        return next((value for key, value in self.query if key == name), None)


@dataclass
class Callback:
    """One callback URL of a subscriber server, what it got and how it answers: the
    verification GET with its challenge when `echo`, else with something else, once `hold`
    (when given) is set; POSTs with 500 while `fail` is above 0 (counting down; below 0:
    always), 410 when `gone`."""

    url: str
    echo: bool = True
    fail: int = 0
    gone: bool = False
    hold: threading.Event | None = None
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def gets(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.method == "GET"]

    def posts(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.method == "POST"]

    def answer(self, got: Received) -> tuple[int, bytes]:
        with self.lock:
            self.received.append(got)
        if got.method == "GET" and self.hold is not None:
            self.hold.wait(WAIT_S)
        with self.lock:
            if got.method == "GET":
                challenge = got.param("hub.challenge")
                if self.echo and challenge is not None:
                    return 200, challenge.encode()
                return (200, b"no") if challenge is not None else (200, b"")
            if self.gone:
                return 410, b""
            if self.fail:
                if self.fail > 0:
                    self.fail -= 1
                return 500, b"failing on purpose"
            return 204, b""


class Subscribers:
    """A threaded HTTP server on a free loopback port; each callback a path of its own."""

    def __init__(self) -> None:
        self.callbacks: dict[str, Callback] = {}
        subscribers = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                split = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                got = Received(
                    self.command,
                    split.path,
                    urllib.parse.parse_qsl(split.query, keep_blank_values=True),
                    {k: v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                callback = subscribers.callbacks.get(split.path)
                status, body = (404, b"") if callback is None else callback.answer(got)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def callback(
        self,
        name: str,
        query: str = "",
        *,
        echo: bool = True,
        fail: int = 0,
        gone: bool = False,
        hold: threading.Event | None = None,
    ) -> Callback:
        """A new callback at /NAME (with ?QUERY, which the hub must keep)."""
        path = f"/{name}"
        assert path not in self.callbacks, name
        url = self.base_url + path + (f"?{query}" if query else "")
        made = Callback(url, echo=echo, fail=fail, gone=gone, hold=hold)
        self.callbacks[path] = made
        return made

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def post_form(
    url: str, fields: list[tuple[str, str]], headers: dict[str, str] | None = None
) -> Answer:
    """A POST of an urlencoded form over real HTTP."""
    body = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(
        url,
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def hub_request(
    hub: str,
    topic: str,
    callback: str,
    mode: str = "subscribe",
    *,
    secret: str | None = None,
    lease: int | None = None,
    extra: tuple[tuple[str, str], ...] = (),
    headers: dict[str, str] | None = None,
) -> Answer:
    """A subscribe or unsubscribe request (WebSub §5.1) to the hub at `hub`."""
    fields = [("hub.mode", mode), ("hub.topic", topic), ("hub.callback", callback)]
    if secret is not None:
        fields.append(("hub.secret", secret))
    if lease is not None:
        fields.append(("hub.lease_seconds", str(lease)))
    return post_form(hub, [*fields, *extra], headers)


def links(headers: dict[str, str]) -> dict[str, list[str]]:
    """The URLs of a Link header (RFC 8288) by relation type."""
    found: dict[str, list[str]] = {}
    for url, rel in _LINK.findall(headers.get("Link", "")):
        for name in rel.split():
            found.setdefault(name.lower(), []).append(url)
    return found


def signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature a subscriber expects (WebSub §8: sha256 of the body)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def eventually(what: str, probe: Callable[[], T | None], timeout: float = WAIT_S) -> T:
    """The first truthy value `probe` gives, polled until `timeout`; fails naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def hub_list(server: Served) -> list[list[str]]:
    """`feeds hub list`: one list of fields a subscription."""
    ran = server.feeds("hub", "list")
    assert ran.returncode == 0, ran.stderr
    return [line.split("\t") for line in ran.stdout.splitlines()]


def subscriptions_of(server: Served, callback: str) -> list[list[str]]:
    return [fields for fields in hub_list(server) if fields[1] == callback]


def verification(callback: Callback, mode: str = "subscribe", count: int = 1) -> Received:
    """The `count`-th verification GET of `mode` (or denial) the callback got."""

    def found() -> Received | None:
        gets = [g for g in callback.gets() if g.param("hub.mode") == mode]
        return gets[count - 1] if len(gets) >= count else None

    return eventually(f"{mode} GET {count} at {callback.url}", found)


def backlog(server: Served) -> dict[str, int]:
    """The hub's queues as `feeds hub list` counts them."""
    ran = server.feeds("hub", "list")
    assert ran.returncode == 0, ran.stderr
    found = re.findall(r"(\d+) (changes|requests|deliveries)", ran.stderr)
    assert len(found) == 3, ran.stderr
    return {name: int(n) for n, name in found}


def settled(server: Served) -> None:
    """Wait until the hub has no change, request or delivery waiting (the next change is
    then the only one under way)."""
    eventually("the hub to settle", lambda: not any(backlog(server).values()))


def delivered(callback: Callback, count: int = 1) -> Received:
    """The `count`-th POST the callback got."""

    def found() -> Received | None:
        posts = callback.posts()
        return posts[count - 1] if len(posts) >= count else None

    return eventually(f"delivery {count} at {callback.url}", found)


def document(topic: str, headers: dict[str, str] | None = None) -> Answer:
    """A GET of a topic as a feed reader makes it."""
    answer = fetch(topic, headers)
    assert answer[0] == 200, (topic, answer[0])
    return answer
