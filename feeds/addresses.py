"""Which network addresses the hub may send requests to: URLs that strangers give it
(WebSub callbacks) must not reach this machine, its private network or a cloud's metadata
service (server-side request forgery). Pure functions; feeds.push applies them to every
address a name resolves to, at connection time."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

# Names that resolve to this machine however DNS is set up (RFC 6761 §6.3).
_LOCAL_NAMES = ("localhost", "localhost.localdomain")
LONGEST_URL = 2000


def refused_address(address: str, allow_loopback: bool = False) -> str | None:
    """Why the hub may not connect to the IP `address`, or None when it may: only globally
    routed unicast addresses are allowed (no private, shared, link-local - the metadata
    services' 169.254.169.254 among them -, multicast, reserved or unspecified ones, and
    their IPv4-mapped forms), and loopback ones when `allow_loopback`."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if mapped is not None:
            return refused_address(str(mapped), allow_loopback)
    if ip.is_loopback:
        return None if allow_loopback else f"{ip} is a loopback address"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if ip.is_link_local:
        return f"{ip} is a link-local address (cloud metadata services live there)"
    if ip.is_unspecified or ip.is_reserved:
        return f"{ip} is not a unicast address"
    if not ip.is_global:
        return f"{ip} is a private address"
    return None


def refused_url(url: str, allow_loopback: bool = False) -> str | None:
    """Why the hub may not send requests to `url` as written, or None: it must be an absolute
    http(s) URL of at most LONGEST_URL characters, without a fragment or credentials, whose
    host, when it is an IP address or a local name, is one the hub may reach. A name is
    checked again, address by address, when it is resolved (feeds.push.net)."""
    if len(url) > LONGEST_URL:
        return f"is longer than {LONGEST_URL} characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a URL (a bad port or address)"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http or https URL"
    if parts.fragment or "#" in url:
        return "must not carry a fragment"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    if port == 0:
        return "names port 0"
    host = parts.hostname.rstrip(".")
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return None if allow_loopback else f"{host} is this machine"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: checked when resolved
    return refused_address(host, allow_loopback)
