"""Who a request comes from: the client's address, as the proxies in front that
FEEDS_TRUSTED_PROXIES names report it in X-Forwarded-For, else the peer's."""

from __future__ import annotations

import functools
from ipaddress import ip_address

from feeds.config import IPNetwork, networks


def client_address(remote: str, forwarded: str | None, trusted: str) -> str:
    """The client's address: `remote` (the peer's), unless it is a trusted proxy (one of
    the addresses or networks `trusted` names, as FEEDS_TRUSTED_PROXIES does), in which case
    the rightmost address of `forwarded` (X-Forwarded-For, each proxy appending the address
    it heard from) that is not a trusted proxy itself; a value that cannot be an address
    ends the walk there, at the last good one. Answers are cached: it runs on every poll."""
    return _client(remote, forwarded or "", trusted)


@functools.lru_cache(maxsize=4096)
def _client(remote: str, forwarded: str, trusted: str) -> str:
    proxies = _networks(trusted)
    address = remote
    hops = [hop.strip() for hop in forwarded.split(",")] if forwarded else []
    while _trusted(address, proxies) and hops:
        hop = hops.pop()
        try:
            address = str(ip_address(hop))
        except ValueError:
            break
    return address


@functools.lru_cache(maxsize=16)
def _networks(value: str) -> tuple[IPNetwork, ...]:
    return networks(value)


def _trusted(address: str, trusted: tuple[IPNetwork, ...]) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in trusted)
