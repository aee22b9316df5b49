"""Import: rejects one by one, stores the rest atomically, and the update rules."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from feeds.config import Settings
from feeds.errors import HelperFailed, ImportStopped
from feeds.ingest import importer, readahead, rules
from feeds.ingest.files import Source
from feeds.ingest.importer import Tuning
from feeds.store import Scope, Store
from feeds.store.schema import articles
from tests.conftest import ImportFn
from tests.support import IMPORT_TIME, SEED, Content, article_text, new_database

LATER = IMPORT_TIME + timedelta(days=3)


def stored_rows(store: Store) -> dict[str, sa.Row[tuple[object, ...]]]:
    with store.read() as reader:
        return {row.id: row for row in reader.conn.execute(sa.select(articles))}


def test_good_files_are_stored_and_bad_ones_reported(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    content.write("good.txt", article_text())
    content.write("bad-date.txt", article_text(dateline="31 February 2020, 10:00"))
    content.write("empty.txt", "")
    report = run_import()
    assert (report.added, report.updated, report.unchanged) == (1, 0, 0)
    reasons = sorted(str(e) for e in report.rejected)
    assert len(reasons) == 2
    assert reasons[0].startswith(str(content.root / "bad-date.txt") + ": line 3: ")
    assert reasons[1].startswith(str(content.root / "empty.txt") + ": the file is empty")
    assert list(stored_rows(store)) == ["good"]


def test_reimporting_an_unchanged_file_changes_nothing(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    content.write(SEED.name, SEED.read_bytes())
    run_import()
    before = stored_rows(store)
    report = run_import(now=LATER)
    assert (report.added, report.updated, report.unchanged) == (0, 0, 1)
    assert stored_rows(store) == before


def test_white_space_alone_is_not_a_change(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    path = content.write("a.txt", article_text())
    run_import()
    before = stored_rows(store)
    path.write_bytes(b"\xef\xbb\xbf" + article_text().replace("\n", "  \r\n\r\n").encode())
    assert run_import(now=LATER).unchanged == 1
    assert stored_rows(store) == before


def test_new_article_gets_a_tag_id_from_the_authority_and_the_first_stored_date(
    content: Content, run_import: ImportFn, store: Store, settings: Settings
) -> None:
    content.write("a.txt", article_text())
    run_import()
    row = stored_rows(store)["a"]
    assert row.tag == "tag:news.example.com,2026-01-15:a"
    assert row.revision == 1
    assert row.updated == row.published == datetime(2020, 1, 4, 18, 9, tzinfo=UTC)


def test_changed_file_keeps_its_id_and_takes_a_later_updated_time(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    path = content.write("a.txt", article_text())
    run_import()
    path.write_text(
        article_text(
            title="New title", dateline="4 January 2020, 18:09 | Updated: 5 January 2020, 10:00"
        )
    )
    report = run_import(now=LATER)
    assert report.updated == 1
    row = stored_rows(store)["a"]
    assert row.tag == "tag:news.example.com,2026-01-15:a"
    assert row.title == "New title"
    assert row.revision == 2
    assert row.updated == datetime(2020, 1, 5, 10, 0, tzinfo=UTC)


def test_change_without_a_later_updated_time_takes_the_import_time(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    path = content.write("a.txt", article_text())
    run_import()
    path.write_text(article_text(paragraphs=("A corrected paragraph.",)))
    run_import(now=LATER)
    row = stored_rows(store)["a"]
    assert row.updated == LATER
    assert row.published == datetime(2020, 1, 4, 18, 9, tzinfo=UTC)


def test_published_time_follows_the_dateline(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    path = content.write("a.txt", article_text())
    run_import()
    path.write_text(article_text(dateline="3 January 2020, 09:00"))
    run_import(now=LATER)
    row = stored_rows(store)["a"]
    assert row.published == datetime(2020, 1, 3, 9, 0, tzinfo=UTC)
    assert row.updated == LATER


def test_sub_folder_is_the_section(content: Content, run_import: ImportFn, store: Store) -> None:
    content.write("world/a.txt", article_text())
    content.write("top.txt", article_text())
    content.write(".hidden/b.txt", article_text())
    content.write("notes.md", "not an article")
    run_import()
    rows = stored_rows(store)
    assert {i: r.section for i, r in rows.items()} == {"a": "world", "top": None}


def test_moving_a_file_to_another_section_is_a_change(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    path = content.write("world/a.txt", article_text())
    run_import()
    path.rename(content.root / "a.txt")
    assert run_import(now=LATER).updated == 1
    assert stored_rows(store)["a"].section is None


def test_duplicate_ids_in_one_import_reject_the_later_file(
    content: Content, run_import: ImportFn
) -> None:
    content.write("uk/a.txt", article_text())
    content.write("world/a.txt", article_text())
    report = run_import()
    assert report.added == 1
    assert "already taken" in str(report.rejected[0])
    assert str(report.rejected[0]).startswith(str(content.root / "world" / "a.txt"))


def test_missing_path_is_reported(run_import: ImportFn, content: Content) -> None:
    report = run_import(content.root / "nope")
    assert [e.reason for e in report.rejected] == ["no such file or folder"]


def test_dry_run_stores_nothing(content: Content, run_import: ImportFn, store: Store) -> None:
    content.write("a.txt", article_text())
    report = run_import(dry_run=True)
    assert report.added == 1
    assert stored_rows(store) == {}


def test_import_is_one_transaction_that_readers_never_see_half_of(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    content.write("a.txt", article_text())
    run_import()
    with store.read() as reader:
        # A reader's snapshot taken before a write stays whole while the write commits.
        before = reader.changed_heads(Scope(None, LATER), 10)
        content.write("b.txt", article_text(dateline="5 January 2020, 10:00"))
        content.write("c.txt", article_text(dateline="6 January 2020, 10:00"))
        assert run_import(now=LATER).added == 2
        assert reader.changed_heads(Scope(None, LATER), 10) == before
    with store.read() as reader:
        assert [h.id for h in reader.changed_heads(Scope(None, LATER), 10)] == ["c", "b", "a"]


def test_a_failed_write_stores_nothing(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    content.write("a.txt", article_text())
    content.write("b.txt", article_text())
    with store.engine.begin() as conn:  # a row that will collide with b's tag on insert
        conn.execute(
            articles.insert().values(
                id="other",
                tag="tag:news.example.com,2026-01-15:b",
                title="t",
                paragraphs="[]",
                source="",
                content_hash="",
                revision=1,
                published=IMPORT_TIME,
                updated=IMPORT_TIME,
                modified=IMPORT_TIME,
                first_stored=IMPORT_TIME,
            )
        )
    try:
        run_import()
    except sa.exc.IntegrityError:
        pass
    else:
        raise AssertionError("the colliding insert should have failed")
    assert set(stored_rows(store)) == {"other"}


def test_no_two_articles_share_an_update_marker(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    for name in ("a", "b", "c"):
        content.write(f"{name}.txt", article_text())  # the same dateline three times
    run_import()
    markers = [r.updated for r in stored_rows(store).values()]
    assert len(set(markers)) == 3
    assert all(m.replace(microsecond=0) == datetime(2020, 1, 4, 18, 9, tzinfo=UTC) for m in markers)
    for name in ("a", "b", "c"):  # three corrections in one import all take the import time
        content.write(f"{name}.txt", article_text(paragraphs=(f"Corrected {name}.",)))
    run_import(now=LATER)
    markers = [r.updated for r in stored_rows(store).values()]
    assert len(set(markers)) == 3
    assert all(m.replace(microsecond=0) == LATER for m in markers)


def test_articles_sharing_a_dateline_cost_a_few_queries_not_one_per_pair(
    content: Content, settings: Settings, store: Store
) -> None:
    dateline = datetime(2020, 1, 4, 18, 9, tzinfo=UTC)
    for number in range(150):
        content.write(f"a{number:03d}.txt", article_text())  # one dateline for all
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    tuning = Tuning(batch=100)  # two batches: the second starts where the first ended
    importer.import_paths(store, settings, [content.root], now=IMPORT_TIME, tuning=tuning)
    for number in range(150, 300):  # and a second import continues after the first's
        content.write(f"a{number:03d}.txt", article_text())
    importer.import_paths(store, settings, [content.root], now=IMPORT_TIME, tuning=tuning)
    markers = sorted(r.updated for r in stored_rows(store).values())
    assert markers == [dateline + timedelta(microseconds=n) for n in range(300)]
    searches = [s for s in statements if "articles.updated" in s and "INSERT" not in s]
    assert len(searches) <= 2 * 5, len(searches)  # two a batch; was one per taken instant


def _rules_steps(store: Store, settings: Settings, folder: Path, tuning: Tuning) -> int:
    """Lines of the update rules (rules.py) run while importing `folder`: their work, counted
    the same on every machine."""
    steps = 0

    def trace(frame: Any, event: str, arg: Any) -> Any:
        nonlocal steps
        if frame.f_code.co_filename != rules.__file__:
            return None
        if event == "line":
            steps += 1
        return trace

    previous = sys.gettrace()  # coverage's, when it runs
    sys.settrace(trace)
    try:
        importer.import_paths(store, settings, [folder], now=IMPORT_TIME, tuning=tuning)
    finally:
        sys.settrace(previous)
    return steps


def test_the_work_of_giving_out_markers_grows_with_the_articles_not_their_square(
    settings: Settings, tmp_path: Path
) -> None:
    per_article = []
    for count in (200, 2000):
        folder = tmp_path / f"one-dateline-{count}"
        for number in range(count):
            (folder / "world").mkdir(parents=True, exist_ok=True)
            (folder / "world" / f"n{count}-{number:05d}.txt").write_text(article_text())
        store = Store(new_database(tmp_path, f"steps{count}"))
        store.migrate(IMPORT_TIME, settings.tag_authority)
        tuning = Tuning(batch=20)  # many batches: what each keeps must not be walked again
        per_article.append(_rules_steps(store, settings, folder, tuning) / count)
        store.close()
    small, large = per_article
    assert large <= small * 1.1, per_article  # it was half as much again at 2,000


def test_a_marker_a_corrected_article_gives_up_is_taken_again(
    content: Content, settings: Settings, store: Store
) -> None:
    dateline = datetime(2020, 1, 4, 18, 9, tzinfo=UTC)
    content.write("a0001.txt", article_text("U"))
    importer.import_paths(store, settings, [content.root], now=IMPORT_TIME)
    content.write("a0000.txt", article_text("A"))
    content.write("a0001.txt", article_text("U", paragraphs=("Corrected.",)))  # takes `now`
    for number in range(2, 8):
        content.write(
            f"f{number:04d}.txt", article_text(f"F{number}", f"{number} March 2021, 10:00")
        )
    content.write("z9999.txt", article_text("B"))  # in a later batch
    later = IMPORT_TIME + timedelta(days=1)
    tuning = Tuning(batch=3)
    importer.import_paths(store, settings, [content.root], now=later, tuning=tuning)
    rows = stored_rows(store)
    assert rows["a0001"].updated == later
    # The instant U gave up is free again, in its batch and the next ones.
    assert (rows["a0000"].updated, rows["z9999"].updated) == (
        dateline,
        dateline + timedelta(microseconds=1),
    )


def test_section_does_not_depend_on_the_path_imported(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    path = content.write("world/a.txt", article_text())
    run_import()
    assert run_import(path, now=LATER).unchanged == 1
    assert run_import(content.root / "world", now=LATER).unchanged == 1
    row = stored_rows(store)["a"]
    assert (row.section, row.revision) == ("world", 1)


def test_folders_outside_the_content_root_give_sections_below_the_folder_named(
    tmp_path: Path, run_import: ImportFn, store: Store
) -> None:
    other = tmp_path / "elsewhere"
    (other / "sport").mkdir(parents=True)
    (other / "sport" / "b.txt").write_text(article_text())
    run_import(other)
    assert stored_rows(store)["b"].section == "sport"


def test_one_unreadable_date_never_costs_the_good_files(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    content.write("good.txt", article_text())
    content.write(
        "late.txt", article_text(dateline="1 January 2020, 10:00 | Updated: 1 January 2099, 10:00")
    )
    content.write("ancient.txt", article_text(dateline="1 January 0001, 00:00"))
    report = run_import()
    assert report.added == 1 and len(report.rejected) == 2
    assert list(stored_rows(store)) == ["good"]


def test_an_embargoed_article_changes_its_documents_when_it_appears(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    soon = IMPORT_TIME + timedelta(minutes=5)
    content.write("a.txt", article_text(dateline=f"{soon:%-d %B %Y, %H:%M}"))
    assert run_import().added == 1
    row = stored_rows(store)["a"]
    assert row.updated == soon and row.modified == soon


def _stored_rows(store: Store) -> list[tuple[object, ...]]:
    columns = [c for c in articles.c if c.name not in ("source_path",)]
    with store.read() as reader:
        return [tuple(r) for r in reader.conn.execute(sa.select(*columns).order_by("id"))]


def test_an_import_in_batches_or_by_helper_processes_gives_what_one_pass_gives(
    content: Content, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ProcessPoolExecutor

    for number in range(1, 61):
        content.write(
            f"world/a{number}.txt",
            article_text(f"Story {number}", f"{number % 28 + 1} March 2020, 10:{number % 60:02d}"),
        )
    content.write("world/bad.txt", "no dateline here\n")
    content.write("world/latin1.txt", article_text("Caf\u00e9").encode("latin-1"))
    content.write("uk/a7.txt", article_text("Same id again"))  # a duplicate id
    content.write("uk/spaces.txt", article_text("A\u00a0title\t here \x07", paragraphs=("x\x85y",)))
    content.write("bad section!/b1.txt", article_text())
    chunks: list[int] = []

    class Counted(ProcessPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            chunks.append(len(args[0]))
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(readahead, "ProcessPoolExecutor", Counted)
    results = []
    for batch, helpers_from in ((10**6, 10**6), (7, 10**6), (7, 1)):
        store = Store(new_database(tmp_path, f"batch{batch}-{helpers_from}"))
        store.migrate(IMPORT_TIME, settings.tag_authority)
        tuning = Tuning(batch=batch, helpers_from=helpers_from, chunk=5, helpers=2)
        report = importer.import_paths(
            store, settings, [content.root], now=IMPORT_TIME, tuning=tuning
        )
        messages = [str(e) for e in report.rejected]
        results.append((report.added, messages, _stored_rows(store)))
        store.close()
    whole, batched, helped = results
    assert whole[0] == 61 and len(whole[1]) == 4, whole[:2]
    assert any("already taken" in m for m in whole[1])
    assert any("latin1.txt: not UTF-8" in m for m in whole[1])
    assert batched == whole
    assert sum(chunks) == 65 and max(chunks) == 5  # every file went through a helper
    assert helped == whole


class _Fatal(Source):
    """A file whose parsing kills the helper process that reads it."""

    @property
    def stem(self) -> str:
        os._exit(3)


@pytest.mark.parametrize("ahead", [1, 8])
def test_a_helper_process_that_dies_stops_the_import_and_stores_nothing(
    content: Content,
    settings: Settings,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    ahead: int,
) -> None:
    tuning = Tuning(helpers_from=1, chunk=2, helpers=1, ahead=ahead)
    sources = [Source(str(content.write(f"a{n}.txt", article_text())), None) for n in range(6)]
    sources.insert(4, _Fatal(str(content.write("fatal.txt", article_text())), None))
    with pytest.raises(HelperFailed, match="run the import again"):
        importer.import_sources(store, settings, sources, [], now=IMPORT_TIME, tuning=tuning)
    assert stored_rows(store) == {}


@pytest.mark.parametrize("after", [0, 4, 7])  # at once, midway, before the commit
def test_an_import_asked_to_stop_stops_with_nothing_stored(
    content: Content, settings: Settings, store: Store, after: int
) -> None:
    for number in range(7):
        content.write(f"a{number}.txt", article_text())
    asked = 0

    def stop() -> str | None:
        nonlocal asked
        asked += 1
        return "stopped by SIGTERM" if asked > after else None

    with pytest.raises(ImportStopped, match="^stopped by SIGTERM$"):
        importer.import_paths(
            store, settings, [content.root], now=IMPORT_TIME, tuning=Tuning(batch=3), stop=stop
        )
    assert stored_rows(store) == {}


def test_an_article_id_is_the_file_name_without_its_extension() -> None:
    for name, stem in [
        ("content/world/a1.txt", "a1"),
        ("a.b.txt", "a.b"),
        ("dir.x/plain", "plain"),
        ("foo.", "foo."),
        (".txt", ".txt"),
    ]:
        assert Source(name, None).stem == stem == Path(name).stem


def test_linked_folders_are_not_walked_into(
    content: Content, run_import: ImportFn, store: Store
) -> None:
    content.write("news/a1.txt", article_text("One"))
    (content.root / "news" / "up").symlink_to("..")  # a loop
    (content.root / "latest").symlink_to("news")  # an alias
    report = run_import()
    assert (report.added, report.rejected) == (1, [])
