"""Traces in SQLite (one file, schema-versioned), written off the request's critical path.

``submit()`` only queues the trace; one writer thread inserts queued traces in batches and applies
retention (age and count). ``close()`` drains the queue before returning, so a clean shutdown loses
no trace. Until written, a trace is served from memory, so ``GET /v1/traces/{id}`` works at once.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ragsvc.errors import ConfigError
from ragsvc.settings import TraceSettings
from ragsvc.traces.schema import TRACE_SCHEMA_VERSION, Feedback, Trace, utc_now

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    route TEXT NOT NULL,
    degraded INTEGER NOT NULL,
    language TEXT NOT NULL,
    cost_usd REAL NOT NULL,
    all_llm_cost_usd REAL NOT NULL,
    latency_ms REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_created ON traces (created_at);
CREATE INDEX IF NOT EXISTS traces_route ON traces (route, created_at);
CREATE TABLE IF NOT EXISTS feedback (
    trace_id TEXT NOT NULL,
    rating INTEGER NOT NULL,
    comment TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_trace ON feedback (trace_id);
"""
_STOP = object()
_PRUNE_EVERY = 200


@dataclass(frozen=True, slots=True)
class TraceQuery:
    route: str | None = None
    degraded: bool | None = None
    language: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_cost_usd: float | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class RouteStats:
    route: str
    count: int
    p50_ms: float
    p95_ms: float
    cost_usd: float


@dataclass(frozen=True, slots=True)
class Stats:
    questions: int
    degraded: int
    cost_usd: float
    all_llm_cost_usd: float
    routes: list[RouteStats]
    p50_ms: float
    p95_ms: float


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


class TraceStore:
    def __init__(self, settings: TraceSettings) -> None:
        self.settings = settings
        self._queue: queue.Queue[object] = queue.Queue()
        self._pending: dict[str, Trace] = {}
        self._lock = threading.Lock()
        self._db = self._connect(settings.path)
        self._writer = threading.Thread(target=self._write_loop, name="trace-writer", daemon=True)
        self._writer.start()

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(TRACE_SCHEMA_VERSION),),
            )
        elif int(row[0]) != TRACE_SCHEMA_VERSION:
            db.close()
            raise ConfigError(
                f"trace store {path} has schema version {row[0]}, this version needs "
                f"{TRACE_SCHEMA_VERSION}; move the file away or set traces.path to a new file"
            )
        return db

    # -- writes ---------------------------------------------------------------------------------
    def submit(self, trace: Trace) -> None:
        with self._lock:
            self._pending[trace.trace_id] = trace
        self._queue.put(trace)

    def _write_loop(self) -> None:
        written = 0
        while True:
            item = self._queue.get()
            batch = [item]
            while not self._queue.empty() and len(batch) < 100:
                batch.append(self._queue.get_nowait())
            traces = [t for t in batch if isinstance(t, Trace)]
            try:
                self._insert(traces)
            except sqlite3.Error:
                log.exception("could not write %d traces", len(traces))
            written += len(traces)
            if written >= _PRUNE_EVERY:
                written = 0
                self.prune()
            if any(t is _STOP for t in batch):
                return

    def _insert(self, traces: list[Trace]) -> None:
        rows = [
            (
                t.trace_id,
                t.created_at.isoformat(),
                t.route,
                int(t.degraded),
                t.language,
                t.cost_usd,
                t.all_llm_cost_usd,
                t.latency_ms,
                t.model_dump_json(exclude={"feedback"}),
            )
            for t in traces
        ]
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO traces VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
            for t in traces:
                self._pending.pop(t.trace_id, None)

    def prune(self) -> int:
        """Apply retention: drop traces older than ``retention_days`` and beyond ``max_traces``."""
        cutoff = (utc_now() - timedelta(days=self.settings.retention_days)).isoformat()
        with self._lock:
            removed = self._db.execute("DELETE FROM traces WHERE created_at < ?", (cutoff,))
            count = removed.rowcount
            over = self._db.execute(
                "DELETE FROM traces WHERE trace_id IN (SELECT trace_id FROM traces "
                "ORDER BY created_at DESC LIMIT -1 OFFSET ?)",
                (self.settings.max_traces,),
            )
            count += over.rowcount
            self._db.execute(
                "DELETE FROM feedback WHERE trace_id NOT IN (SELECT trace_id FROM traces)"
            )
        return count

    def add_feedback(self, trace_id: str, rating: int, comment: str) -> bool:
        if self.get(trace_id) is None:
            return False
        with self._lock:
            self._db.execute(
                "INSERT INTO feedback VALUES (?, ?, ?, ?)",
                (trace_id, rating, comment, utc_now().isoformat()),
            )
        return True

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until every submitted trace is written (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    return
            time.sleep(0.01)

    def close(self) -> None:
        self._queue.put(_STOP)
        self._writer.join(timeout=30)
        with self._lock:
            self._db.close()

    # -- reads ----------------------------------------------------------------------------------
    def get(self, trace_id: str) -> Trace | None:
        with self._lock:
            pending = self._pending.get(trace_id)
            if pending is not None:
                return pending
            row = self._db.execute(
                "SELECT body FROM traces WHERE trace_id = ?", (trace_id,)
            ).fetchone()
            if row is None:
                return None
            feedback = self._db.execute(
                "SELECT rating, comment, created_at FROM feedback WHERE trace_id = ? "
                "ORDER BY created_at",
                (trace_id,),
            ).fetchall()
        trace = Trace.model_validate_json(row[0])
        trace.feedback = [
            Feedback(rating=r, comment=c, created_at=datetime.fromisoformat(t))
            for r, c, t in feedback
        ]
        return trace

    def _where(self, q: TraceQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("route", q.route), ("language", q.language)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if q.degraded is not None:
            clauses.append("degraded = ?")
            params.append(int(q.degraded))
        if q.since is not None:
            clauses.append("created_at >= ?")
            params.append(q.since.isoformat())
        if q.until is not None:
            clauses.append("created_at < ?")
            params.append(q.until.isoformat())
        if q.min_cost_usd is not None:
            clauses.append("cost_usd >= ?")
            params.append(q.min_cost_usd)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def find(self, q: TraceQuery) -> list[Trace]:
        """Written traces matching ``q``, newest first."""
        where, params = self._where(q)
        with self._lock:
            rows = self._db.execute(
                f"SELECT body FROM traces{where} ORDER BY created_at DESC LIMIT ? OFFSET ?",
                [*params, q.limit, q.offset],
            ).fetchall()
        return [Trace.model_validate_json(body) for (body,) in rows]

    def stats(self, since: datetime | None = None) -> Stats:
        where, params = self._where(TraceQuery(since=since))
        with self._lock:
            rows = self._db.execute(
                "SELECT route, degraded, cost_usd, all_llm_cost_usd, latency_ms "
                f"FROM traces{where}",
                params,
            ).fetchall()
        by_route: dict[str, list[tuple[float, float]]] = {}
        for route, _, cost, _, latency in rows:
            by_route.setdefault(route, []).append((latency, cost))
        routes = [
            RouteStats(
                route=route,
                count=len(values),
                p50_ms=_percentile([v[0] for v in values], 50),
                p95_ms=_percentile([v[0] for v in values], 95),
                cost_usd=sum(v[1] for v in values),
            )
            for route, values in sorted(by_route.items())
        ]
        latencies = [r[4] for r in rows]
        return Stats(
            questions=len(rows),
            degraded=sum(r[1] for r in rows),
            cost_usd=sum(r[2] for r in rows),
            all_llm_cost_usd=sum(r[3] for r in rows),
            routes=routes,
            p50_ms=_percentile(latencies, 50),
            p95_ms=_percentile(latencies, 95),
        )
