"""Which addresses and URLs the hub may send requests to (feeds.addresses)."""

from __future__ import annotations

import ipaddress

import pytest

from feeds.addresses import LONGEST_URL, numeric_ipv4, refused_address, refused_url


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.0.1", "private"),
        ("100.64.0.1", "private"),  # shared address space (RFC 6598), carrier-grade NAT
        ("100.127.255.254", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fd00:ec2::254", "private"),  # a cloud's IPv6 metadata service
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fec0::1", "site-local"),
        ("0.0.0.0", "not a unicast"),
        ("::", "not a unicast"),
        ("255.255.255.255", "not a unicast"),
        ("240.0.0.1", "not a unicast"),
        ("224.0.0.251", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("192.0.2.1", "private"),  # documentation
        ("198.18.0.1", "private"),  # benchmarking
        ("2001:db8::1", "private"),
        ("not an address", "not an IP address"),
    ],
)
def test_addresses_that_are_not_public_unicast_are_refused(address: str, reason: str) -> None:
    refused = refused_address(address, allow_loopback=False)
    assert refused is not None and reason in refused


@pytest.mark.parametrize(
    ("address", "inner"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1 is a loopback"),  # IPv4-mapped
        ("::ffff:7f00:1", "127.0.0.1 is a loopback"),
        ("::ffff:169.254.169.254", "169.254.169.254 is a link-local"),
        ("::ffff:10.0.0.1", "10.0.0.1 is a private"),
        ("2002:a9fe:a9fe::1", "169.254.169.254 is a link-local"),  # 6to4
        ("64:ff9b::a9fe:a9fe", "169.254.169.254 is a link-local"),  # NAT64
        ("64:ff9b::7f00:1", "127.0.0.1 is a loopback"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "10.0.0.1 is a private"),  # Teredo
    ],
)
def test_ipv6_addresses_carrying_a_refused_ipv4_one_are_refused_for_it(
    address: str, inner: str
) -> None:
    refused = refused_address(address)
    assert refused is not None and refused.startswith(inner)


@pytest.mark.parametrize(
    "address",
    ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_unicast_addresses_are_allowed(address: str) -> None:
    assert refused_address(address) is None


def test_loopback_is_allowed_when_asked_and_nothing_else_is() -> None:
    assert refused_address("127.0.0.1", allow_loopback=True) is None
    assert refused_address("::1", allow_loopback=True) is None
    assert refused_address("::ffff:127.0.0.1", allow_loopback=True) is None
    for other in ("10.0.0.1", "169.254.169.254", "fe80::1", "0.0.0.0"):
        assert refused_address(other, allow_loopback=True) is not None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("169.254.43518", "169.254.169.254"),
        ("0", "0.0.0.0"),
        ("8.8.8.8.", "8.8.8.8"),
        ("1.2.3.04", "1.2.3.4"),
    ],
)
def test_numeric_hosts_are_read_as_a_resolver_reads_them(host: str, address: str) -> None:
    assert numeric_ipv4(host) == ipaddress.IPv4Address(address)


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.1.1.1", "1.16777216", "08", "a.123"])
def test_numbers_that_are_no_address_are_errors(host: str) -> None:
    with pytest.raises(ValueError):
        numeric_ipv4(host)


@pytest.mark.parametrize("host", ["example.com", "123.example", "0x.example", "x1"])
def test_names_are_not_numbers(host: str) -> None:
    assert numeric_ipv4(host) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "absolute http or https"),
        ("/callback", "absolute http or https"),
        ("http:///path", "absolute http or https"),
        ("https://user:secret@example.com/", "user name or password"),
        ("https://user@example.com/", "user name or password"),
        ("https://example.com/cb#part", "fragment"),
        ("https://example.com/cb#", "fragment"),
        ("https://example.com:99999/", "bad port"),
        ("https://example.com:0/", "port 0"),
        ("https://example.com/" + "a" * LONGEST_URL, f"longer than {LONGEST_URL}"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com/\x00", "control"),
        ("https://example.com\\@10.0.0.1/", "backslashes"),
        ("http://localhost:8080/", "localhost is this machine"),
        ("http://LOCALHOST./", "localhost is this machine"),
        ("http://api.localhost/", "api.localhost is this machine"),
        ("http://127.0.0.1/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "127.0.0.1 is a loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1%25eth0]/", "IPv6 zone"),
        ("http://2130706433/", "127.0.0.1 is a loopback"),
        ("http://0x7f.1/", "127.0.0.1 is a loopback"),
        ("http://0177.0.0.1/", "127.0.0.1 is a loopback"),
        ("http://10.1/", "10.0.0.1 is a private"),
        ("http://1.2.3.4.5/", "not an IPv4 address (more than four parts)"),
        ("http://10.09.0.1/", "'09' is not an octal number"),
        ("http://[::1/", "not a URL"),
        ("https://" + "a" * 64 + ".example/", "is not a DNS name"),
        ("https://a..example/", "is not a DNS name"),
        ("https://.example/", "is not a DNS name"),
    ],
)
def test_urls_the_hub_may_not_send_to_are_refused_with_a_reason(url: str, reason: str) -> None:
    refused = refused_url(url)
    assert refused is not None and reason in refused


@pytest.mark.parametrize(
    "url",
    [
        "https://subscriber.example/callback?user=1&red=fish",
        "http://93.184.215.14:8080/cb",
        "http://[2606:4700:4700::1111]/cb",
        "HTTPS://Subscriber.Example./cb",
        "https://b\u00fccher.example/cb",  # a name (IDNA): checked when resolved
        "https://example.com/" + "a" * (LONGEST_URL - 20),
    ],
)
def test_public_http_urls_are_allowed(url: str) -> None:
    assert refused_url(url) is None


def test_local_urls_are_allowed_with_loopback_and_private_ones_never() -> None:
    for url in ("http://localhost:8080/cb", "http://127.0.0.1:9/", "http://2130706433/"):
        assert refused_url(url, allow_loopback=True) is None
    for url in ("http://10.0.0.1/", "http://169.254.169.254/", "http://[fc00::1]/"):
        assert refused_url(url, allow_loopback=True) is not None
