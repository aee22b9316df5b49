"""`make soak` for a few seconds: it sets up the service, runs its load and every check, and
reports each one in its table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.soak import serverlogs
from bench.soak.record import CHECKS, Record
from tests.support import ROOT, clean_environment, new_database

# Checks that a run of a few seconds always exercises (the others may find nothing to check
# in so short a run, a 429 say, and then say "not run").
ALWAYS_RUN = (
    "transport",
    "status",
    "well-formed",
    "etag-bytes",
    "304-match",
    "no-stale",
    "archives",
    "write-visible",
    "import",
    "api",
    "memory",
    "workers",
)


def test_a_short_soak_passes_and_reports_every_check(tmp_path: Path) -> None:
    options = "--seconds 6 --articles 40 --clients 2 --import-interval 3 --rss-interval 1"
    # Visibility is checked, but not against a time this test's machine may not meet.
    # Through deploy/'s nginx too where nginx is installed.
    command = [
        sys.executable,
        "-m",
        "bench.soak",
        *f"{options} --visible-within 30".split(),
        "--data",
        str(tmp_path / "soak"),
        "--database",
        new_database(tmp_path, "soak"),
    ]
    done = subprocess.run(
        command, cwd=ROOT, env=clean_environment(), capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {
        m.group(1): (int(m.group(2).replace(",", "")), m.group(3))
        for m in re.finditer(
            r"^([\w-]+)\s+([\d,]+)\s+[\d,]+\s+(pass|FAIL|not run)\s", done.stdout, re.M
        )
    }
    assert set(CHECKS) <= set(rows), done.stdout
    assert all(verdict != "FAIL" for _, verdict in rows.values()), done.stdout
    assert [name for name in ALWAYS_RUN if rows[name][0] == 0] == [], done.stdout
    for heading in ("Requests:", "Write to visible", "Resident memory", "Machine:", "SQLite"):
        assert heading in done.stdout


def test_nginx_cache_races_are_noted_and_other_errors_fail(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    race = (
        '2026/12/01 17:41:01 [crit] 26736#26736: *8318 cache file "/c/3/91/2d88" has too long '
        'header, client: 127.0.0.1, request: "GET /feeds/atom.xml HTTP/1.1"'
    )
    upstream = "2026/12/01 17:41:02 [error] 26736#26736: *8319 upstream timed out"
    log.write_text(f"{race}\n{upstream}\n")
    record = Record()
    serverlogs.scan(record, log, serverlogs.NGINX)
    assert record.failed["server-logs"] == 1
    assert [f.what for f in record.failures] == [upstream]
    assert record.notes == ["error.log: 1 of nginx's cache races (see serverlogs.py)"]
