"""Subscribers for the push benchmark: WebSub callback URLs on a few loopback ports, one
asyncio loop in a process of its own, HTTP/1.1 with keep-alive, nothing but the standard
library. A POST to /cb/N is a delivery: it is answered 204 and kept as (arrival, N, the
change it carries, bytes), the arrival in time.monotonic_ns(), the clock every process of
the machine shares; a GET of /cb/N with hub.challenge echoes the challenge (WebSub §5.3).

GET /wait?change=C&count=K&timeout=S answers, once K deliveries of change C arrived or S
seconds passed, a JSON list of their [arrival_ns, N, bytes]; GET /arrivals the count of
every delivery and its change; DELETE /arrivals forgets them. A change is named in the
delivered document by MARKER followed by its number.

Usage: python -m bench.subscribers --ports 8001,8002 (from the repository root)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections import defaultdict
from urllib.parse import parse_qs, urlsplit

MARKER = b"bench-change-"
_CHANGE = re.compile(re.escape(MARKER) + rb"(\d+)")
HEAD_LIMIT = 64 * 1024
# What ends a connection that sent something else than the requests above.
_DROPPED = (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError)


class Sink:
    """What arrived, by change; and who waits for which."""

    def __init__(self) -> None:
        self.by_change: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        self.unmarked = 0
        self.total = 0
        self.changed = asyncio.Event()

    def keep(self, callback: int, body: bytes) -> None:
        arrived = time.monotonic_ns()
        found = _CHANGE.search(body)
        self.total += 1
        if found is None:
            self.unmarked += 1
        else:
            self.by_change[int(found.group(1))].append((arrived, callback, len(body)))
        self.changed.set()

    async def wait(self, change: int, count: int, timeout: float) -> list[tuple[int, int, int]]:
        deadline = time.monotonic() + timeout
        while len(self.by_change.get(change, ())) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                break
        return list(self.by_change.get(change, ()))


def _answer(status: str, body: bytes = b"", kind: str = "text/plain") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += f"Content-Type: {kind}\r\n"
    return head.encode() + b"\r\n" + body


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are sent to us
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    return await reader.readexactly(int(headers.get("content-length", "0")))


async def _route(sink: Sink, method: str, target: str, body: bytes) -> bytes:
    parts = urlsplit(target)
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    if parts.path.startswith("/cb/"):
        if method == "POST":
            sink.keep(int(parts.path[4:] or 0), body)
            return _answer("204 No Content")
        return _answer("200 OK", query.get("hub.challenge", "").encode())
    if parts.path == "/wait":
        found = await sink.wait(
            int(query["change"]), int(query["count"]), float(query.get("timeout", 30))
        )
        return _answer("200 OK", json.dumps(found).encode(), "application/json")
    if parts.path == "/arrivals":
        if method == "DELETE":
            sink.by_change.clear()
            sink.unmarked = sink.total = 0
            return _answer("204 No Content")
        counts = {str(c): len(found) for c, found in sink.by_change.items()}
        summary = {"total": sink.total, "unmarked": sink.unmarked, "changes": counts}
        return _answer("200 OK", json.dumps(summary).encode(), "application/json")
    if parts.path == "/healthz":
        return _answer("200 OK", b"ok")
    return _answer("404 Not Found")


async def _serve(sink: Sink, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await _body(reader, headers)
            writer.write(await _route(sink, method, target, body))
            if headers.get("connection", "").lower() == "close":
                return
            await writer.drain()
    except (
        asyncio.IncompleteReadError,
        asyncio.LimitOverrunError,
        ConnectionError,
        ValueError,
    ) as e:
        print(f"subscribers: connection dropped: {e!r}", file=sys.stderr, flush=True)
        return
    finally:
        writer.close()


async def main(ports: list[int]) -> None:
    sink = Sink()
    servers = [
        await asyncio.start_server(
            lambda r, w: _serve(sink, r, w), "127.0.0.1", port, limit=HEAD_LIMIT, backlog=4096
        )
        for port in ports
    ]
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="WebSub callback servers on loopback.")
    parser.add_argument("--ports", required=True, help="comma-separated loopback ports")
    args = parser.parse_args()
    asyncio.run(main([int(port) for port in args.ports.split(",")]))
