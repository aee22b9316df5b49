"""Slow clients for the deployment tests: many connections that send a request's start at
once and then one more byte every few seconds, never finishing, each opened again as soon
as the server closes it (as an attacker's would be)."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from types import TracebackType


class Trickle:
    """`count` connections to `address` from `source`, each sending `start`, then a byte of
    `drip` (over and over) every `interval` seconds, while the block runs. A connection is
    opened again once the server closes it, or once it answers if `close_on_answer`.
    `answers` counts the status lines of the answers, `first` holds the first answer with
    each status line."""

    def __init__(
        self,
        address: tuple[str, int],
        count: int,
        start: bytes,
        drip: bytes = b"X-Pad: 0\r\n",
        source: str = "127.0.0.1",
        interval: float = 2.0,
        close_on_answer: bool = True,
    ) -> None:
        self.address, self.count, self.start, self.drip = address, count, start, drip
        self.source, self.interval, self.close_on_answer = source, interval, close_on_answer
        self.answers: Counter[bytes] = Counter()
        self.first: dict[bytes, bytes] = {}
        self.opened = 0
        self._sockets: list[socket.socket | None] = [None] * count
        self._sent = [0] * count
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._answered = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Trickle:
        self._thread.start()
        self._ready.wait(120)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(30)
        for sock in self._sockets:
            if sock is not None:
                sock.close()

    def answer(self, status: bytes, timeout: float = 60) -> bytes:
        """The first answer with `status` (e.g. b"HTTP/1.1 429 Too Many Requests"), once one
        came; raises TimeoutError if none came within `timeout` seconds."""
        with self._answered:
            if not self._answered.wait_for(lambda: status in self.first, timeout):
                raise TimeoutError(f"no {status!r} in {dict(self.answers)}")
            return self.first[status]

    def _run(self) -> None:
        while not self._stop.is_set():
            for index in range(self.count):
                self._tend(index)
            self._ready.set()
            self._stop.wait(self.interval)

    def _tend(self, index: int) -> None:
        """Open connection `index` if it is closed; else note what the server answered and
        close it, or send it its next byte."""
        sock = self._sockets[index]
        if sock is None:
            try:
                sock = socket.create_connection(self.address, 5, (self.source, 0))
            except OSError:
                return
            try:
                sock.sendall(self.start)
            except OSError:
                sock.close()
                return
            sock.setblocking(False)
            self._sockets[index], self._sent[index] = sock, 0
            self.opened += 1
            return
        try:
            answer = sock.recv(65536)
        except BlockingIOError:
            position = self._sent[index] % len(self.drip)
            try:
                sock.send(self.drip[position : position + 1])
                self._sent[index] += 1
                return
            except OSError:
                pass
        except OSError:
            pass
        else:
            if answer.startswith(b"HTTP/"):
                status = answer.split(b"\r\n", 1)[0]
                with self._answered:
                    self.answers[status] += 1
                    self.first.setdefault(status, answer)
                    self._answered.notify_all()
            if answer and not self.close_on_answer:
                return
        sock.close()
        self._sockets[index] = None
