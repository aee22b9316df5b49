"""The client's address: the peer's, or as trusted proxies in front report it."""

from __future__ import annotations

import pytest

from feeds.web.clients import client_address

LOOPBACK = "127.0.0.1 ::1"


@pytest.mark.parametrize(
    ("remote", "forwarded", "trusted", "client"),
    [
        # No proxy: the peer, whatever it claims.
        ("203.0.113.9", "198.51.100.1", LOOPBACK, "203.0.113.9"),
        ("203.0.113.9", None, LOOPBACK, "203.0.113.9"),
        # nginx on the same host appends the address it heard from.
        ("127.0.0.1", "198.51.100.1", LOOPBACK, "198.51.100.1"),
        # What the client wrote itself, before nginx's entry, is never taken.
        ("127.0.0.1", "10.9.9.9, 198.51.100.1", LOOPBACK, "198.51.100.1"),
        # A chain of trusted proxies is walked from the right.
        (
            "127.0.0.1",
            "8.8.8.8, 198.51.100.1, 10.0.0.2",
            "127.0.0.1 10.0.0.0/8",
            "198.51.100.1",
        ),
        # Nothing trusted: the peer, even on loopback.
        ("127.0.0.1", "198.51.100.1", "", "127.0.0.1"),
        # A trusted proxy with no header: the proxy itself.
        ("127.0.0.1", None, LOOPBACK, "127.0.0.1"),
        # A trusted proxy that cannot name its client (nginx on a unix socket appends
        # "unix:"), or garbles it: unknown, never the proxy's own address.
        ("127.0.0.1", "not-an-address", LOOPBACK, ""),
        ("127.0.0.1", "unix:", LOOPBACK, ""),
        ("127.0.0.1", "198.51.100.1, unix:", LOOPBACK, ""),
        ("127.0.0.1", "198.51.100.1, , 10.0.0.2", "127.0.0.1 10.0.0.0/8", ""),
        # What lies beyond the first untrusted address is never read, garbled or not.
        ("127.0.0.1", "unix:, 198.51.100.1", LOOPBACK, "198.51.100.1"),
        # A peer that is no address (a unix socket's) is taken as it is.
        ("", "198.51.100.1", LOOPBACK, ""),
        ("::1", "2001:db8::7", LOOPBACK, "2001:db8::7"),
        # IPv4 peers of a dual-stack socket, and hops written so, are IPv4 addresses.
        ("::ffff:127.0.0.1", "198.51.100.1", LOOPBACK, "198.51.100.1"),
        ("::ffff:203.0.113.9", None, LOOPBACK, "203.0.113.9"),
        ("127.0.0.1", "::ffff:198.51.100.1", LOOPBACK, "198.51.100.1"),
        (
            "127.0.0.1",
            "198.51.100.1, ::ffff:10.0.0.2",
            "127.0.0.1 10.0.0.0/8",
            "198.51.100.1",
        ),
    ],
)
def test_client_address(remote: str, forwarded: str | None, trusted: str, client: str) -> None:
    assert client_address(remote, forwarded, trusted) == client
