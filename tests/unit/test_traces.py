"""The trace store: written off the request path, nothing lost on close or to a locked database,
filters and stats, feedback. The tests taking ``new_store`` run on SQLite and on PostgreSQL (a
throwaway cluster, marked integration)."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ragsvc.db import PostgresDatabase
from ragsvc.errors import ConfigError, FeedbackLimitError, TraceStoreUnavailableError
from ragsvc.settings import TraceSettings
from ragsvc.traces.schema import PartTrace, Trace, utc_now
from ragsvc.traces.store import FeedbackQuery, TraceQuery, TraceStore

StoreFactory = Callable[..., TraceStore]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Opens a trace store on this test's database (each call a new store on the same one)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None

    def new(**fields: Any) -> TraceStore:
        settings = TraceSettings(path=tmp_path / "t.sqlite", **fields)
        return TraceStore(settings, database=None if url is None else PostgresDatabase(url))

    return new


def trace(n: int, route: str = "faq_direct", **fields: object) -> Trace:
    fields.setdefault("question", f"question {n}")
    return Trace(trace_id=f"t{n}", route=route, **fields)  # type: ignore[arg-type]


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another connection holding the database's write lock (``BEGIN EXCLUSIVE``)."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("BEGIN EXCLUSIVE")
        yield
        db.execute("ROLLBACK")


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def stored_ids(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as db:
        return {row[0] for row in db.execute("SELECT trace_id FROM traces")}


def held_writer(store: TraceStore, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Stop the writer before its next insert until the returned event is set."""
    insert, go_on = store._insert, threading.Event()

    def held(db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        go_on.wait(5)
        insert(db, rows)

    monkeypatch.setattr(store, "_insert", held)
    return go_on


def test_a_trace_is_readable_at_once_and_after_a_restart(new_store: StoreFactory) -> None:
    store = new_store()
    store.submit(trace(1))
    assert store.get("t1") is not None  # served from memory before the writer ran
    store.close()
    again = new_store()
    stored = again.get("t1")
    assert stored is not None and stored.question == "question 1"
    assert again.get("nope") is None
    again.close()


def test_close_drains_every_queued_trace(new_store: StoreFactory) -> None:
    store = new_store()
    for n in range(500):
        store.submit(trace(n))
    store.close()
    again = new_store()
    assert again.count(TraceQuery()) == 500
    again.close()


def test_filters_and_stats(new_store: StoreFactory) -> None:
    store = new_store()
    store.submit(trace(1, latency_ms=10.0))
    store.submit(trace(2, latency_ms=30.0))
    store.submit(trace(3, "llm_synthesis", latency_ms=2000.0, cost_usd=0.01, degraded=True))
    store.submit(trace(4, "no_answer", language="ja", latency_ms=20.0))
    store.flush()
    assert [t.trace_id for t in store.find(TraceQuery(route="faq_direct"))] == ["t2", "t1"]
    assert [t.trace_id for t in store.find(TraceQuery(degraded=True))] == ["t3"]
    assert [t.trace_id for t in store.find(TraceQuery(language="ja"))] == ["t4"]
    assert [t.trace_id for t in store.find(TraceQuery(min_cost_usd=0.001))] == ["t3"]
    future = utc_now() + timedelta(hours=1)
    assert store.find(TraceQuery(since=future)) == []
    stats = store.stats()
    assert stats.questions == 4 and stats.degraded == 1
    assert stats.cost_usd == pytest.approx(0.01)
    by_route = {r.route: r for r in stats.routes}
    assert by_route["faq_direct"].count == 2 and by_route["faq_direct"].p50_ms == 20.0
    assert stats.part_routes == {"faq_direct": 2, "llm_synthesis": 1, "no_answer": 1}
    store.close()


def test_filters_by_words_and_feedback_with_a_count_and_chart_points(
    new_store: StoreFactory,
) -> None:
    store = new_store()
    store.submit(trace(1, question="How do I reset my 100% PASSWORD?"))
    store.submit(trace(2, question="パスワードを忘れました"))
    store.submit(trace(3, question="vpn_access from home"))
    store.flush()
    store.add_feedback("t1", 1, "wrong", max_per_trace=5)
    store.add_feedback("t2", 5, "", max_per_trace=5)

    def ids(**query: Any) -> list[str]:
        return sorted(t.trace_id for t in store.find(TraceQuery(**query)))

    assert ids(text="password") == ["t1"]  # ASCII case-insensitive
    assert ids(text="100%") == ["t1"] and ids(text="0%") == ["t1"]  # % and _ are literal
    assert ids(text="vpn%") == [] and ids(text="pn_a") == ["t3"]
    assert ids(text="パスワード") == ["t2"]
    assert ids(rating="down") == ["t1"] and ids(rating="up") == ["t2"]
    assert ids(rating="none") == ["t3"]
    assert store.count(TraceQuery(rating="none", limit=1)) == 1 and store.count(TraceQuery()) == 3
    (listed,) = [t for t in store.find(TraceQuery(text="password"))]
    assert [f.comment for f in listed.feedback] == ["wrong"]  # the list carries the feedback
    assert [p.route for p in store.points()] == ["faq_direct"] * 3
    store.close()


def test_stats_count_a_joined_messages_parts_by_their_own_routes(new_store: StoreFactory) -> None:
    store = new_store()
    parts = [PartTrace(question=q, route=r) for q, r in (("a", "faq_direct"), ("b", "no_answer"))]
    store.submit(trace(1, "faq_direct", parts=parts))
    store.submit(trace(2, "faq_direct"))
    store.flush()
    stats = store.stats()
    assert [(r.route, r.count) for r in stats.routes] == [("faq_direct", 2)]
    assert stats.part_routes == {"faq_direct": 2, "no_answer": 1}
    again = store.get("t1")
    assert again is not None and [p.route for p in again.parts] == ["faq_direct", "no_answer"]
    store.close()


def test_a_store_written_before_parts_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    TraceStore(TraceSettings(path=path)).close()
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("ALTER TABLE traces DROP COLUMN part_routes")
        db.execute("DROP TABLE schema_migrations")  # none was kept then
    store = TraceStore(TraceSettings(path=path))
    store.submit(trace(1, "no_answer"))
    store.flush()
    assert store.stats().part_routes == {"no_answer": 1}
    store.close()


def test_feedback_is_stored_with_its_trace(new_store: StoreFactory) -> None:
    store = new_store()
    store.submit(trace(1))
    store.flush()
    assert store.add_feedback("t1", 5, "spot on", max_per_trace=5)
    assert not store.add_feedback("missing", 1, "", max_per_trace=5)
    stored = store.get("t1")
    assert stored is not None and [(f.rating, f.comment) for f in stored.feedback] == [
        (5, "spot on")
    ]
    store.close()


def test_feedback_on_a_trace_not_yet_written(
    new_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store()
    go_on = held_writer(store, monkeypatch)
    store.submit(trace(1))
    assert store.add_feedback("t1", 2, "too vague", max_per_trace=5)  # no wait for the writer
    assert store.prune() == 0  # retention leaves feedback on pending traces alone
    pending = store.get("t1")
    assert store.health().pending == 1
    go_on.set()
    assert store.flush()
    written = store.get("t1")
    store.close()
    for t in (pending, written):
        assert t is not None and [(f.rating, f.comment) for f in t.feedback] == [(2, "too vague")]


def test_feedback_per_trace_is_capped(new_store: StoreFactory) -> None:
    store = new_store()
    store.submit(trace(1))
    store.submit(trace(2))
    store.flush()
    assert store.add_feedback("t1", 5, "a", max_per_trace=2)
    assert store.add_feedback("t1", 4, "b", max_per_trace=2)
    with pytest.raises(FeedbackLimitError, match="'t1' already has 2 feedback entries"):
        store.add_feedback("t1", 1, "c", max_per_trace=2)

    def add(n: int) -> bool:
        try:
            return store.add_feedback("t2", 3, f"from thread {n}", max_per_trace=5)
        except FeedbackLimitError:
            return False

    with ThreadPoolExecutor(8) as pool:
        accepted = sum(pool.map(add, range(20)))
    t1, t2 = store.get("t1"), store.get("t2")
    store.close()
    assert t1 is not None and [f.comment for f in t1.feedback] == ["a", "b"]
    assert accepted == 5 and t2 is not None and len(t2.feedback) == 5


def test_feedback_is_listed_newest_first_and_by_rating(new_store: StoreFactory) -> None:
    store = new_store()
    store.submit(trace(1))
    store.submit(trace(2))
    store.flush()
    for trace_id, rating, comment in (("t1", 5, "great"), ("t2", 1, "wrong"), ("t1", 3, "meh")):
        store.add_feedback(trace_id, rating, comment, max_per_trace=5)

    def listed(**query: Any) -> list[tuple[str, int, str]]:
        return [(e.trace_id, e.rating, e.comment) for e in store.feedback(FeedbackQuery(**query))]

    assert listed() == [("t1", 3, "meh"), ("t2", 1, "wrong"), ("t1", 5, "great")]
    assert listed(max_rating=3) == [("t1", 3, "meh"), ("t2", 1, "wrong")]
    assert listed(min_rating=2, max_rating=4) == [("t1", 3, "meh")]
    assert listed(limit=1, offset=1) == [("t2", 1, "wrong")]
    entry = store.feedback(FeedbackQuery(limit=1))[0]
    store.close()
    assert entry.created_at.tzinfo is not None and entry.created_at <= utc_now()


def test_retention_keeps_the_newest(new_store: StoreFactory) -> None:
    store = new_store(max_traces=3)
    old = utc_now() - timedelta(days=400)
    store.submit(trace(0, created_at=old))
    for n in range(1, 6):
        store.submit(trace(n))
    store.flush()
    for n in (0, 1, 5):
        store.add_feedback(f"t{n}", 4, "", max_per_trace=5)
    assert store.prune() == 3
    assert {t.trace_id for t in store.find(TraceQuery())} == {"t3", "t4", "t5"}
    assert [e.trace_id for e in store.feedback(FeedbackQuery())] == ["t5"]  # the rest went along
    store.close()


def test_replicas_opening_one_new_database_at_once_migrate_it_once(
    new_store: StoreFactory,
) -> None:
    start = threading.Barrier(4)

    def opened(_: int) -> TraceStore:
        start.wait()
        return new_store()

    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(opened, range(4)))
    db = stores[0]._db.open()
    recorded = db.execute("SELECT version FROM schema_migrations WHERE component = 'traces'")
    versions = sorted(version for (version,) in recorded)
    db.close()
    for store in stores:
        store.close()
    assert versions == [1, 2, 3, 4]


def test_a_database_migrated_by_a_newer_version_is_refused(new_store: StoreFactory) -> None:
    store = new_store()
    store.close()
    db = store._db.open()  # a connection of its own, not from the closed store's pool
    db.execute("INSERT INTO schema_migrations (component, version) VALUES ('traces', 99)")
    db.close()
    with pytest.raises(ConfigError, match="at migration 99, this version of ragsvc knows up to 4"):
        new_store()


def test_a_store_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    TraceStore(TraceSettings(path=path)).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match="schema version 99"):
        TraceStore(TraceSettings(path=path))


def test_a_locked_database_delays_traces_but_loses_none(tmp_path: Path) -> None:
    settings = TraceSettings(path=tmp_path / "t.sqlite")
    store = TraceStore(settings, busy_timeout_s=0.5)
    store.submit(trace(0))
    assert store.flush()
    with locked(settings.path):
        lock_taken = time.monotonic()
        for n in range(1, 21):
            store.submit(trace(n))
        assert wait_until(lambda: not store.health().last_write_ok)
        during = store.health()
        started = time.monotonic()
        read = store.get("t0"), store.get("t20"), store.find(TraceQuery())
        read_s = time.monotonic() - started
        started = time.monotonic()
        with pytest.raises(TraceStoreUnavailableError, match="database is locked"):
            store.add_feedback("t0", 4, "", max_per_trace=5)
        feedback_s = time.monotonic() - started
        time.sleep(max(0.0, 3.0 - (time.monotonic() - lock_taken)))
    assert store.flush()
    after = store.health()
    store.close()
    assert during.alive and during.pending == 20 and during.last_error_at is not None
    assert "database is locked" in (during.last_error or "")
    # reads do not wait for the writer's lock (WAL), pending traces come from memory
    assert read[0] is not None and read[1] is not None and len(read[2]) == 1 and read_s < 0.5
    assert 0.4 < feedback_s < 2.0  # waited the busy timeout, no longer
    assert after.last_write_ok and after.pending == 0 and after.dropped == 0 and after.errors >= 1
    assert stored_ids(settings.path) == {f"t{n}" for n in range(21)}


def test_a_lock_shorter_than_the_busy_timeout_is_waited_out(tmp_path: Path) -> None:
    settings = TraceSettings(path=tmp_path / "t.sqlite")
    store = TraceStore(settings)
    with locked(settings.path):
        store.submit(trace(1))
        time.sleep(0.5)
    assert store.flush()
    health = store.health()
    store.close()
    assert health.errors == 0 and health.last_write_ok and health.last_error is None
    assert stored_ids(settings.path) == {"t1"}


def test_a_full_database_keeps_traces_until_there_is_room(tmp_path: Path) -> None:
    settings = TraceSettings(path=tmp_path / "t.sqlite")
    store = TraceStore(settings)
    store.submit(trace(0))
    assert store.flush()
    writer_db = store._writer_db  # a page cap on the writer's connection: a disk that is full
    (pages,) = writer_db.execute("PRAGMA page_count").fetchone()
    writer_db.execute(f"PRAGMA max_page_count = {pages}")
    for n in range(1, 31):
        store.submit(trace(n, answer="x" * 5000))  # each needs new pages
    assert wait_until(lambda: not store.health().last_write_ok)
    during = store.health()
    writer_db.execute("PRAGMA max_page_count = 1073741823")
    assert store.flush()
    after = store.health()
    store.close()
    assert "SQLITE_FULL" in (during.last_error or "") and during.pending == 30
    assert after.last_write_ok and after.dropped == 0
    assert stored_ids(settings.path) == {f"t{n}" for n in range(31)}


def test_the_writer_survives_any_exception_and_logs_each_kind_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = TraceSettings(path=tmp_path / "t.sqlite")
    store = TraceStore(settings)
    insert, failures = store._insert, [RuntimeError("disk gremlin")] * 3

    def flaky(db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        if failures:
            raise failures.pop()
        insert(db, rows)

    monkeypatch.setattr(store, "_insert", flaky)
    with caplog.at_level(logging.WARNING, logger="ragsvc.traces.store"):
        store.submit(trace(1))
        assert store.flush()
    health = store.health()
    store.close()
    assert health.alive and health.errors == 3 and health.last_write_ok
    assert health.last_error == "RuntimeError: disk gremlin"
    assert stored_ids(settings.path) == {"t1"}
    messages = [r.getMessage() for r in caplog.records]
    assert sum("disk gremlin" in m for m in messages) == 1
    assert any("recovered after 3 failed attempts" in m for m in messages)


def test_a_trace_that_cannot_be_stored_is_dropped_and_counted(tmp_path: Path) -> None:
    settings = TraceSettings(path=tmp_path / "t.sqlite")
    store = TraceStore(settings)
    store.submit(trace(1, filters={"when": object()}))
    store.submit(trace(2))
    assert store.flush()
    health = store.health()
    store.close()
    assert health.alive and health.dropped == 1 and health.errors == 1 and health.last_write_ok
    assert "PydanticSerializationError" in (health.last_error or "")
    assert stored_ids(settings.path) == {"t2"}


def test_beyond_max_pending_the_oldest_waiting_traces_are_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = TraceSettings(path=tmp_path / "t.sqlite", max_pending=3)
    store = TraceStore(settings, busy_timeout_s=0.2)
    with locked(settings.path):
        store.submit(trace(0))
        assert wait_until(lambda: not store.health().last_write_ok)  # the writer holds t0
        with caplog.at_level(logging.WARNING, logger="ragsvc.traces.store"):
            for n in range(1, 11):
                store.submit(trace(n))
        during = store.health()
        gone, kept = store.get("t7"), store.get("t8")
    assert store.flush()
    after = store.health()
    store.close()
    assert during.pending == 4 and during.dropped == 7 and after.dropped == 7
    assert gone is None and kept is not None
    assert stored_ids(settings.path) == {"t0", "t8", "t9", "t10"}
    warnings = [r.getMessage() for r in caplog.records if "max_pending=3" in r.getMessage()]
    assert len(warnings) == 1 and "dropping the oldest" in warnings[0]


def test_close_gives_up_within_its_timeout_and_logs_the_loss(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = TraceSettings(path=tmp_path / "t.sqlite")
    store = TraceStore(settings, busy_timeout_s=0.2)
    with locked(settings.path):
        store.submit(trace(1))
        store.submit(trace(2))
        started = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="ragsvc.traces.store"):
            store.close(timeout_s=0.5)
        closing_s = time.monotonic() - started
    assert closing_s < 1.5 and not store.health().alive
    assert "closed with 2 traces unwritten" in caplog.text


def test_reads_of_an_unusable_database_raise_a_clear_error(tmp_path: Path) -> None:
    settings = TraceSettings(path=tmp_path / "t.sqlite")
    store = TraceStore(settings)
    store.submit(trace(1))
    store.flush()
    settings.path.rename(tmp_path / "moved.sqlite")
    settings.path.mkdir()  # the file is gone and cannot be created again
    reads: list[Callable[[], object]] = [
        lambda: store.get("t1"),
        lambda: store.find(TraceQuery()),
        lambda: store.stats(),
        lambda: store.feedback(FeedbackQuery()),
    ]
    for read in reads:
        with pytest.raises(TraceStoreUnavailableError, match="retry in a few seconds"):
            read()
    store.close()
