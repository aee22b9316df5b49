"""Token buckets per client, one worker process's, shared by its threads: a client may make
`rate` requests a minute, `rate` of them at once. Memory is bounded by forgetting the
clients seen least recently, which start again with a full bucket."""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_CLIENTS = 10_000  # about 1 MB of buckets


class TokenBuckets:
    def __init__(
        self, max_clients: int = MAX_CLIENTS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str, rate: int) -> int:
        """0 when `client` may make a request now (it is counted), else the whole seconds
        until it may; a refused request costs nothing."""
        now = self._clock()
        with self._lock:
            tokens, since = self._buckets.pop(client, (float(rate), now))
            tokens = min(float(rate), tokens + (now - since) * rate / 60)
            wait = 0 if tokens >= 1 else math.ceil((1 - tokens) * 60 / rate)
            self._buckets[client] = (tokens - 1 if not wait else tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return wait


def client_key(address: str) -> str:
    """Whose bucket a request from `address` takes: the address, or for IPv6 its /64 (one
    subscriber network holds billions of addresses; one /64 is what a site is given)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else str(ip)
