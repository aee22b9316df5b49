"""The audit log in this process: a row for each write through the API; refused requests
counted in rows bounded in number and in size, whatever comes and however fast, on every
database; and `feeds audit` showing both, or saying why it has nothing to show."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from feeds.model import AuditEntry
from feeds.store import Store, accounts
from tests.samples import ARTICLE
from tests.support import IMPORT_TIME, POSTGRES, InProcess, audit_rows

LONG_ID = "x" * 3900
TIMES = re.compile(r"\trefused \u00d7(\d+)")


@pytest.fixture
def site_env(site_env: dict[str, str], clock: Path) -> dict[str, str]:
    return site_env | {"FEEDS_CLOCK": str(clock)}


@pytest.fixture
def token(site: InProcess) -> Iterator[str]:
    """An active publish token, held by "cms"."""
    made = site.feeds("token", "create", "--name", "cms", "--scope", "publish")
    assert made.returncode == 0, made.stderr
    yield made.stdout.strip()


def send(site: InProcess, method: str, article_id: str, token: str | None = None) -> int:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    body = ARTICLE if method == "PUT" else None
    answer = site.client.open(
        f"/api/v1/articles/{article_id}", method=method, json=body, headers=headers
    )
    return answer.status_code


def stored_characters(rows: list[dict[str, object]]) -> int:
    return sum(len(str(value)) for row in rows for value in row.values() if value is not None)


def test_thousands_of_refused_requests_leave_a_few_short_rows(
    site: InProcess, token: str, clock: Path
) -> None:
    refused = 0
    for minute in range(2):
        clock.write_text((IMPORT_TIME + timedelta(minutes=minute, seconds=30)).isoformat())
        assert send(site, "PUT", f"kept-{minute}", token) == 201
        for number in range(500):
            assert send(site, "DELETE", f"{LONG_ID}{number}") == 401
            assert send(site, "PUT", f"{LONG_ID}{number}", "wrong") == 401
        refused += 1000
    rows = audit_rows(site.env["FEEDS_DATABASE"])
    # Each minute: the write, and one row for each (status, method, token) refused.
    assert len(rows) == 2 * 3
    assert stored_characters(rows) < len(rows) * 700
    log = site.feeds("audit").stdout.splitlines()
    assert sum(int(n) for line in log for n in TIMES.findall(line)) == refused
    assert log[0].startswith("2026-01-15T12:01:30Z\t(invalid token)\tPUT\txxx")
    assert "\t401\trefused \u00d7500 until 2026-01-15T12:01:30Z: send Authorization" in log[0]
    assert log[2].endswith("\tcms\tPUT\tkept-1\t201\tadded")


def test_every_write_done_keeps_a_row_of_its_own(site: InProcess, token: str) -> None:
    for number in range(30):
        assert send(site, "PUT", f"a{number}", token) == 201
    log = site.feeds("audit").stdout.splitlines()
    assert [line.split("\t")[3] for line in log] == [f"a{n}" for n in reversed(range(30))]


def test_only_the_newest_refused_rows_are_kept(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounts, "REFUSED_KEPT", 3)
    with store.write() as writer:
        writer.record_audit(AuditEntry(IMPORT_TIME, "cms", "PUT", "done", 201, "added"))
        for minute in range(6):
            at = IMPORT_TIME + timedelta(minutes=minute)
            writer.record_refused(AuditEntry(at, None, "DELETE", f"m{minute}", 401, "no"))
    with store.read() as reader:
        log = reader.audit_log(100)
    assert [entry.article_id for entry in log] == ["m5", "m4", "m3", "done"]


def test_every_value_is_kept_short_and_marked_where_it_was_cut(store: Store) -> None:
    valid = "a" * 200  # the longest id an article can have: kept whole
    with store.write() as writer:
        writer.record_audit(AuditEntry(IMPORT_TIME, "cms", "PUT", valid, 201, "added"))
        writer.record_refused(
            AuditEntry(IMPORT_TIME, "t" * 300, "DELETE", LONG_ID, 404, "d\x00" * 2500)
        )
    with store.read() as reader:
        cut, whole = reader.audit_log(2)
    assert whole.article_id == valid
    assert len(cut.article_id) == 200 and cut.article_id.endswith("x\u2026[3900 chars]")
    assert len(cut.detail) == 200 and cut.detail.startswith("d\ufffdd\ufffd")
    assert cut.detail.endswith("\u2026[5000 chars]")
    assert cut.token is not None and cut.token.endswith("\u2026[300 chars]")


@pytest.mark.parametrize("article_id", ["y" * 300, "a%00b", "%F0%9F%98%80" * 90, "%E2%80%AE"])
def test_an_odd_id_is_refused_with_a_4xx_and_recorded_on_every_database(
    site: InProcess, token: str, article_id: str
) -> None:
    assert send(site, "DELETE", article_id) == 401
    assert send(site, "DELETE", article_id, "wrong") == 401
    assert send(site, "DELETE", article_id, token) == 404
    assert send(site, "PUT", article_id, token) in (404, 422)
    log = site.feeds("audit").stdout.splitlines()
    assert [line.split("\t")[1:3] for line in log] == [
        ["cms", "PUT"],
        ["cms", "DELETE"],
        ["(invalid token)", "DELETE"],
        ["-", "DELETE"],
    ]


def test_audit_of_a_store_never_made_says_so_and_makes_none(
    site: InProcess, tmp_path: Path
) -> None:
    for command in (["audit"], ["token", "list"], ["partner", "list"]):
        ran = site.feeds(*command)
        assert ran.returncode == 1 and ran.stdout == ""
        assert "Error: there is no store at FEEDS_DATABASE=" in ran.stderr
        assert "run `feeds migrate`" in ran.stderr
    if not POSTGRES:
        path = Path(sa.engine.make_url(site.env["FEEDS_DATABASE"]).database or "")
        assert f"no file {path}" in ran.stderr and not path.exists()


def test_an_empty_audit_log_says_so_naming_its_database(site: InProcess) -> None:
    assert site.feeds("migrate").returncode == 0
    ran = site.feeds("audit")
    assert ran.returncode == 0 and ran.stdout == ""
    database = sa.engine.make_url(site.env["FEEDS_DATABASE"]).render_as_string()
    assert ran.stderr == f"the audit log of {database} is empty\n"
