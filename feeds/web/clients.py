"""Who a request comes from: the client's address, as the proxies in front that
FEEDS_TRUSTED_PROXIES names report it in X-Forwarded-For, else the peer's."""

from __future__ import annotations

import functools
from ipaddress import IPv4Address, IPv6Address, ip_address

from feeds.config import IPNetwork, networks


def client_address(remote: str, forwarded: str | None, trusted: str) -> str:
    """The client's address: `remote` (the peer's), unless it is a trusted proxy (one of
    the addresses or networks `trusted` names, as FEEDS_TRUSTED_PROXIES does), in which case
    the rightmost address of `forwarded` (X-Forwarded-For, each proxy appending the address
    it heard from) that is not a trusted proxy itself. A hop that cannot be an address (nginx
    on a unix socket appends "unix:") where a trusted proxy names its client makes the
    client unknown: "". IPv4 addresses mapped into IPv6 (a dual-stack socket's IPv4 peers)
    are compared and given as IPv4. Answers are cached: it runs on every poll."""
    return _client(remote, forwarded or "", trusted)


@functools.lru_cache(maxsize=4096)
def _client(remote: str, forwarded: str, trusted: str) -> str:
    proxies = _networks(trusted)
    address = _address(remote)
    if address is None:
        return remote  # no address to start the walk from (a unix socket's peer)
    hops = [hop.strip() for hop in forwarded.split(",")] if forwarded else []
    while hops and any(address in network for network in proxies):
        hop = _address(hops.pop())
        if hop is None:
            return ""  # the proxy could not say whom it heard from: not the proxy itself
        address = hop
    return str(address)


def _address(text: str) -> IPv4Address | IPv6Address | None:
    """`text` as an address (IPv4 when it is an IPv4-mapped IPv6 one); None if it is none."""
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@functools.lru_cache(maxsize=16)
def _networks(value: str) -> tuple[IPNetwork, ...]:
    return networks(value)
