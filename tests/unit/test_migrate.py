"""Schema migrations: `feeds migrate` brings any store up to date without losing an article,
and the migrations always describe feeds/schema.py exactly."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from feeds.store import migrate
from feeds.store.migrate import MIGRATIONS, config, upgrade
from feeds.store.schema import metadata
from tests.support import SEED, Content, InProcess, new_database


def head() -> str:
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None
    return revision


def test_migrate_creates_the_schema_and_is_idempotent(site: InProcess) -> None:
    for _ in range(2):
        result = site.feeds("migrate")
        assert result.returncode == 0 and "up to date" in result.stdout, result.stderr
    engine = sa.create_engine(site.env["FEEDS_DATABASE"])
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == head()
    engine.dispose()


def test_the_migrations_describe_the_schema_exactly(tmp_path: Path) -> None:
    engine = sa.create_engine(new_database(tmp_path, "x"))
    with engine.begin() as conn:
        upgrade(conn)
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert differences == [], "feeds/schema.py changed: add a migration under " + str(MIGRATIONS)


def test_a_store_made_by_the_first_schema_is_upgraded_without_losing_articles(
    site: InProcess, content: Content
) -> None:
    engine = sa.create_engine(site.env["FEEDS_DATABASE"])
    with engine.begin() as conn:
        upgrade(conn, "0001")
    engine.dispose()
    content.write(SEED.name, SEED.read_bytes())
    first = site.feeds("import", str(content.root))
    assert "1 added" in first.stdout, first.stderr
    assert site.feeds("migrate").returncode == 0
    again = site.feeds("import", str(content.root))
    assert "1 unchanged" in again.stdout, again.stderr


def test_the_newest_migration_is_the_one_the_store_checks_for() -> None:
    assert migrate.HEAD == head()


def test_partner_ledger_rows_keep_their_last_modified_across_the_upgrade(
    site: InProcess, content: Content
) -> None:
    engine = sa.create_engine(site.env["FEEDS_DATABASE"])
    with engine.begin() as conn:
        upgrade(conn, "0003")
        rows = [
            {"document": "/partners/globe/atom.xml", "etag": "e1", "at": "2022-06-04 01:00:00"},
            {"document": "/feeds/atom.xml", "etag": "e2", "at": "2022-06-04 02:00:00"},
        ]
        for row in rows:
            conn.execute(
                sa.text("INSERT INTO served (document, etag, last_modified) VALUES (:d, :e, :t)"),
                {"d": row["document"], "e": row["etag"], "t": row["at"]},
            )
    assert site.feeds("migrate").returncode == 0
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT document, etag FROM served"))
        documents = {str(document): str(etag) for document, etag in stored}
    engine.dispose()
    assert documents == {"partner:/partners/globe/atom.xml": "e1", "/feeds/atom.xml": "e2"}


def test_stored_articles_keep_their_months_of_publication_across_the_upgrade(
    site: InProcess,
) -> None:
    engine = sa.create_engine(site.env["FEEDS_DATABASE"])
    with engine.begin() as conn:
        upgrade(conn, "0004")
        for number, (published, section) in enumerate(
            [("2020-01-05", "world"), ("2020-01-02", None), ("2020-02-01", "world")]
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO articles (id, tag, section, title, paragraphs, authors, tags,"
                    " source, content_hash, revision, published, updated, modified,"
                    " first_stored) VALUES (:id, :tag, :section, 'T', '[\"P.\"]', '[]', '[]',"
                    " 's', 'h', 1, :at, :at, :at, '2024-01-01 00:00:00.000000')"
                ),
                {
                    "id": f"a{number}",
                    "tag": f"tag:x,2024-01-01:a{number}",
                    "section": section,
                    "at": f"{published} 10:00:00.000000",
                },
            )
        conn.execute(
            sa.text("INSERT INTO article_authors VALUES ('ann', 'a2', 'Ann')")  # slug, id, name
        )
    engine.dispose()
    assert site.feeds("migrate").returncode == 0

    def ids(path: str) -> list[str]:
        status, _, body = site.fetch(site.url(path))
        assert status == 200, path
        return [i.rsplit(":", 1)[1] for i in re.findall(r"<id>(tag:x[^<]+)</id>", body.decode())]

    assert ids("/feeds/archive/2020/01/1/atom.xml") == ["a1", "a0"]  # in published order
    assert ids("/feeds/archive/2020/02/1/atom.xml") == ["a2"]
    assert ids("/feeds/world/archive/2020/01/1/atom.xml") == ["a0"]
    assert ids("/feeds/authors/ann/archive/2020/02/1/atom.xml") == ["a2"]


def test_refused_audit_rows_are_counted_and_cut_across_the_upgrade(site: InProcess) -> None:
    at = datetime(2022, 6, 4, 10, 0)
    written: list[tuple[datetime, str | None, str, str, int, str]]
    written = [(at + timedelta(seconds=5), "cms", "PUT", "kept", 201, "added")]
    written += [(at + timedelta(minutes=1), "cms", "DELETE", "kept", 204, "withdrawn")]
    long_id = "z" * 250  # as long as PostgreSQL's column held, longer than is kept now
    written += [
        (at + timedelta(seconds=n / 10), None, "DELETE", f"{long_id[:-3]}{n:03d}", 401, "who?")
        for n in range(300)
    ]
    written += [
        (at + timedelta(seconds=30 + n), "cms", "DELETE", f"g{n}", 404, "no") for n in range(5)
    ]
    written += [
        (at + timedelta(seconds=70 + n), None, "PUT", f"p{n}", 401, "who?") for n in range(10)
    ]
    # Refused requests of 10,002 earlier minutes: more rows than are kept of them.
    written += [
        (at - timedelta(minutes=n), None, "DELETE", "old", 401, "who?") for n in range(1, 10_003)
    ]
    engine = sa.create_engine(site.env["FEEDS_DATABASE"])
    with engine.begin() as conn:
        upgrade(conn, "0005")
        conn.execute(
            sa.text(
                "INSERT INTO audit (at, token, method, article_id, status, detail)"
                " VALUES (:at, :token, :method, :id, :status, :detail)"
            ),
            [
                dict(zip(("at", "token", "method", "id", "status", "detail"), row, strict=True))
                | {"at": row[0].strftime("%Y-%m-%d %H:%M:%S.%f")}
                for row in sorted(written, key=lambda row: row[0])
            ],
        )
    assert site.feeds("migrate").returncode == 0
    with engine.connect() as conn:
        refused = conn.scalar(sa.text("SELECT COUNT(*) FROM audit WHERE status >= 400"))
        longest = conn.scalar(sa.text("SELECT MAX(LENGTH(article_id)) FROM audit"))
    engine.dispose()
    assert refused == 10_000 and longest == 200
    log = site.feeds("audit", "--limit", "6").stdout.splitlines()
    assert log[:5] == [
        "2022-06-04T10:01:10Z\t-\tPUT\tp0\t401\trefused ×10 until 2022-06-04T10:01:19Z: who?",
        "2022-06-04T10:01:00Z\tcms\tDELETE\tkept\t204\twithdrawn",
        "2022-06-04T10:00:30Z\tcms\tDELETE\tg0\t404\trefused ×5 until 2022-06-04T10:00:34Z: no",
        "2022-06-04T10:00:05Z\tcms\tPUT\tkept\t201\tadded",
        f"2022-06-04T10:00:00Z\t-\tDELETE\t{'z' * 188}…[250 chars]\t401"
        "\trefused ×300 until 2022-06-04T10:00:29Z: who?",
    ]
    assert log[5] == "2022-06-04T09:59:00Z\t-\tDELETE\told\t401\trefused ×1: who?"
