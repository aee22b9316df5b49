"""The results of a run: a Row per measurement with its Target, the figures' formats, the
table printed at the end, the Markdown of bench/results.md, and the machine measured on."""

from __future__ import annotations

import math
import os
import platform
import sqlite3
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from . import nginx, wrk
from .plan import ROOT, Plan


@dataclass(frozen=True)
class Target:
    """A bound on a ratio: at least (>=) or at most (<=) `bound`."""

    op: str
    bound: float

    def met(self, ratio: float) -> bool:
        return ratio >= self.bound if self.op == ">=" else ratio <= self.bound

    def __str__(self) -> str:
        return f"{'≥' if self.op == '>=' else '≤'} {self.bound:g}"


@dataclass
class Row:
    """One line of the results table."""

    name: str
    figure: str
    rps: float | None = None
    p50: float | None = None
    p99: float | None = None
    errors: int | None = None
    ratio: float | None = None
    reference: str = ""
    target: Target | None = None

    @classmethod
    def of_run(cls, name: str, figure: str, run: wrk.WrkResult, **rest: Any) -> Row:
        """A row for a wrk run: its requests/s, latencies and errors, and `rest`."""
        return cls(name, figure, rps=run.rps, p50=run.p50, p99=run.p99, errors=run.errors, **rest)

    @property
    def ok(self) -> bool | None:
        if self.target is None or self.ratio is None:
            return None
        return self.target.met(self.ratio)

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "MISS", None: ""}[self.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "figure": self.figure,
            "requests_per_s": self.rps,
            "p50_ms": self.p50,
            "p99_ms": self.p99,
            "errors": self.errors,
            "ratio": self.ratio,
            "reference": self.reference,
            "target": str(self.target) if self.target else None,
            "pass": self.ok,
        }


def rate(value: float) -> str:
    return f"{value:,.0f}"


def ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (0 < share <= 1): the smallest value that at least
    `share` of them do not exceed; of fewer than 100 values, p99 is the largest."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def machine(wrk_bin: str, nginx_bin: str | None) -> dict[str, Any]:
    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "unknown"

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    git = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=False,
    )
    memory = first("/proc/meminfo", "MemTotal")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": first("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "ram_gb": round(int(memory.split()[0]) / 1024**2, 1) if memory[:1].isdigit() else memory,
        "kernel": platform.release(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "versions": {
            name: version(name)
            for name in ("feeds", "flask", "werkzeug", "gunicorn", "feedgen", "lxml", "sqlalchemy")
        },
        "wrk": wrk.version(wrk_bin),
        "nginx": nginx.version(nginx_bin) if nginx_bin else None,
        "git": {"commit": git.stdout.strip(), "changed_files": len(dirty.stdout.splitlines())},
    }


def table(rows: Sequence[Row]) -> str:
    header = ("name", "req/s", "p50", "p99", "errors", "figure", "ratio", "reference", "target", "")
    lines = [
        (
            row.name,
            rate(row.rps) if row.rps is not None else "—",
            ms(row.p50),
            ms(row.p99),
            str(row.errors) if row.errors is not None else "—",
            row.figure,
            f"{row.ratio:.2f}" if row.ratio is not None else "—",
            row.reference,
            str(row.target) if row.target else "—",
            row.verdict,
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
        for cells in [header, *lines]
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(rendered)


def markdown(rows: Sequence[Row], info: dict[str, Any], load: wrk.Load, plan: Plan) -> str:
    lines = [
        "| Measurement | Requests/s | p50 | p99 | Figure | Ratio | Reference | Target | |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for row in rows:
        cells = [
            row.name,
            rate(row.rps) if row.rps is not None else "",
            ms(row.p50) if row.p50 is not None else "",
            ms(row.p99) if row.p99 is not None else "",
            row.figure,
            f"{row.ratio:.2f}" if row.ratio is not None else "",
            row.reference,
            str(row.target) if row.target else "",
            {True: "✓", False: "✗", None: ""}[row.ok],
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    lines.append("")
    lines.append(
        f"Measured {info['date'][:10]} with `make bench` on {info['cpu']} "
        f"({info['usable_cores']} cores, {info['ram_gb']} GB RAM, Linux {info['kernel']}), "
        f"Python {info['python']}, gunicorn {info['versions']['gunicorn']} "
        f"({plan.workers} gthread workers), SQLite {info['sqlite']}; "
        f"wrk -t{load.threads} -c{load.connections} -d{load.seconds:g}s on the same machine. "
        "Every ratio is against a reference measured in the same run."
    )
    return "\n".join(lines) + "\n"
