"""The hub's HTTP client against real servers on loopback: which addresses it refuses before
connecting, redirects, limits, the deadline, queries, connection reuse and TLS."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

from feeds.config import Settings, load_settings
from feeds.push.net import Answer, Failed, GuardedBackend, Net, Refused, with_query

T = TypeVar("T")


@dataclass
class Seen:
    """What a test server saw: each request's client port and target, each connection."""

    requests: list[tuple[int, str, dict[str, str], bytes]] = field(default_factory=list)
    connections: int = 0
    names: list[str] = field(default_factory=list)  # TLS server names (SNI)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: Server

    def do_GET(self) -> None:
        self.answer()

    def do_POST(self) -> None:
        self.answer()

    def answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.seen.requests.append(
            (self.client_address[1], self.path, dict(self.headers.items()), body)
        )
        route = self.path.split("?")[0]
        if route == "/redirect":
            self.send("", 302, Location="/elsewhere")
        elif route == "/big":
            self.send("x" * 100_000)
        elif route == "/chunked":
            self.chunked(b"y" * 8192, 128)
        elif route == "/drip":
            self.drip(100, 0.05)
        else:
            self.send(body.decode() or "ok", 200, **{"Set-Cookie": "session=1; Path=/"})

    def send(self, text: str, status: int = 200, **headers: str) -> None:
        data = text.encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def chunked(self, chunk: bytes, count: int) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for _ in range(count):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client stopped reading
            self.close_connection = True

    def drip(self, length: int, every: float) -> None:
        """An answer whose bytes keep coming, one at a time: no single read waits long."""
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        try:
            for _ in range(length):
                self.wfile.write(b"z")
                self.wfile.flush()
                time.sleep(every)
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen = Seen()
        if context is not None:
            context.sni_callback = self.sni
            self.socket = context.wrap_socket(self.socket, server_side=True)

    def sni(self, connection: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        self.seen.names.append(name or "")

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.seen.connections += 1
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away, or one that refused our certificate

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


def serve(context: ssl.SSLContext | None = None) -> Iterator[Server]:
    server = Server(context)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def server() -> Iterator[Server]:
    yield from serve()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for callback.example, and its key."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
            + ["-nodes", "-days", "2", "-subj", "/CN=callback.example"]
            + ["-addext", "subjectAltName=DNS:callback.example"]
            + ["-keyout", str(key), "-out", str(cert)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"openssl cannot make a certificate: {e}")
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[Server]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    yield from serve(context)


def hub_settings(**overrides: int) -> Settings:
    return load_settings({}, {"hub_timeout": 5, "hub_allow_loopback": 1, **overrides})


def run(settings: Settings, work: Callable[[Net], Awaitable[T]], **options: Any) -> T:
    """`work` done with a Net of `settings` in a loop of its own; the Net closed after."""

    async def main() -> T:
        async with Net(settings, **options) as net:
            return await work(net)

    return asyncio.run(main())


def get(settings: Settings, url: str, **arguments: Any) -> Answer:
    return run(settings, lambda net: net.request("GET", url, **arguments))


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Host names pointed at addresses (none: the name does not resolve). names['asked']:
    every host the resolver was asked about, names or not."""
    pointed: dict[str, list[str]] = {"asked": []}
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        pointed["asked"].append(host)
        if host not in pointed:
            return real(host, port, *args, **kwargs)
        if not pointed[host]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [found for ip in pointed[host] for found in real(ip, port, *args, **kwargs)]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return pointed


# Which addresses are refused, and that nothing is sent to them


def test_loopback_is_refused_by_default_and_allowed_when_set(server: Server) -> None:
    url = server.url("/hello")
    with pytest.raises(Refused, match="127.0.0.1 is a loopback address"):
        get(hub_settings(hub_allow_loopback=0), url)
    with pytest.raises(Refused, match="localhost is this machine"):
        get(hub_settings(hub_allow_loopback=0), server.url("/hello", host="localhost"))
    assert server.seen.connections == 0
    answer = get(hub_settings(), url)
    assert answer.status == 200 and answer.body == b"ok"
    assert server.seen.connections == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/cb",
        "http://192.168.1.20:8080/cb",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1%25eth0]/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
        "http://[::ffff:169.254.169.254]/",
    ],
)
def test_private_link_local_and_metadata_addresses_are_refused_even_with_loopback_allowed(
    url: str, names: dict[str, list[str]]
) -> None:
    with pytest.raises(Refused):
        get(hub_settings(), url)
    assert names["asked"] == []  # not even resolved: every connection starts there


def test_a_name_resolving_to_loopback_is_refused_without_a_connection(
    server: Server, names: dict[str, list[str]]
) -> None:
    names["callback.example"] = ["127.0.0.1"]
    url = server.url("/cb", host="callback.example")
    with pytest.raises(Refused, match="callback.example resolves to .*127.0.0.1 is a loopback"):
        get(hub_settings(hub_allow_loopback=0), url)
    assert server.seen.connections == 0 and names["asked"] == ["callback.example"]


def test_a_name_is_refused_if_any_of_its_addresses_is(names: dict[str, list[str]]) -> None:
    names["mixed.example"] = ["93.184.215.14", "10.1.2.3"]
    with pytest.raises(Refused, match="10.1.2.3 is a private address"):
        get(hub_settings(), "http://mixed.example/cb")


def test_localhost_resolved_by_the_system_is_refused_at_connection(server: Server) -> None:
    """The check at connection time holds on its own, for a name refused_url lets through."""

    async def connect() -> None:
        await GuardedBackend(allow_loopback=False).connect_tcp("localhost", server.port)

    with pytest.raises(Refused, match="localhost resolves to .* is a loopback address"):
        asyncio.run(connect())
    assert server.seen.connections == 0


def test_a_decimal_ipv4_host_is_read_as_the_resolver_reads_it(server: Server) -> None:
    url = server.url("/numeric", host="2130706433")  # 127.0.0.1
    with pytest.raises(Refused, match="127.0.0.1 is a loopback address"):
        get(hub_settings(hub_allow_loopback=0), url)
    assert get(hub_settings(), url).status == 200
    assert server.seen.requests[0][1] == "/numeric"


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/cb", "file:///etc/passwd", "/relative", "http://u:p@127.0.0.1/"]
)
def test_urls_the_hub_does_not_send_to_are_refused(url: str) -> None:
    with pytest.raises(Refused):
        get(hub_settings(), url)


@pytest.mark.parametrize("url", ["http://xn--a.example/cb", "http://xn--ls8h.xn--/"])
def test_a_host_idna_cannot_read_is_refused(url: str) -> None:
    with pytest.raises(Refused, match="not a DNS name"):
        get(hub_settings(), url)


def test_a_name_that_does_not_resolve_fails(names: dict[str, list[str]]) -> None:
    names["nowhere.example"] = []
    with pytest.raises(Failed, match="nowhere.example does not resolve"):
        get(hub_settings(), "http://nowhere.example/cb")


def test_a_closed_port_fails() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(Failed, match="cannot connect: connection refused"):
        get(hub_settings(), f"http://127.0.0.1:{port}/")


# What is sent and what comes back


def test_a_redirect_is_returned_not_followed(server: Server) -> None:
    answer = get(hub_settings(), server.url("/redirect"))
    assert answer.status == 302 and answer.headers["Location"] == "/elsewhere"
    assert [path for _, path, _, _ in server.seen.requests] == ["/redirect"]


def test_the_callbacks_query_is_kept_and_the_parameters_appended(server: Server) -> None:
    params = [("hub.mode", "subscribe"), ("hub.topic", "http://x.example/feed?a=1&b")]
    get(hub_settings(), server.url("/cb?foo=bar&red=fish&hub.mode=mine"), params=params)
    get(hub_settings(), server.url("/plain"), params=[("hub.challenge", "a b")])
    assert [path for _, path, _, _ in server.seen.requests] == [
        "/cb?foo=bar&red=fish&hub.mode=mine"
        "&hub.mode=subscribe&hub.topic=http%3A%2F%2Fx.example%2Ffeed%3Fa%3D1%26b",
        "/plain?hub.challenge=a+b",
    ]


def test_with_query_joins_queries_once() -> None:
    assert with_query("http://h/cb?", [("a", "1")]) == "http://h/cb?a=1"
    assert with_query("http://h/cb?x=1&", [("a", "1")]) == "http://h/cb?x=1&a=1"
    assert with_query("http://h/cb?x", None) == "http://h/cb?x"


def test_a_body_and_headers_are_sent_and_cookies_not_kept(server: Server) -> None:
    async def twice(net: Net) -> list[Answer]:
        headers = {"Content-Type": "application/atom+xml", "X-Hub-Signature": "sha256=ab"}
        return [
            await net.request("POST", server.url("/cb"), content=b"<feed/>", headers=headers)
            for _ in range(2)
        ]

    answers = run(hub_settings(), twice)
    assert [a.body for a in answers] == [b"<feed/>", b"<feed/>"]
    assert answers[0].headers["Set-Cookie"] == "session=1; Path=/"
    (_, _, first, body), (_, _, second, _) = server.seen.requests
    assert body == b"<feed/>" and first["Content-Type"] == "application/atom+xml"
    assert first["X-Hub-Signature"] == "sha256=ab" and first["Accept-Encoding"] == "identity"
    assert first["User-Agent"].startswith("feeds/")
    assert "Cookie" not in second


def test_requests_to_one_server_reuse_one_connection(server: Server) -> None:
    async def three(net: Net) -> list[int]:
        return [(await net.request("GET", server.url(f"/{n}"))).status for n in range(3)]

    assert run(hub_settings(), three) == [200, 200, 200]
    assert server.seen.connections == 1
    assert len({port for port, _, _, _ in server.seen.requests}) == 1


def test_a_name_is_resolved_once_per_connection_and_never_again(
    server: Server, names: dict[str, list[str]]
) -> None:
    names["callback.example"] = ["127.0.0.1"]

    async def two(net: Net) -> list[int]:
        url = server.url("/cb", host="callback.example")
        return [(await net.request("GET", url)).status for _ in range(2)]

    assert run(hub_settings(), two) == [200, 200]
    assert names["asked"].count("callback.example") == 1 and server.seen.connections == 1
    assert server.seen.requests[0][2]["Host"] == f"callback.example:{server.port}"


# Limits


def test_an_answer_over_the_limit_fails(server: Server) -> None:
    with pytest.raises(Failed, match=r"longer than 1000 bytes \(100000\)"):
        get(hub_settings(), server.url("/big"), limit=1000)  # said by its Content-Length
    with pytest.raises(Failed, match="longer than 65536 bytes"):
        get(hub_settings(), server.url("/chunked"))  # found out while reading
    assert get(hub_settings(), server.url("/big"), limit=100_000).body == b"x" * 100_000


def test_an_answer_still_coming_at_the_deadline_fails(server: Server) -> None:
    """Each byte comes long before a read would time out; the whole takes five times the
    deadline: the deadline is for the request all told. The client goes on working."""

    async def late_then_quick(net: Net) -> Answer:
        with pytest.raises(Failed, match="no full answer within 1 s"):
            await net.request("GET", server.url("/drip"))
        return await net.request("GET", server.url("/after"))

    assert run(hub_settings(hub_timeout=1), late_then_quick).body == b"ok"
    assert [path for _, path, _, _ in server.seen.requests] == ["/drip", "/after"]


# TLS: connected to the checked address, verified against the name


def test_tls_is_verified_against_the_name_while_connecting_to_its_address(
    tls_server: Server, certificate: tuple[Path, Path], names: dict[str, list[str]]
) -> None:
    names["callback.example"] = ["127.0.0.1"]
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    url = tls_server.url("/cb", host="callback.example", scheme="https")
    answer = run(hub_settings(), lambda net: net.request("GET", url), ssl_context=trusted)
    assert answer.status == 200 and tls_server.seen.names == ["callback.example"]
    by_address = tls_server.url("/cb", scheme="https")  # the certificate names no address
    with pytest.raises(Failed, match="TLS: the certificate was refused .*mismatch"):
        run(hub_settings(), lambda net: net.request("GET", by_address), ssl_context=trusted)
    with pytest.raises(Failed, match="TLS: the certificate was refused"):
        get(hub_settings(), url)  # by default, only certifi's authorities are trusted
    assert len(tls_server.seen.requests) == 1
