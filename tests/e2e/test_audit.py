"""The audit log behind a real gunicorn process, and what the `feeds` command prints as a real
process: a flood of refused requests costs a few short rows and no traceback, and no value,
stored or given, can start a line, forge a column or send a terminal control."""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support import (
    IMPORT_TIME,
    Content,
    Ran,
    Served,
    audit_rows,
    clean_environment,
    new_database,
    on_sqlite_only,
    run_feeds,
    start_server,
)

FORGED = "2020-01-04T18:09:00Z\tcms\tPUT\tbudget-2020\t200\tupdated"
# Values that would start a line, forge a column, move the cursor or turn the text around.
HOSTILE = [
    "x\n" + FORGED,
    "y\r" + FORGED,
    "z\t200\tupdated",
    "\x1b[2K\x1b[1Acleared",
    "line\u2028" + FORGED,
    "para\u2029graph",
    "\u202eturned\u2066around",
    "back\\nslash",
]
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
TIMES = re.compile(r"\trefused \u00d7(\d+)")


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clock") / "clock"
    path.write_text(IMPORT_TIME.isoformat())
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, clock: Path) -> Iterator[Served]:
    served = start_server(tmp_path_factory.mktemp("audit"), {"FEEDS_CLOCK": str(clock)})
    try:
        yield served
    finally:
        served.stop()


def send_all(server: Served, requests: list[tuple[str, str, str | None]]) -> list[int]:
    """Each (method, article id, token or None) over one kept-alive connection: statuses."""
    address = urllib.parse.urlsplit(server.base_url)
    assert address.hostname is not None and address.port is not None
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    statuses = []
    try:
        for method, article_id, token in requests:
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            path = "/api/v1/articles/" + urllib.parse.quote(article_id, safe="")
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
    finally:
        connection.close()
    return statuses


def assert_safe(ran: Ran, columns: int) -> list[str]:
    """The lines of stdout, each of `columns` fields, with no raw control anywhere."""
    for text in (ran.stdout, ran.stderr):
        assert not RAW.search(text), text
    lines = ran.stdout.splitlines()
    for line in lines:
        assert line.count("\t") == columns - 1, line
        assert not line.startswith(FORGED[:20]), line
    return lines


def test_a_flood_of_refused_requests_costs_a_few_short_rows_and_no_traceback(
    server: Served,
) -> None:
    before = max(
        (int(str(row["seq"])) for row in audit_rows(server.env["FEEDS_DATABASE"])), default=0
    )
    flood: list[tuple[str, str, str | None]]
    flood = [("DELETE", f"{'x' * 3900}{n}", None) for n in range(600)]
    flood += [("DELETE", f"{'y' * 300}{n}", "wrong") for n in range(150)]
    flood += [("PUT", f"{'z' * 300}{n}", None) for n in range(150)]
    assert set(send_all(server, flood)) == {401}
    rows = [
        row for row in audit_rows(server.env["FEEDS_DATABASE"]) if int(str(row["seq"])) > before
    ]
    # One row for each (status, method, token) refused, the clock standing still.
    assert len(rows) == 3
    assert sum(len(str(v)) for row in rows for v in row.values() if v is not None) < 3 * 700
    lines = assert_safe(server.feeds("audit"), 6)
    assert sum(int(n) for line in lines for n in TIMES.findall(line)) == len(flood)
    assert any("\t-\tDELETE\txxx" in line and "refused \u00d7600" in line for line in lines)
    assert "Traceback" not in server.log.read_text()


def test_no_id_can_forge_a_line_of_feeds_audit(server: Served, clock: Path) -> None:
    for minute, article_id in enumerate(HOSTILE, start=1):
        # A minute apart: each is a row of its own, with its own id.
        clock.write_text((IMPORT_TIME + timedelta(minutes=minute)).isoformat())
        assert send_all(server, [("DELETE", article_id, None)]) == [401]
    lines = assert_safe(server.feeds("audit", "--limit", str(len(HOSTILE))), 6)
    assert [line.split("\t")[3] for line in lines] == [
        "back\\\\nslash",
        "\\u202eturned\\u2066around",
        "para\\u2029graph",
        "line\\u2028" + FORGED.replace("\t", "\\t"),
        "\\x1b[2K\\x1b[1Acleared",
        "z\\t200\\tupdated",
        "y\\r" + FORGED.replace("\t", "\\t"),
        "x\\n" + FORGED.replace("\t", "\\t"),
    ]


def test_token_and_partner_lists_show_stored_values_escaped(server: Served) -> None:
    engine = sa.create_engine(server.env["FEEDS_DATABASE"])
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tokens (name, digest, scope, created) VALUES "
                "(:name, 'd1', 'publish', '2026-01-15 12:00:00.000000')"
            ),
            {"name": "evil\n" + FORGED},
        )
        conn.execute(
            sa.text(
                "INSERT INTO partners (name, digest, sections, content, rights, created) "
                "VALUES (:name, 'd2', :sections, 'full', '', '2026-01-15 12:00:00.000000')"
            ),
            {"name": "globe\u202e\r", "sections": json.dumps(["w\torld", "uk\n"])},
        )
    engine.dispose()
    tokens = assert_safe(server.feeds("token", "list"), 4)
    assert tokens[0].startswith("evil\\n2020-01-04T18:09:00Z\\tcms\\tPUT")
    partners = assert_safe(server.feeds("partner", "list"), 5)
    assert partners == ["globe\\u202e\\r\tw\\torld,uk\\n\tfull\t-\tactive"]


def test_import_and_delete_show_file_names_and_ids_escaped(
    tmp_path: Path, content: Content
) -> None:
    names = ["bad\nrejected: forged.txt", "\u202etxt.exe.txt", "tab\there.txt", "cr\rx.txt"]
    for name in names:
        content.write(name, "")  # empty: rejected
    env = clean_environment({"FEEDS_DATABASE": new_database(tmp_path, "escape")})
    imported = run_feeds(env, "import", str(content.root))
    assert imported.returncode == 1
    assert_safe(imported, 1)
    rejected = imported.stderr.splitlines()
    assert len(rejected) == len(names) and all(r.startswith("rejected: ") for r in rejected)
    assert any("/bad\\nrejected: forged.txt: " in line for line in rejected)
    assert any("/\\u202etxt.exe.txt: " in line for line in rejected)
    deleted = run_feeds(env, "delete", "ghost\nwithdrawn: budget", "\x1b]0;title\x07")
    assert deleted.returncode == 1
    assert_safe(deleted, 1)
    assert deleted.stderr.splitlines() == [
        "ghost\\nwithdrawn: budget: no such article (ids are file names without extension)",
        "\\x1b]0;title\\x07: no such article (ids are file names without extension)",
    ]


@on_sqlite_only
def test_audit_in_another_folder_names_the_file_it_did_not_find(
    server: Served, clock: Path, tmp_path: Path
) -> None:
    clock.write_text((IMPORT_TIME + timedelta(hours=1)).isoformat())
    assert send_all(server, [("DELETE", "one", None), ("DELETE", "two", "wrong")]) == [401, 401]
    database = Path(sa.engine.make_url(server.env["FEEDS_DATABASE"]).database or "")
    env = server.env | {"FEEDS_DATABASE": f"sqlite:///{database.name}"}
    here = run_feeds(env, "audit", "--limit", "2", cwd=database.parent)
    assert "\tDELETE\ttwo\t401\trefused" in here.stdout
    elsewhere = run_feeds(env, "audit", cwd=tmp_path)
    assert elsewhere.returncode == 1 and elsewhere.stdout == ""
    assert f"no file {tmp_path / database.name};" in elsewhere.stderr
    assert not (tmp_path / database.name).exists()
