"""What the servers logged during the soak: gunicorn's tracebacks, worker timeouts and
errors, and nginx's messages at [error] or worse (an upstream that failed, say)."""

from __future__ import annotations

import re
from pathlib import Path

from .record import Record

GUNICORN = re.compile(r"Traceback|\[ERROR\]|\[CRITICAL\]|WORKER TIMEOUT|Worker \(pid:\d+\) was")
NGINX = re.compile(r"\[(error|crit|alert|emerg)\]")


def scan(record: Record, log: Path, pattern: re.Pattern[str]) -> None:
    """One failure per matching line of `log` (the first few kept), or one check held."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return
    bad = [line for line in lines if pattern.search(line)]
    for line in bad:
        record.fail("server-logs", str(log), line.strip()[:300])
    if not bad:
        record.held("server-logs")


def secrets(record: Record, logs: list[Path], tokens: list[str]) -> None:
    """One failure per log that holds one of `tokens`, or one check held per log."""
    for log in logs:
        try:
            text = log.read_text(errors="replace")
        except FileNotFoundError:
            continue
        found = [token[:6] + "…" for token in tokens if token in text]
        record.check("no-secret-logged", not found, str(log), f"holds {', '.join(found)}")
