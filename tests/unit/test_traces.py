"""The trace store: written off the request path, nothing lost on close, filters and stats."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from ragsvc.errors import ConfigError
from ragsvc.settings import TraceSettings
from ragsvc.traces.schema import Trace, utc_now
from ragsvc.traces.store import TraceQuery, TraceStore


def trace(n: int, route: str = "faq_direct", **fields: object) -> Trace:
    return Trace(trace_id=f"t{n}", question=f"question {n}", route=route, **fields)  # type: ignore[arg-type]


def test_a_trace_is_readable_at_once_and_after_a_restart(tmp_path: Path) -> None:
    settings = TraceSettings(path=tmp_path / "t.sqlite")
    store = TraceStore(settings)
    store.submit(trace(1))
    assert store.get("t1") is not None  # served from memory before the writer ran
    store.close()
    again = TraceStore(settings)
    stored = again.get("t1")
    assert stored is not None and stored.question == "question 1"
    assert again.get("nope") is None
    again.close()


def test_close_drains_every_queued_trace(tmp_path: Path) -> None:
    settings = TraceSettings(path=tmp_path / "t.sqlite")
    store = TraceStore(settings)
    for n in range(500):
        store.submit(trace(n))
    store.close()
    count = sqlite3.connect(settings.path).execute("SELECT count(*) FROM traces").fetchone()[0]
    assert count == 500


def test_filters_and_stats(tmp_path: Path) -> None:
    store = TraceStore(TraceSettings(path=tmp_path / "t.sqlite"))
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
    store.close()


def test_feedback_is_stored_with_its_trace(tmp_path: Path) -> None:
    store = TraceStore(TraceSettings(path=tmp_path / "t.sqlite"))
    store.submit(trace(1))
    store.flush()
    assert store.add_feedback("t1", 5, "spot on")
    assert not store.add_feedback("missing", 1, "")
    stored = store.get("t1")
    assert stored is not None and [(f.rating, f.comment) for f in stored.feedback] == [
        (5, "spot on")
    ]
    store.close()


def test_retention_keeps_the_newest(tmp_path: Path) -> None:
    store = TraceStore(TraceSettings(path=tmp_path / "t.sqlite", max_traces=3))
    old = utc_now() - timedelta(days=400)
    store.submit(trace(0, created_at=old))
    for n in range(1, 6):
        store.submit(trace(n))
    store.flush()
    assert store.prune() == 3
    assert {t.trace_id for t in store.find(TraceQuery())} == {"t3", "t4", "t5"}
    store.close()


def test_a_store_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    TraceStore(TraceSettings(path=path)).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match="schema version 99"):
        TraceStore(TraceSettings(path=path))
