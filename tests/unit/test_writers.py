"""A GET never waits for a writer: while an import (or any write) holds the writers' lock,
documents never served before answer at once with the validators they would have had, and
every worker agrees on them once the writer is done. On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from feeds import credentials
from feeds.config import Settings
from feeds.errors import StoreBusy
from feeds.model import Partner
from feeds.store import Store, Writer
from feeds.store.accounts import ID_KEPT, kept
from feeds.store.database import BUSY_HOLD_S
from feeds.web import create_app
from tests.conftest import ImportFn
from tests.support import IMPORT_TIME, SEED, Content, article_text, on_sqlite_only

DOCUMENTS = ["/feeds/atom.xml", "/feeds/world/rss.xml", "/", "/feeds.opml", "/sitemap.xml"]


@contextmanager
def writer_holding_the_lock(
    store: Store, then: Callable[[Writer], object] | None = None
) -> Iterator[None]:
    """A write transaction held open in another thread, as a long import holds one; `then`
    writes in it once the block is done, before it commits."""
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with store.write() as writer:
            writer.meta("created")
            holding.set()
            done.wait(30)
            if then is not None:
                then(writer)

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(10)
    try:
        yield
    finally:
        done.set()
        thread.join()


def new_app(settings: Settings, **overrides: object) -> Flask:
    config = {"database": settings.database, "base_url": settings.base_url, **overrides}
    return create_app(config, environ={})


@pytest.fixture
def stored(content: Content, run_import: ImportFn) -> None:
    content.write(SEED.name, SEED.read_bytes())
    content.write("world/w1.txt", article_text("World", "1 March 2020, 10:00"))
    run_import()


def test_a_document_never_served_answers_at_once_while_a_writer_holds_the_lock(
    stored: None, settings: Settings, store: Store
) -> None:
    client = new_app(settings).test_client()
    with writer_holding_the_lock(store):
        answers = {}
        for path in DOCUMENTS:
            started = time.monotonic()
            response = client.get(path)
            elapsed = time.monotonic() - started
            # Waiting for the lock would end in a 503 after the 10 s busy timeout.
            assert response.status_code == 200, (path, response.status_code)
            assert elapsed < 1.0, (path, elapsed)
            # No date until one is recorded (on PostgreSQL, whose recorders never meet the
            # writers' lock, at once).
            dated = response.headers.get("Last-Modified")
            assert (dated is not None) == (not store.sqlite), (path, dated)
            answers[path] = response.headers["ETag"]
        again = {path: client.get(path).headers["ETag"] for path in DOCUMENTS}
        assert again == answers  # stable meanwhile
    # Once the writer is done, another worker gives the same ETag, and the date recorded.
    time.sleep(BUSY_HOLD_S)
    other = new_app(settings).test_client()
    for path, etag in answers.items():
        response = other.get(path)
        assert response.headers["ETag"] == etag, path
    assert other.get("/feeds/atom.xml").headers["Last-Modified"] == "Sun, 01 Mar 2020 10:00:00 GMT"
    with store.read() as reader:
        assert reader.ledger_entry("/feeds/atom.xml") is not None


def test_the_health_check_answers_at_once_while_a_writer_holds_the_lock(
    stored: None, settings: Settings, store: Store
) -> None:
    client = new_app(settings).test_client()
    with writer_holding_the_lock(store):
        # Waiting for the lock would end in a 503 after the 10 s busy timeout.
        response = client.get("/healthz")
        assert (response.status_code, response.get_data()) == (200, b"ok\n")


def test_a_strangers_refused_write_never_waits_for_the_lock(
    stored: None, settings: Settings, store: Store
) -> None:
    client = new_app(settings).test_client()
    with writer_holding_the_lock(store):
        # Recording it as a write would wait for the lock, and after the busy timeout end
        # in a 503: a flood of them would hold every thread while an import runs.
        for _ in range(3):
            response = client.delete("/api/v1/articles/" + "x" * 300)
            assert response.status_code == 401, response.get_data()
    time.sleep(BUSY_HOLD_S)  # recorders try again once the lock was free this long
    refused = client.delete("/api/v1/articles/w1")  # counted
    assert refused.status_code == 401
    with store.read() as reader:
        (entry,) = reader.audit_log(10)  # the refusals of one minute share a row
    # On SQLite those made while the lock was held went uncounted; PostgreSQL's recorders
    # never meet the writers' lock, so there the row is the first refusal's.
    first = "w1" if store.sqlite else kept("x" * 300, ID_KEPT)
    assert (entry.method, entry.article_id, entry.status) == ("DELETE", first, 401)


@dataclass
class Tombstoned:
    """The site feed served once with a tombstone for w1 (recorded), on a driven clock."""

    clock: Path
    client: FlaskClient
    first: TestResponse


@pytest.fixture
def tombstoned(stored: None, settings: Settings, store: Store, content: Content) -> Tombstoned:
    clock = content.root.parent / "clock"
    clock.write_text(IMPORT_TIME.isoformat())
    client = new_app(settings, clock=str(clock)).test_client()
    with store.write() as writer:
        writer.withdraw("w1", IMPORT_TIME, "delete")
    first = client.get("/feeds/atom.xml")
    assert first.headers["Last-Modified"] == "Thu, 15 Jan 2026 12:00:00 GMT"
    return Tombstoned(clock, client, first)


def test_a_change_served_while_a_writer_holds_the_lock_is_never_hidden_by_a_date(
    tombstoned: Tombstoned, settings: Settings, store: Store
) -> None:
    clock, client, first = tombstoned.clock, tombstoned.client, tombstoned.first
    # An import that began an hour before the tombstone expires withdraws the seed when it
    # commits: its changes carry the time it began.
    expired = IMPORT_TIME + timedelta(days=31)
    began = expired - timedelta(hours=1)
    with writer_holding_the_lock(store, then=lambda w: w.withdraw(SEED.stem, began, "delete")):
        clock.write_text(expired.isoformat())  # the tombstone goes: a new ETag
        served = client.get("/feeds/atom.xml")
        other = new_app(settings, clock=str(clock)).test_client().get("/feeds/atom.xml")
        assert served.status_code == 200 and served.headers["ETag"] != first.headers["ETag"]
        # The same in every worker: on SQLite, not recorded yet, no date (none that a client
        # or cache keeps can hide the change); on PostgreSQL, whose recorders never meet the
        # writers' lock, the new one.
        held = None if store.sqlite else "Sun, 15 Feb 2026 12:00:00 GMT"
        assert served.headers.get("Last-Modified") == other.headers.get("Last-Modified") == held
    clock.write_text((expired + timedelta(hours=1)).isoformat())
    after = client.get("/feeds/atom.xml")
    assert after.headers["ETag"] not in (first.headers["ETag"], served.headers["ETag"])
    # Every copy served before is older by date than the document now: none gets a 304.
    for copy in (first, served):
        if "Last-Modified" in copy.headers:  # an undated copy revalidates by ETag alone
            since = {"If-Modified-Since": copy.headers["Last-Modified"]}
            assert client.get("/feeds/atom.xml", headers=since).status_code == 200
    # The import's time, or on PostgreSQL the first answer's: later than the one recorded.
    final = "Sun, 15 Feb 2026 11:00:00 GMT" if store.sqlite else "Sun, 15 Feb 2026 13:00:00 GMT"
    assert after.headers["Last-Modified"] == final


def test_a_new_etag_is_recorded_once_the_writer_is_done(
    tombstoned: Tombstoned, settings: Settings, store: Store
) -> None:
    clock, client, first = tombstoned.clock, tombstoned.client, tombstoned.first
    expired = IMPORT_TIME + timedelta(days=31)
    with writer_holding_the_lock(store):
        clock.write_text(expired.isoformat())
        served = client.get("/feeds/atom.xml")
    if not store.sqlite:  # PostgreSQL recorders never meet the writers' lock: recorded
        assert served.headers["Last-Modified"] == "Sun, 15 Feb 2026 12:00:00 GMT"
        return
    assert "Last-Modified" not in served.headers
    # An If-Modified-Since with the date of the copy before cannot hide the change.
    since = {"If-Modified-Since": first.headers["Last-Modified"]}
    assert client.get("/feeds/atom.xml", headers=since).status_code == 200
    # The tombstone went while nothing else changed: the new ETag is recorded with the time
    # it is first recorded, once the lock is free and the recorders try again (at most
    # BUSY_HOLD_S later while the data stays as it was), and every worker sends it.
    time.sleep(BUSY_HOLD_S)
    clock.write_text((expired + timedelta(hours=2)).isoformat())
    recorded = client.get("/feeds/atom.xml")
    assert recorded.headers["ETag"] == served.headers["ETag"]
    assert recorded.headers["Last-Modified"] == "Sun, 15 Feb 2026 14:00:00 GMT"
    since = {"If-Modified-Since": first.headers["Last-Modified"]}
    assert client.get("/feeds/atom.xml", headers=since).status_code == 200
    other = new_app(settings, clock=str(clock)).test_client().get("/feeds/atom.xml")
    assert other.headers["Last-Modified"] == recorded.headers["Last-Modified"]


def test_partner_polls_stay_bounded_while_a_writer_holds_the_lock(
    stored: None, settings: Settings, store: Store
) -> None:
    secret = credentials.new_secret()
    with store.write() as writer:
        partner = Partner("globe", ("world",), "full", "", IMPORT_TIME, None)
        writer.add_partner(dataclasses.replace(partner, digest=credentials.digest(secret)))
    client = new_app(settings).test_client()
    auth = {"Authorization": f"Bearer {secret}"}
    # The writer commits a change outside the partner's sections: the store is free again at
    # once, not a moment later.
    unrelated = lambda w: w.withdraw(SEED.stem, IMPORT_TIME, "delete")  # noqa: E731
    with writer_holding_the_lock(store, then=unrelated):
        assert client.get("/partners/globe/atom.xml", headers=auth).status_code == 200
        refused = client.get("/partners/globe/atom.xml", headers=auth)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        assert client.head("/partners/globe/atom.xml", headers=auth).status_code == 200
    # The worker remembers what it granted, after the lock is free too.
    assert client.get("/partners/globe/atom.xml", headers=auth).status_code == 429
    # On SQLite the shared record could not be written meanwhile, so another worker's first
    # full answer is granted and its second refused; PostgreSQL recorders take a lock of their
    # own, so the record was shared all along.
    other = new_app(settings).test_client()
    first = other.get("/partners/globe/atom.xml", headers=auth).status_code
    assert first == (200 if store.sqlite else 429)
    assert other.get("/partners/globe/atom.xml", headers=auth).status_code == 429


@on_sqlite_only  # PostgreSQL recorders take a lock writers never hold
def test_recorders_give_up_at_once_while_a_writer_is_known_to_hold_the_lock(
    stored: None, store: Store
) -> None:
    with store.record() as recorder:  # the recorders' own connections, once made
        recorder.ledger_entry("/feeds/atom.xml")
    engine = store._recorder_engine()
    checkouts: list[object] = []
    sa.event.listen(engine, "checkout", lambda *a: checkouts.append(a))
    with writer_holding_the_lock(store, then=lambda w: w.withdraw("w1", IMPORT_TIME, "delete")):
        with pytest.raises(StoreBusy), store.record():
            pass
        tried = len(checkouts)
        assert tried == 1
        for _ in range(5):  # within BUSY_HOLD_S, at the same data version: not even tried
            with pytest.raises(StoreBusy), store.record():
                pass
        assert len(checkouts) == tried
    with store.record() as recorder:  # the writer committed: the data version moved
        assert recorder.ledger_entry("/nothing") is None
    assert len(checkouts) == tried + 1


@on_sqlite_only
def test_sqlite_recorders_never_checkpoint_the_log(stored: None, store: Store) -> None:
    with store.record() as recorder:
        assert recorder.conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    with store.write() as writer:
        assert writer.conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
