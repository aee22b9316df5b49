"""An LRU cache bounded by bytes: one worker process's, shared by its threads."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ByteLRU(Generic[K, V]):
    """At most `max_bytes` of values, each put with the size it costs, least recently used
    evicted first; a value larger than a quarter of the budget is not kept (it would push out
    too much)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.total = 0
        self.hits = 0  # lookups that found a value (counted under the lock)
        self.misses = 0
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: K) -> bool:
        return key in self._items

    def get(self, key: K) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self.hits += 1
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: K, value: V, size: int) -> None:
        """Keep `value` under `key` (replacing what was kept there)."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.total -= old[1]
            if size > self.max_bytes // 4:
                return
            self._items[key] = (value, size)
            self.total += size
            while self.total > self.max_bytes:
                _, (_, evicted) = self._items.popitem(last=False)
                self.total -= evicted
