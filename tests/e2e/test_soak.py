"""`make soak` for a few seconds: it sets up the service, runs its load and every check, and
reports each one in its table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench.soak.record import CHECKS
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
