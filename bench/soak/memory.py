"""Resident memory of the servers during the soak: the gunicorn master with its workers, and
nginx's master with its workers, summed per group and sampled from /proc every few seconds.

A group fails when a sample after warm-up exceeds the warm-up sample by more than `growth`
(a share) and by more than FLOOR_MB: each worker's caches are bounded (FEEDS_CACHE_BYTES) and
fill while the warm-up reads every document, so what grows beyond that during a run that only
repeats the same kinds of work is a leak. The floor keeps a small group (nginx, ~10 MB)
from failing on a few pages of its shared cache zone being touched for the first time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ..servers import children, resident_mb, tree
from .record import Record

FLOOR_MB = 16.0


@dataclass
class Group:
    name: str
    master: int
    samples: list[tuple[float, float]] = field(default_factory=list)  # (time, MB)
    workers: set[int] = field(default_factory=set)  # the gunicorn workers first seen
    replaced: set[int] = field(default_factory=set)  # workers that came later

    def sample(self, at: float) -> None:
        pids = tree(self.master)
        sizes = [resident_mb(pid) for pid in pids]
        self.samples.append((at, sum(size for size in sizes if size is not None)))
        if self.name == "gunicorn":
            now = set(children(self.master))
            if not self.workers:
                self.workers = now
            self.replaced |= now - self.workers

    def baseline(self, warm: float) -> float:
        """The first sample at or after `warm`."""
        return next((mb for at, mb in self.samples if at >= warm), self.samples[-1][1])

    def peak(self, warm: float) -> float:
        return max((mb for at, mb in self.samples if at >= warm), default=0.0)


class Sampler:
    def __init__(self, groups: list[Group], interval: float) -> None:
        self.groups = groups
        self.interval = interval

    def run(self, stop: threading.Event) -> None:
        while True:
            at = time.monotonic()
            for group in self.groups:
                group.sample(at)
            if stop.wait(self.interval):
                break

    def judge(self, record: Record, warm: float, growth: float) -> None:
        """Fail every group that grew past its bound after `warm`, and replaced workers."""
        for group in self.groups:
            if not group.samples:
                continue
            base, peak = group.baseline(warm), group.peak(warm)
            bound = base + max(base * growth, FLOOR_MB)
            record.check(
                "memory",
                peak <= bound,
                group.name,
                f"peak {peak:.1f} MB after warm-up, over {bound:.1f} MB "
                f"(warm-up {base:.1f} MB + {growth:.0%}, at least {FLOOR_MB:.0f} MB)",
            )
            if group.name == "gunicorn":
                record.check(
                    "workers",
                    not group.replaced,
                    group.name,
                    f"workers {sorted(group.replaced)} replaced "
                    f"{sorted(group.workers - set(children(group.master)))}",
                )
