"""Token buckets per client: bursts up to the rate, refills over a minute, bounded memory."""

from __future__ import annotations

from feeds.web.ratelimit import TokenBuckets, client_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_may_make_rate_requests_at_once_then_waits_for_a_token() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock=clock)
    assert [buckets.take("a", 3) for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a", 3) == 20  # one token every 60 / 3 seconds
    assert buckets.take("b", 3) == 0  # another client's bucket is its own
    clock.now += 5
    assert buckets.take("a", 3) == 15  # refused requests cost nothing
    clock.now += 15
    assert buckets.take("a", 3) == 0
    assert buckets.take("a", 3) == 20
    clock.now += 3600  # a bucket never holds more than the rate
    assert [buckets.take("a", 3) for _ in range(4)] == [0, 0, 0, 20]


def test_a_wait_is_whole_seconds_and_never_zero() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock=clock)
    assert [buckets.take("a", 7) for _ in range(7)] == [0] * 7
    assert buckets.take("a", 7) == 9  # 60 / 7 = 8.57 s
    clock.now += 8.5
    assert buckets.take("a", 7) == 1


def test_the_clients_seen_least_recently_are_forgotten() -> None:
    clock = Clock()
    buckets = TokenBuckets(max_clients=2, clock=clock)
    assert buckets.take("a", 1) == 0 and buckets.take("b", 1) == 0
    assert buckets.take("a", 1) == 60  # seen: now the most recent
    assert buckets.take("c", 1) == 0
    assert len(buckets) == 2
    assert buckets.take("a", 1) == 60  # still known
    assert buckets.take("b", 1) == 0  # forgotten: a full bucket again


def test_an_ipv6_network_shares_one_bucket() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")
    assert client_key("203.0.113.7") == "203.0.113.7" == client_key("::ffff:203.0.113.7")
    assert client_key("") == ""
