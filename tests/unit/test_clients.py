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
        # A trusted proxy with no header, or a garbled one: the last good address.
        ("127.0.0.1", None, LOOPBACK, "127.0.0.1"),
        ("127.0.0.1", "not-an-address", LOOPBACK, "127.0.0.1"),
        ("::1", "2001:db8::7", LOOPBACK, "2001:db8::7"),
    ],
)
def test_client_address(remote: str, forwarded: str | None, trusted: str, client: str) -> None:
    assert client_address(remote, forwarded, trusted) == client
