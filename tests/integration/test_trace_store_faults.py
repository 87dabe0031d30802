"""The trace store while another connection holds the database's write lock for 10 s, longer than
the busy timeout: no trace submitted meanwhile is lost, reads stay fast, and ``health()`` reports
the failing writer during the lock and a recovered one after it. On PostgreSQL, a server restart
(every connection dropped) loses nothing either."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from ragsvc.db import PostgresDatabase
from ragsvc.settings import TraceSettings
from ragsvc.traces.schema import Trace
from ragsvc.traces.store import BUSY_TIMEOUT_S, TraceQuery, TraceStore, TraceStoreHealth
from tests.postgres import Cluster

LOCK_S = 10.0


def trace(n: int) -> Trace:
    return Trace(trace_id=f"t{n}", question=f"question {n}", route="faq_direct")


@pytest.mark.integration
def test_ten_seconds_of_exclusive_lock_lose_no_trace(tmp_path: Path) -> None:
    assert LOCK_S > BUSY_TIMEOUT_S  # the lock must outlast the wait, or nothing fails
    settings = TraceSettings(path=tmp_path / "traces.sqlite")
    store = TraceStore(settings)
    store.submit(trace(0))
    assert store.flush()
    submitted = ["t0"]
    during: list[TraceStoreHealth] = []
    slowest_read_s = 0.0
    with closing(sqlite3.connect(settings.path, isolation_level=None)) as blocker:
        blocker.execute("BEGIN EXCLUSIVE")
        locked_at = time.monotonic()
        while time.monotonic() - locked_at < LOCK_S:
            store.submit(trace(len(submitted)))
            submitted.append(f"t{len(submitted)}")
            started = time.monotonic()
            assert store.get("t0") is not None
            slowest_read_s = max(slowest_read_s, time.monotonic() - started)
            during.append(store.health())
            time.sleep(0.05)
        blocker.execute("ROLLBACK")
    assert store.flush(timeout_s=3 * BUSY_TIMEOUT_S)
    after = store.health()
    store.close()

    failing = [h for h in during if not h.last_write_ok]
    assert failing and all(h.alive for h in during)
    assert "database is locked" in (failing[-1].last_error or "")
    assert failing[-1].pending > 0 and failing[-1].last_error_at is not None
    assert after.alive and after.last_write_ok and after.pending == 0 and after.dropped == 0
    with closing(sqlite3.connect(settings.path)) as db:
        stored = {row[0] for row in db.execute("SELECT trace_id FROM traces")}
    assert stored == set(submitted)
    assert slowest_read_s < 1.0


def test_a_postgresql_restart_loses_no_trace(tmp_path: Path, postgres_cluster: Cluster) -> None:
    url = postgres_cluster.new_database()
    store = TraceStore(
        TraceSettings(path=tmp_path / "unused.sqlite"), database=PostgresDatabase(url)
    )
    store.submit(trace(0))
    assert store.flush()
    postgres_cluster.stop()
    for n in range(1, 11):  # while the server is down
        store.submit(trace(n))
    time.sleep(1.0)
    down = store.health()
    postgres_cluster.start_again()
    assert store.flush(timeout_s=30)
    after = store.health()
    found = store.count(TraceQuery())  # the pool's connections were dropped too: checked, replaced
    store.close()
    assert not down.last_write_ok and down.pending == 10
    assert after.last_write_ok and after.dropped == 0 and found == 11
