"""The soak's report: requests by kind, every check with its verdict, write-to-visible lags,
resident memory, the machine it ran on, and the first failures of each check."""

from __future__ import annotations

import math
import os
import platform
import re
import sqlite3
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from ..plan import ROOT
from .memory import Group
from .record import CHECKS, Record, Traffic

_FIGURE = re.compile(r"^(—|[\d,.]+)$")


def columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Text columns: left-aligned words, right-aligned figures."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        out = []
        for cell, width in zip(cells, widths, strict=True):
            figure = bool(_FIGURE.match(cell))
            out.append(cell.rjust(width) if figure else cell.ljust(width))
        return "  ".join(out).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def traffic_table(record: Record, seconds: float) -> str:
    rows = []
    total = Traffic()
    for (kind, target), t in sorted(record.traffic.items()):
        rows.append(_traffic_row(f"{kind}", target, t))
        total.requests += t.requests
        total.conditional += t.conditional
        total.statuses.update(t.statuses)
    rows.append(_traffic_row("all", "", total))
    rate = total.requests / seconds if seconds else 0.0
    head = (
        "kind",
        "target",
        "requests",
        "conditional",
        "200",
        "304",
        "other 2xx",
        "4xx",
        "429",
        "503",
        "other 5xx",
    )
    return f"Requests: {total.requests:,} in {seconds:.0f} s, {rate:,.0f}/s\n" + columns(head, rows)


def _traffic_row(kind: str, target: str, t: Traffic) -> list[str]:
    s = t.statuses
    other_2xx = sum(n for code, n in s.items() if 200 < code < 300)
    four = sum(n for code, n in s.items() if 400 <= code < 500 and code != 429)
    five = sum(n for code, n in s.items() if code >= 500 and code != 503)
    return [
        kind,
        target,
        *(
            f"{n:,}"
            for n in (
                t.requests,
                t.conditional,
                s[200],
                s[304],
                other_2xx,
                four,
                s[429],
                s[503],
                five,
            )
        ),
    ]


def checks_table(record: Record) -> str:
    rows = [
        [
            name,
            f"{record.checked[name]:,}",
            f"{record.failed[name]:,}",
            "FAIL" if record.failed[name] else ("pass" if record.checked[name] else "not run"),
            what,
        ]
        for name, what in CHECKS.items()
    ]
    return "Checks\n" + columns(("check", "held", "failed", "verdict", "what it holds to"), rows)


def lag_table(record: Record) -> str:
    rows = []
    every = [lag for lags in record.lags.values() for lag in lags]
    for kind, lags in [*sorted(record.lags.items()), ("all", every)]:
        if not lags:
            continue
        old = sum(record.old_answers.values()) if kind == "all" else record.old_answers[kind]
        rows.append(
            [
                kind,
                f"{len(lags):,}",
                f"{old:,}",
                *(f"{percentile(lags, q) * 1000:.0f}" for q in (0.5, 0.95, 0.99, 1.0)),
            ]
        )
    return "Write to visible on every worker (ms)\n" + columns(
        ("write", "writes", "old answers", "p50", "p95", "p99", "max"), rows
    )


def memory_table(groups: Sequence[Group], warm: float, growth: float, floor: float) -> str:
    rows = []
    for group in groups:
        if not group.samples:
            continue
        base, peak = group.baseline(warm), group.peak(warm)
        bound = base + max(base * growth, floor)
        rows.append(
            [
                group.name,
                *(
                    f"{mb:.1f}"
                    for mb in (group.samples[0][1], base, peak, group.samples[-1][1], bound)
                ),
                f"{len(group.samples)}",
                "pass" if peak <= bound else "FAIL",
            ]
        )
    return "Resident memory (MB, master and workers together)\n" + columns(
        ("group", "start", "after warm-up", "peak", "end", "bound", "samples", "verdict"), rows
    )


def machine(nginx_version: str | None, database: str) -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return "\n".join(
        [
            f"Machine: {cpu}, {len(os.sched_getaffinity(0))} usable of {os.cpu_count()} cores, "
            f"Linux {platform.release()}",
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, gunicorn "
            f"{metadata.version('gunicorn')}, {nginx_version or 'no nginx'}",
            f"Store: {database.split(':', 1)[0]}; feeds at {commit or 'unknown commit'}",
        ]
    )


def failures(record: Record) -> str:
    if not record.failures:
        return "No failures."
    lines = [
        f"Failures ({sum(record.failed.values()):,}; the first {record.examples} of each check):"
    ]
    for failure in sorted(record.failures, key=lambda f: list(CHECKS).index(f.check)):
        lines.append(f"  [{failure.check}] {failure.where}: {failure.what}")
    return "\n".join(lines)
