"""The SQLite store: WAL, busy timeout, the write lock taken up front, and queries that stay
on their indexes however many articles are stored."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from feeds import credentials
from feeds.config import Settings
from feeds.store import Scope, Store, Writer
from feeds.store.database import BULK_CACHE_KIB
from feeds.web import create_app
from tests.conftest import ImportFn
from tests.support import IMPORT_TIME, Content, article_text, on_sqlite_only

FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


@on_sqlite_only
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(store: Store) -> None:
    with store.read() as reader:
        assert reader.conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert (reader.conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 5000


@on_sqlite_only
def test_a_write_takes_the_write_lock_at_its_first_statement(store: Store) -> None:
    order: list[str] = []
    first_holds_lock = threading.Event()

    def second_writer() -> None:
        first_holds_lock.wait()
        with store.write() as w:  # BEGIN IMMEDIATE waits here for the first writer
            order.append("second")
            w.set_meta_default("second", "x")

    thread = threading.Thread(target=second_writer)
    thread.start()
    with store.write() as w:
        w.meta("anything")  # a read only: a deferred BEGIN would not have locked yet
        first_holds_lock.set()
        time.sleep(0.3)
        order.append("first")
        w.set_meta_default("first", "x")
    thread.join(timeout=10)
    assert order == ["first", "second"]


def test_a_writer_sees_what_the_writer_before_it_committed(store: Store) -> None:
    """Writers wait for one another, and the one that waited reads what the other committed
    (on PostgreSQL too, where readers keep one snapshot each): no change is lost, and the
    data version counts both."""
    start = store.data_version() or 0
    holding = threading.Event()
    seen: dict[str, str | None] = {}

    def first() -> None:
        with store.write() as w:
            w.set_meta_default("first", "1")
            holding.set()
            time.sleep(0.5)

    def second() -> None:
        holding.wait()
        with store.write() as w:  # waits for the first to commit
            seen["first"] = w.meta("first")
            w.set_meta_default("second", "2")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert seen == {"first": "1"}
    assert store.data_version() == start + 2
    if store.engine.dialect.name == "postgresql":  # readers are back to one snapshot each
        with store.read() as reader:
            level = reader.conn.exec_driver_sql("SHOW transaction_isolation").scalar()
            assert level == "repeatable read"


def _plan(store: Store, query: sa.Select[tuple[object, ...]]) -> str:
    with store.read() as reader:
        compiled = query.compile(store.engine, compile_kwargs={"literal_binds": True})
        rows = reader.conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}").all()
        return " | ".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2024-01-02 03:04:05.000000", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),  # as stored
        ("2024-01-02 03:04:05.250000", datetime(2024, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)),
        ("2024-01-02 03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02 03:04:05+02:00", datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)),
        ("2024-01-02", datetime(2024, 1, 2, tzinfo=UTC)),
    ],
)
def test_stored_times_are_read_as_utc_instants_whatever_their_text(
    text: str, moment: datetime
) -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    from feeds.store.schema import UTCDateTime

    lite: Any = sqlite.dialect()
    read = UTCDateTime().dialect_impl(lite).result_processor(lite, None)
    assert read is not None
    found = read(text)
    assert found == moment and found.utcoffset() == timedelta(0)
    assert read(None) is None
    pg: Any = postgresql.dialect()  # type: ignore[no-untyped-call]  # naive UTC from psycopg
    read = UTCDateTime().dialect_impl(pg).result_processor(pg, None)
    assert read is not None
    assert read(moment.replace(tzinfo=None)) == moment and read(None) is None


def test_a_bulk_write_keeps_an_in_memory_store() -> None:
    store = Store("sqlite://")
    store.migrate(IMPORT_TIME, "news.example.com")
    with store.write(bulk=True) as writer:
        writer.set_meta_default("probe", "kept")
    with store.read() as reader:
        assert reader.meta("probe") == "kept" and reader.count_current() == 0
    store.close()


def test_meta_values_that_never_change_are_read_once(store: Store) -> None:
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    for _ in range(3):
        with store.read() as reader:
            assert reader.fixed_meta("feed_id_prefix") == "tag:news.example.com,2026-01-15:"
            assert reader.fixed_meta("created") is not None
            assert reader.fixed_meta("data_version") is not None  # not fixed: read each time
    assert sum("meta" in s for s in statements) == 2 + 3


@on_sqlite_only
def test_a_bulk_write_has_a_large_page_cache_and_leaves_none_behind(store: Store) -> None:
    def cache_size(writer: Writer) -> int:
        return int(writer.conn.exec_driver_sql("PRAGMA cache_size").scalar_one())

    with store.write(bulk=True) as writer:
        assert cache_size(writer) == -BULK_CACHE_KIB
    for _ in range(3):
        with store.write() as writer:
            assert cache_size(writer) == -2000  # SQLite's default


@on_sqlite_only
def test_no_query_behind_a_document_scans_the_articles(
    content: Content, run_import: ImportFn, store: Store, settings: Settings
) -> None:
    """Every statement that serving feeds, archives, pages and the directory runs is an
    index search, so a document costs the same with a thousand articles or a million."""
    for number in range(1, 13):
        section = ("world", "uk", "sport")[number % 3]
        content.write(
            f"{section}/a{number}.txt",
            article_text(f"Story {number}", f"{number} March 2020, 10:00"),
        )
        content.write(
            f"{section}/b{number}.txt", article_text("Older", f"{number} May 2019, 10:00")
        )
    run_import()
    app = create_app(
        {"database": settings.database, "base_url": settings.base_url, "page_size": 5}, {}
    )
    statements: list[tuple[str, object]] = []
    engine = app.extensions["feeds"].store.engine

    def capture(conn: object, cursor: object, sql: str, params: object, *rest: object) -> None:
        if sql.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((sql, params))

    sa.event.listen(engine, "before_cursor_execute", capture)
    client = app.test_client()
    atom = client.get("/feeds/atom.xml").data.decode()
    found = re.search(r'<link href="([^"]+)" rel="prev-archive"', atom)
    assert found is not None
    archive = found.group(1).removeprefix(settings.base_url)
    for path in (
        "/feeds/rss.xml",
        "/feeds/world/feed.json",
        archive,
        "/",
        "/sections/uk",
        "/feeds.opml",
        "/articles/a3",
        "/sitemap.xml",
        "/sitemaps/articles-1.xml",
        "/sitemaps/news.xml",
        "/sitemaps/pages.xml",
    ):
        assert client.get(path).status_code == 200, path
    sa.event.remove(engine, "before_cursor_execute", capture)
    assert len(statements) > 10
    with engine.connect() as conn:
        for sql, params in statements:
            plan = " | ".join(
                str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            )
            # The site's newest changes walk their index in order and stop after the page
            # (skipping only articles under embargo): no search is needed to start.
            plan = re.sub(r"SCAN articles USING (COVERING )?INDEX ix_articles_changed\b", "", plan)
            assert not re.search(r"\bSCAN (articles|departures|placements)\b", plan), (sql, plan)
            # nor reads all of a place's placements
            assert not re.search(r"placements USING .*\(place=\?\)$", plan), (sql, plan)


def test_feed_holds_the_page_size_articles_changed_last_latest_first_ties_by_id(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    for day in range(1, 28):
        for suffix in ("b", "a"):
            content.write(
                f"{day:02d}{suffix}.txt", article_text(dateline=f"{day} March 2020, 10:00")
            )
    run_import()
    with store.read() as reader:
        heads = reader.changed_heads(Scope(None, FAR_FUTURE), 50)
    ids = [h.id for h in heads]
    assert len(ids) == 50 and heads == sorted(heads, key=lambda h: (-h.modified.timestamp(), h.id))
    # One dateline each: their update markers, a microsecond apart, order them.
    assert sorted(ids[:2]) == ["27a", "27b"] and sorted(ids[2:4]) == ["26a", "26b"]
    assert sorted(ids[-2:]) == ["03a", "03b"]


def test_every_scope_limit_and_offset_selects_what_it_says(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    """The statements take scope, limits, offsets and boundaries as parameters: each
    combination gives what filtering every article by hand gives (on SQLite and PostgreSQL)."""
    sections = ("world", "uk", "sport")
    for number in range(1, 31):
        content.write(
            f"{sections[number % 3]}/a{number:02d}.txt",
            article_text(dateline=f"{number % 9 + 1} March 2020, 1{number % 3}:00"),
        )
    run_import()
    with store.read() as reader:
        every = reader.changed_heads(Scope(None, FAR_FUTURE), 1_000)
        section_of = {a.id: a.section for a in reader.articles([h.id for h in every])}
        assert len(every) == 30 and reader.articles([]) == []
        assert [a.id for a in reader.articles(["a03", "missing", "a01"])] == ["a03", "a01"]
        by_time = sorted(every, key=lambda h: (-h.modified.timestamp(), h.id))
        assert every == by_time
        span = (datetime(2020, 3, 1, tzinfo=UTC), datetime(2020, 4, 1, tzinfo=UTC))
        # One store filled at once: each article enters its places at its published time.
        entered = sorted(every, key=lambda h: (h.published, h.id))
        for chosen in [(), ("uk",), ("world", "sport"), sections]:
            wanted = [h for h in every if section_of[h.id] in chosen]
            scope = Scope(None, FAR_FUTURE, sections=chosen)
            for limit in (0, 1, 7, 50):
                assert reader.changed_heads(scope, limit) == wanted[:limit], (chosen, limit)
            placed = [h for h in entered if section_of[h.id] in chosen]
            assert reader.count_placed(scope, span) == len(placed)
            for offset, limit in ((0, 5), (3, 4), (20, 100), (40, 5)):
                got = [p.head for p in reader.placed(scope, span, offset, limit)]
                assert got == placed[offset : offset + limit], (chosen, offset, limit)
        for section in sections:
            wanted = [h for h in every if section_of[h.id] == section]
            assert reader.changed_heads(Scope(section, FAR_FUTURE), 4) == wanted[:4]
        site = Scope(None, FAR_FUTURE)
        assert [p.head for p in reader.placed(site, span, 0, 100)] == entered
        assert reader.placed_before(site, span[0]) is None
        assert reader.placed_from(site, span[0]) == entered[0].published
        assert reader.placed_before(site, span[1]) == entered[-1].published


def test_ids_do_not_depend_on_settings_that_can_change(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    from feeds.config import load_settings
    from feeds.ingest.importer import import_paths

    path = content.write("a.txt", article_text())
    run_import()
    moved = load_settings({}, {"database": store.url, "base_url": "https://elsewhere.example"})
    path.write_text(article_text(title="Retitled"))
    import_paths(store, moved, [content.root], now=IMPORT_TIME + timedelta(days=2))
    with store.read() as reader:
        article = reader.article("a")
    assert article is not None and article.title == "Retitled"
    assert article.tag == "tag:news.example.com,2026-01-15:a"


def test_partner_tokens_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert credentials.matches(credentials.digest("secret"), "secret")
    assert not credentials.matches(credentials.NOBODY, "secret")  # an unknown partner
    assert len(calls) == 2


def test_a_revoked_token_name_can_be_given_out_again_with_a_new_secret(store: Store) -> None:
    first, second = credentials.new_secret(), credentials.new_secret()
    with store.write() as writer:
        assert writer.put_token("cms", "publish", credentials.digest(first), IMPORT_TIME)
        assert not writer.put_token("cms", "publish", credentials.digest(second), IMPORT_TIME)
        assert writer.revoke_token("cms", IMPORT_TIME)
        assert writer.put_token("cms", "publish", credentials.digest(second), IMPORT_TIME)
    with store.read() as reader:
        assert reader.token_holder(credentials.digest(first), "publish") is None
        assert reader.token_holder(credentials.digest(second), "publish") == "cms"
        assert reader.token_holder(credentials.digest(second), "admin") is None
