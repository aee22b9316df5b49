"""Which network addresses the hub may send requests to: URLs that strangers give it
(WebSub callbacks) must not reach this machine, its private network or a cloud's metadata
service (server-side request forgery). Pure functions; feeds.push applies them to every
address a name resolves to, at connection time."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

# Names that resolve to this machine however DNS is set up (RFC 6761 §6.3).
_LOCAL_NAMES = ("localhost", "localhost.localdomain")
LONGEST_URL = 2000
# RFC 6052 §2.1: the NAT64 well-known prefix carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# WHATWG URL §3.5: a host whose last label is a number is an IPv4 address, and its parts
# may be written in decimal, octal (0177) or hexadecimal (0x7f), fewer than four of them
# (127.1), as the system's resolver (inet_aton) reads them too.
_NUMBER = re.compile(r"^(?:[0-9]+|0[xX][0-9a-fA-F]*)$")
# Spaces, controls and backslashes: parsers disagree on what such a URL names.
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def refused_address(address: str, allow_loopback: bool = False) -> str | None:
    """Why the hub may not connect to the IP `address`, or None when it may: only globally
    routed unicast addresses are allowed (no private, shared, link-local - the metadata
    services' 169.254.169.254 among them -, site-local, multicast, reserved or unspecified
    ones, nor an IPv6 address that carries one of those: IPv4-mapped, 6to4, Teredo, NAT64),
    and loopback ones when `allow_loopback`. A zone (fe80::1%eth0) is ignored."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if mapped is None and ip in _NAT64:
            mapped = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if mapped is not None:
            return refused_address(str(mapped), allow_loopback)
        if ip.is_site_local:
            return f"{ip} is a site-local address"
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


def numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host whose last label is a number names (2130706433, 0x7f.1 and
    0177.0.0.1 are all 127.0.0.1), or None for a name; ValueError when it is a number but
    no address (1.2.3.4.5, 256.1.1.1, 08)."""
    labels = host.rstrip(".").split(".")
    if not _NUMBER.match(labels[-1]):
        return None
    if len(labels) > 4:
        raise ValueError("more than four parts")
    numbers = []
    for label in labels:
        if not _NUMBER.match(label):
            raise ValueError(f"{label!r} is not a number")
        if label[:2].lower() == "0x":
            numbers.append(int(label[2:] or "0", 16))
        elif len(label) > 1 and label.startswith("0"):
            if not set(label) <= set("01234567"):
                raise ValueError(f"{label!r} is not an octal number")
            numbers.append(int(label, 8))
        else:
            numbers.append(int(label))
    *high, last = numbers
    if any(n > 255 for n in high) or last >= 256 ** (5 - len(numbers)):
        raise ValueError("a part out of range")
    value = last
    for place, n in enumerate(high):
        value += n << (8 * (3 - place))
    return ipaddress.IPv4Address(value)


def refused_url(url: str, allow_loopback: bool = False) -> str | None:
    """Why the hub may not send requests to `url` as written, or None: it must be an absolute
    http(s) URL of at most LONGEST_URL characters, without spaces, controls, backslashes, a
    fragment or credentials, whose host is a DNS name or, when it is an IP address (in any
    of the forms a resolver reads) or a local name, one the hub may reach. A name is checked again,
    address by address, when it is resolved (feeds.push.net)."""
    if len(url) > LONGEST_URL:
        return f"is longer than {LONGEST_URL} characters"
    if _UNSAFE.search(url):
        return "must not contain spaces, control characters or backslashes"
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
    if "%" in host:
        return "must not name an IPv6 zone (%)"
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return None if allow_loopback else f"{host} is this machine"
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        try:
            ip = numeric_ipv4(host)
        except ValueError as e:
            return f"host {host!r} ends in a number but is not an IPv4 address ({e})"
    if ip is None:
        try:  # as the resolver reads it (socket.getaddrinfo encodes names so)
            host.encode("idna")
        except UnicodeError:
            return f"host {host!r} is not a DNS name (its labels are 1 to 63 characters)"
        return None  # a name: checked when resolved
    return refused_address(str(ip), allow_loopback)
