"""Values kept within a budget of bytes, least recently used first out."""

from __future__ import annotations

import threading

from feeds.lru import ByteLRU


def test_the_least_recently_used_go_first_and_the_budget_holds() -> None:
    kept: ByteLRU[str, int] = ByteLRU(100)
    for n, name in enumerate("abcd"):
        kept.put(name, n, 25)
    assert kept.total == 100 and len(kept) == 4
    assert kept.get("a") == 0  # used: now the most recent
    kept.put("e", 4, 25)
    assert "b" not in kept and [kept.get(k) for k in "acde"] == [0, 2, 3, 4]
    kept.put("f", 5, 20)  # room for it once the least recent ("a") has gone
    assert "a" not in kept and kept.total == 95


def test_a_value_put_again_replaces_the_old_one_and_its_size() -> None:
    kept: ByteLRU[str, str] = ByteLRU(100)
    kept.put("x", "old", 20)
    kept.put("x", "new", 5)
    assert kept.get("x") == "new" and kept.total == 5 and len(kept) == 1


def test_a_value_over_a_quarter_of_the_budget_is_not_kept() -> None:
    kept: ByteLRU[str, str] = ByteLRU(100)
    kept.put("small", "s", 25)
    kept.put("big", "b", 26)
    assert kept.get("big") is None and kept.get("small") == "s" and kept.total == 25
    kept.put("small", "too big now", 30)  # and it takes the place of what was there
    assert "small" not in kept and kept.total == 0
    nothing: ByteLRU[str, str] = ByteLRU(0)
    nothing.put("x", "", 0)
    assert nothing.get("x") == "" and nothing.total == 0


def test_threads_keep_the_total_exact() -> None:
    kept: ByteLRU[int, int] = ByteLRU(10_000)

    def work(start: int) -> None:
        for n in range(start, start + 2_000):
            kept.put(n % 300, n, 1 + n % 50)
            kept.get((n * 7) % 300)

    threads = [threading.Thread(target=work, args=(i * 2_000,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert kept.total == sum(kept._items[k][1] for k in kept._items) <= 10_000
