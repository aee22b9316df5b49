"""The hub's requests to URLs that strangers give it (callbacks) and to external hubs: one
asynchronous client (httpcore, the layer below httpx, in pools) whose every connection goes
to an address feeds.addresses allows.
A host name is resolved once per connection, every address it resolves to is checked, and
the connection is made to a checked address, never resolving the name again (DNS
rebinding); TLS still checks the certificate against the name, sent as SNI. Redirects are
not followed, proxies and .netrc are not used, cookies are not kept, answers are read up to
a limit, and each request has one deadline, all told. Connections are kept alive and
reused per host.

NetError (feeds.errors.FeedsError)
├── Refused   the URL, or an address its host resolves to, may not be reached: nothing sent
└── Failed    no full answer: name, connection, TLS, timeout, protocol, answer over the limit
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlencode

import httpcore
import httpx

from feeds import __version__
from feeds.addresses import refused_address, refused_url
from feeds.config import Settings
from feeds.errors import FeedsError

CONNECT_S = 5.0  # the longest a connection (resolution, TCP and TLS) may take
KEEPALIVE_S = 5.0  # how long an idle connection is kept for another request
POOL_SIZE = 25  # connections a pool holds at most (see Net)
LIMIT = 64 * 1024  # bytes of an answer read, by default
USER_AGENT = f"feeds/{__version__} (WebSub hub)"


class NetError(FeedsError):
    """A request of the hub got no answer; `reason` says why, in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Refused(NetError):
    """The URL, or an address its host resolves to, is one the hub may not reach."""


class Failed(NetError):
    """The request was sent (or tried) and no full answer came back."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: httpx.Headers


class Net:
    """The hub's HTTP client, built from FEEDS_HUB_TIMEOUT, FEEDS_HUB_ALLOW_LOOPBACK and
    FEEDS_HUB_CONCURRENCY (connections open at once). `ssl_context`: the certificates
    trusted (default: certifi's). Close it, or use it as an async context manager."""

    def __init__(self, settings: Settings, ssl_context: ssl.SSLContext | None = None) -> None:
        self.timeout = float(settings.hub_timeout)
        self.connect_timeout = min(CONNECT_S, self.timeout)
        self.allow_loopback = bool(settings.hub_allow_loopback)
        # As many requests at once as connections: none waits for one, against its deadline.
        self._slots = asyncio.Semaphore(settings.hub_concurrency)
        # Pools of POOL_SIZE connections: httpcore's pool looks at every connection for every
        # waiting request, so one pool of thousands costs the square of its size.
        shared = ssl_context or httpx.create_ssl_context(trust_env=False)
        count = -(-settings.hub_concurrency // POOL_SIZE)
        size = -(-settings.hub_concurrency // count)
        backend = GuardedBackend(self.allow_loopback)
        pools = [
            httpcore.AsyncConnectionPool(
                ssl_context=shared,
                max_connections=size,
                max_keepalive_connections=size,
                keepalive_expiry=KEEPALIVE_S,
                http1=True,
                http2=False,
                retries=0,
                network_backend=backend,
            )
            for _ in range(count)
        ]
        self._pools = pools
        self._timeouts = {
            "connect": self.connect_timeout,
            "read": self.timeout,
            "write": self.timeout,
            "pool": self.timeout,
        }

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: list[tuple[str, str]] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        limit: int = LIMIT,
    ) -> Answer:
        """Send one request to `url`, `params` appended to its query (WebSub §5.3: the
        callback's own query is kept), and read the answer's body (undecoded) up to `limit`
        bytes. A redirect is an answer like any other. Raises Refused, or Failed."""
        reason = refused_url(url, self.allow_loopback)
        if reason is not None:
            raise Refused(f"refused ({reason})")
        try:
            async with self._slots, asyncio.timeout(self.timeout):
                return await self._exchange(
                    method, with_query(url, params), content, headers, limit
                )
        except TimeoutError as e:
            raise Failed(f"no full answer within {self.timeout:g} s") from e
        except httpx.InvalidURL as e:
            raise Refused(f"refused (not a URL httpx can send: {e})") from e
        except UnicodeError as e:  # a host IDNA cannot read (httpx's Host header, resolver)
            raise Refused(f"refused (the host is not a DNS name: {e})") from e
        except httpcore.ConnectTimeout as e:
            raise Failed(f"could not connect within {self.connect_timeout:g} s") from e
        except httpcore.TimeoutException as e:
            raise Failed(f"no full answer within {self.timeout:g} s") from e
        except httpcore.ConnectError as e:
            raise Failed(_connect_failure(e)) from e
        except (httpcore.NetworkError, httpcore.ProtocolError, httpx.HTTPError) as e:
            raise Failed(f"bad answer: {str(e) or type(e).__name__}") from e

    async def _exchange(
        self,
        method: str,
        url: str,
        content: bytes | None,
        headers: dict[str, str] | None,
        limit: int,
    ) -> Answer:
        """One request through httpcore, the layer below httpx's client: the hub needs none
        of the client's redirects, cookies, authentication or decoding, which cost more
        processor than the request itself at thousands of deliveries a second."""
        parsed = httpx.URL(url)  # as httpx reads it: InvalidURL
        parsed.host  # noqa: B018 - its IDNA reading raises UnicodeError for a bad name
        host = parsed.raw_host
        default = {b"http": 80, b"https": 443}.get(parsed.raw_scheme)
        port = parsed.port or default
        authority = host if parsed.port in (None, default) else b"%s:%d" % (host, port or 0)
        sent = [
            (b"Host", authority),
            (b"User-Agent", USER_AGENT.encode()),
            (b"Accept", b"*/*"),
            (b"Accept-Encoding", b"identity"),
            *((k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()),
        ]
        if content is not None:
            sent.append((b"Content-Length", str(len(content)).encode()))
        # One server's requests always go to one pool, where its connections are kept.
        pool = self._pools[zlib.crc32(b"%s:%d" % (host, port or 0)) % len(self._pools)]
        target = httpcore.URL(
            scheme=parsed.raw_scheme, host=host, port=port, target=parsed.raw_path
        )
        async with pool.stream(
            method.encode(),
            target,
            headers=sent,
            content=content,
            extensions={"timeout": self._timeouts},
        ) as answer:
            received = httpx.Headers(answer.headers)
            declared = received.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise Failed(f"the answer is longer than {limit} bytes ({declared})")
            body = bytearray()
            async for chunk in answer.aiter_stream():
                body += chunk
                if len(body) > limit:
                    raise Failed(f"the answer is longer than {limit} bytes")
            return Answer(answer.status, bytes(body), received)

    async def close(self) -> None:
        for pool in self._pools:
            await pool.aclose()

    async def __aenter__(self) -> Net:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


def with_query(url: str, params: list[tuple[str, str]] | None) -> str:
    """`url` with `params` appended to its query, form-encoded, after the ones it has."""
    if not params:
        return url
    if "?" not in url:
        return f"{url}?{urlencode(params)}"
    joint = "" if url.endswith(("?", "&")) else "&"
    return f"{url}{joint}{urlencode(params)}"


def _connect_failure(error: httpcore.ConnectError) -> str:
    """A few words on why a connection (or its TLS handshake) failed."""
    cause: BaseException | None = error
    for _ in range(8):  # a chain of causes may loop
        if cause is None:
            break
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS: the certificate was refused ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed ({cause.reason or cause})"
        if isinstance(cause, OSError) and cause.errno:
            return f"cannot connect: {os.strerror(cause.errno).lower()}"
        cause = cause.__cause__ or cause.__context__
    return f"cannot connect: {str(error) or type(error).__name__}"


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses refused_address allows:
    a host is resolved once, every address checked, then each in turn connected to."""

    def __init__(
        self, allow_loopback: bool, backend: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.allow_loopback = allow_loopback
        self._backend = backend or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                *others, last = await self.resolve(host, port)
                for address in others:
                    try:
                        return await self._connect(address, port, local_address, socket_options)
                    except httpcore.ConnectError:
                        continue  # the next address
                return await self._connect(last, port, local_address, socket_options)
        except TimeoutError as e:
            raise httpcore.ConnectTimeout(f"could not connect to {host}") from e

    async def _connect(
        self,
        address: str,
        port: int,
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._backend.connect_tcp(address, port, None, local_address, socket_options)

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address `host` resolves to (at least one), or Refused if any of them is
        refused, or Failed."""
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except socket.gaierror as e:
            raise Failed(f"{host} does not resolve ({(e.strerror or str(e)).lower()})") from e
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        for address in addresses:
            reason = refused_address(address, self.allow_loopback)
            if reason is not None:
                raise Refused(f"refused ({host} resolves to a refused address: {reason})")
        if not addresses:
            raise Failed(f"{host} resolves to no address")
        return addresses

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)
