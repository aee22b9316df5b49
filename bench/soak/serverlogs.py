"""What the servers logged during the soak: gunicorn's tracebacks, worker timeouts and
errors, and nginx's messages at [error] or worse (an upstream that failed, say)."""

from __future__ import annotations

import re
from pathlib import Path

from .record import Record

GUNICORN = re.compile(r"Traceback|\[ERROR\]|\[CRITICAL\]|WORKER TIMEOUT|Worker \(pid:\d+\) was")
NGINX = re.compile(r"\[(error|crit|alert|emerg)\]")
# nginx's own race, not a failure of the service: a worker takes the length of a cached
# document's header from the shared index, then opens the file another worker has just
# replaced with a version whose header is longer (Last-Modified added once recorded, or a
# longer Content-Length), before that worker updates the index (ngx_http_file_cache_open,
# ngx_http_file_cache_read and ngx_http_file_cache_update in nginx's source). It logs this at
# crit and answers from the app instead: no client sees it.
NGINX_CACHE_RACE = re.compile(r"\[crit\] .*cache file \".*\" has too long header")


def scan(record: Record, log: Path, pattern: re.Pattern[str]) -> None:
    """One failure per matching line of `log` (the first few kept), or one check held."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return
    bad = [line for line in lines if pattern.search(line)]
    raced = [line for line in bad if NGINX_CACHE_RACE.search(line)]
    if raced:
        record.note(f"{log.name}: {len(raced)} of nginx's cache races (see serverlogs.py)")
        bad = [line for line in bad if line not in raced]
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
