"""HTTP for the soak: one thread's keep-alive connections (one per server), every answer as a
Reply with the moments it was sent and received, and, for a direct connection to gunicorn, the
worker process that answered it."""

from __future__ import annotations

import http.client
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..servers import children

TIMEOUT = 30.0  # gunicorn's worker timeout: an answer slower than this is a failure anyway


@dataclass(frozen=True)
class Reply:
    """One request and its answer. `sent` and `received` are time.monotonic() before the
    request went out and after the last byte of the body came in."""

    target: str  # "nginx" or "direct"
    method: str
    path: str
    request_headers: dict[str, str]
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes  # as sent, before any Content-Encoding is undone
    sent: float
    received: float
    worker: int | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def asked(self, name: str) -> str | None:
        return self.request_headers.get(name)

    @property
    def url(self) -> str:
        return f"{self.method} {self.target}:{self.path}"


class TransportError(OSError):
    """No answer: the connection was refused, reset or timed out."""


@dataclass
class Client:
    """The connections of one thread, kept alive between requests, one per target."""

    ports: dict[str, int]
    masters: dict[str, int] = field(default_factory=dict)  # target -> gunicorn master pid
    _open: dict[str, http.client.HTTPConnection] = field(default_factory=dict)
    _workers: dict[str, list[int]] = field(default_factory=dict)  # target -> worker pids

    def request(
        self,
        target: str,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        *,
        fresh: bool = False,
        find_worker: bool = False,
    ) -> Reply:
        """`method path` to `target`, over a new connection when `fresh` (always for a method
        that is not GET or HEAD, so a write is never sent twice), else over the kept one (a
        kept one the server has closed is replaced once). Raises TransportError."""
        headers = dict(headers or {})
        safe = method in ("GET", "HEAD")
        for attempt in (1, 2):
            reused = not fresh and safe and target in self._open
            conn = self._open.pop(target, None) if reused else None
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.ports[target], timeout=TIMEOUT)
            sent = time.monotonic()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if reused and attempt == 1:
                    continue  # the server closed an idle kept connection
                raise TransportError(f"{method} {target}:{path}: {type(e).__name__}: {e}") from e
            received = time.monotonic()
            worker = self._worker(target, conn) if find_worker else None
            if fresh or not safe or response.will_close:
                conn.close()
            else:
                self._open[target] = conn
            found = {name.lower(): value for name, value in response.getheaders()}
            return Reply(
                target, method, path, headers, response.status, found, data, sent, received, worker
            )
        raise AssertionError("unreachable")

    def workers(self, target: str, again: bool = False) -> list[int]:
        """The gunicorn workers behind `target`, as last looked up (`again`: looked up now)."""
        master = self.masters.get(target)
        if master is None:
            return []
        if again or target not in self._workers:
            self._workers[target] = children(master)
        return self._workers[target]

    def _worker(self, target: str, conn: http.client.HTTPConnection) -> int | None:
        if conn.sock is None:
            return None
        found = worker_holding(conn.sock, self.ports[target], self.workers(target))
        if found is None:  # a worker started since they were looked up, perhaps
            found = worker_holding(conn.sock, self.ports[target], self.workers(target, True))
        return found

    def close(self) -> None:
        for conn in self._open.values():
            conn.close()
        self._open.clear()


def worker_holding(sock: socket.socket, server_port: int, pids: list[int]) -> int | None:
    """Which of `pids` holds the server's end of the open loopback connection `sock`: the
    socket's inode from /proc/net/tcp, then the process with a descriptor on it."""
    client_port = sock.getsockname()[1]
    inode = None
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.rsplit(":", 1)[1], 16) == server_port and (
            int(remote.rsplit(":", 1)[1], 16) == client_port
        ):
            inode = fields[9]
            break
    if inode is None:
        return None
    wanted = f"socket:[{inode}]"
    for pid in pids:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in descriptors:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == wanted:
                    return pid
            except OSError:
                continue
    return None
