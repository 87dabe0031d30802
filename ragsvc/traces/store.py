"""Traces in SQLite (one file) or PostgreSQL (shared by replicas), written off the request's
critical path. The tables are migrated when the store opens (:mod:`ragsvc.db`).

``submit()`` only queues the trace; one writer thread inserts queued traces in batches and applies
retention (age and count). Until written, a trace is served from memory, so
``GET /v1/traces/{id}`` works at once.

A locked, full or unreachable database loses nothing: a lock shorter than the busy timeout is
waited out, and a batch that still fails stays with the writer (which opens its connection again
when the server dropped it) and is retried with backoff until it is written or the store closes.
The writer catches every exception: each is counted in :meth:`TraceStore.health` (for
``/readyz``) and logged the first time its kind occurs until writes recover. Memory is bounded: at
most ``traces.max_pending`` traces wait behind the writer's batch; beyond that the oldest waiting
ones are dropped, counted and logged. ``close()`` writes what it can within its timeout and logs
what it could not.

Reads and feedback take a connection of their own per call (PostgreSQL: from a pool), so a request
never waits behind the writer and waits for a lock at most the busy timeout, then gets
:class:`~ragsvc.errors.TraceStoreUnavailableError`. (In WAL mode a writer does not block readers.)
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, Literal

import numpy as np

from ragsvc.db import (
    BUSY_TIMEOUT_S,
    Connection,
    Database,
    Migration,
    SqliteDatabase,
    open_database,
)
from ragsvc.errors import ConfigError, FeedbackLimitError
from ragsvc.settings import CONTROL, Settings, TraceSettings
from ragsvc.traces.schema import TRACE_SCHEMA_VERSION, Feedback, Trace, utc_now

log = logging.getLogger(__name__)

_MIGRATIONS = (
    Migration(
        1,
        (
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            """CREATE TABLE IF NOT EXISTS traces (
                trace_id TEXT PRIMARY KEY,
                created_at TEXT NOT NULL,
                route TEXT NOT NULL,
                degraded INTEGER NOT NULL,
                language TEXT NOT NULL,
                cost_usd {double} NOT NULL,
                all_llm_cost_usd {double} NOT NULL,
                latency_ms {double} NOT NULL,
                body TEXT NOT NULL
            )""",
            "CREATE INDEX IF NOT EXISTS traces_created ON traces (created_at)",
            "CREATE INDEX IF NOT EXISTS traces_route ON traces (route, created_at)",
            """CREATE TABLE IF NOT EXISTS feedback (
                {row_id}
                trace_id TEXT NOT NULL,
                rating INTEGER NOT NULL,
                comment TEXT NOT NULL,
                created_at TEXT NOT NULL
            )""",
            "CREATE INDEX IF NOT EXISTS feedback_trace ON feedback (trace_id)",
        ),
    ),
    # joined messages: the route of each part
    Migration(
        2,
        ("ALTER TABLE traces ADD COLUMN part_routes TEXT NOT NULL DEFAULT ''",),
        unless_column=("traces", "part_routes"),
    ),
    # the question as a column: the text filter reads it on either engine
    Migration(
        3,
        (
            "ALTER TABLE traces ADD COLUMN question TEXT NOT NULL DEFAULT ''",
            "UPDATE traces SET question = {question_of_body}",
        ),
        unless_column=("traces", "question"),
    ),
    # routing variants: which one answered, and whether the SLM's answer was escalated
    Migration(
        4,
        (
            "ALTER TABLE traces ADD COLUMN variant TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE traces ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0",
        ),
        unless_column=("traces", "variant"),
    ),
)
_COLUMNS = (
    "trace_id, created_at, route, degraded, language, cost_usd, all_llm_cost_usd, latency_ms, "
    "body, part_routes, question, variant, escalated"
)
_UPSERT = (
    f"INSERT INTO traces ({_COLUMNS}) VALUES ({', '.join('?' * len(_COLUMNS.split(', ')))}) "
    "ON CONFLICT (trace_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", ")[1:])
)
_BATCH = 100
_PRUNE_EVERY = 200
_RETRY_FIRST_S = 0.05
_RETRY_MAX_S = 5.0


Rating = Literal["up", "down", "none"]
_FEEDBACK_OF_TRACE = "SELECT 1 FROM feedback f WHERE f.trace_id = traces.trace_id"
_RATED = {
    "up": f"EXISTS ({_FEEDBACK_OF_TRACE} AND f.rating >= 4)",
    "down": f"EXISTS ({_FEEDBACK_OF_TRACE} AND f.rating <= 2)",
    "none": f"NOT EXISTS ({_FEEDBACK_OF_TRACE})",
}


@dataclass(frozen=True, slots=True)
class TracePoint:
    """One stored trace as the stats charts plot it."""

    created_at: datetime
    route: str
    latency_ms: float
    cost_usd: float
    all_llm_cost_usd: float


@dataclass(frozen=True, slots=True)
class VariantAnswer:
    """One stored answer as the variant comparison reads it."""

    variant: str
    route: str
    part_routes: tuple[str, ...]
    """Each part's route (the message's own for a one-question message)."""
    cost_usd: float
    latency_ms: float
    escalated: bool
    degraded: bool


@dataclass(frozen=True, slots=True)
class RatedAnswer:
    """One feedback entry with the variant and route of the answer it rates."""

    variant: str
    route: str
    rating: int
    created_at: datetime


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
    text: str | None = None
    """Words the question contains (case-insensitive for ASCII)."""
    rating: Rating | None = None
    """Traces with feedback rated ``up`` (4-5) or ``down`` (1-2), or with ``none``."""


@dataclass(frozen=True, slots=True)
class FeedbackQuery:
    min_rating: int | None = None
    max_rating: int | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class FeedbackEntry:
    trace_id: str
    rating: int
    comment: str
    created_at: datetime


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
    part_routes: dict[str, int]
    """Answers per route counted per part: a message with one question once, a joined message
    once per part (its ``routes`` entry is the costliest of its parts' routes)."""


@dataclass(frozen=True, slots=True)
class TraceStoreHealth:
    """The trace writer's state for ``/readyz``: a writer that is not alive or whose last write
    failed makes the instance degraded, not unready, since answers do not depend on it."""

    alive: bool
    """Whether the writer thread runs (it catches every exception, so it should)."""
    pending: int
    """Traces in memory, not yet written: the writer's batch and those queued behind it."""
    dropped: int
    """Traces given up unwritten since start: the oldest queued beyond ``traces.max_pending``, and
    any that could not be serialised."""
    errors: int
    """Exceptions the writer caught since start (a failed batch is kept and retried)."""
    last_write_ok: bool
    """False from a failed write until the next one succeeds."""
    last_error: str | None
    last_error_at: datetime | None


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def _error_kind(exc: Exception) -> str:
    """What "logged once per kind" means: ``OperationalError (SQLITE_BUSY)``,
    ``OperationalError (57P01)`` (PostgreSQL's SQLSTATE), ``RuntimeError``."""
    code = getattr(exc, "sqlite_errorname", None) or getattr(exc, "sqlstate", None)
    return f"{type(exc).__name__} ({code})" if code else type(exc).__name__


class TraceStore:
    def __init__(
        self,
        settings: TraceSettings,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
        database: Database | None = None,
    ) -> None:
        """On ``database`` (closed with the store), else on the SQLite file ``traces.path``."""
        self.settings = settings
        self._busy_timeout_s = busy_timeout_s
        self._db = database or SqliteDatabase(settings.path, busy_timeout_s)
        try:
            self._prepare()
            self._writer_db: Connection | None = self._db.open()
        except BaseException:
            self._db.close()
            raise
        self._changed = threading.Condition()
        self._queued: dict[str, Trace] = {}  # insertion order: the oldest first
        self._batch: dict[str, Trace] = {}  # taken by the writer; kept until written
        self._closing = threading.Event()
        self._drain_deadline = math.inf
        self._dropping = False
        self._dropped = 0
        self._errors = 0
        self._failed_attempts = 0  # in a row; 0 once a write succeeds
        self._logged_kinds: set[str] = set()
        self._last_error: str | None = None
        self._last_error_at: datetime | None = None
        self._writer = threading.Thread(target=self._write_loop, name="trace-writer", daemon=True)
        self._writer.start()

    @property
    def database(self) -> Database:
        """The database the traces are on (the routing control keeps its state beside them)."""
        return self._db

    def _prepare(self) -> None:
        """Migrate the tables; refuse a store whose traces another trace schema wrote."""
        self._db.migrate("traces", _MIGRATIONS)
        with self._db.connection() as db, self._db.transaction(db):
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:  # another replica may be writing it too
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT (key) DO NOTHING",
                    (str(TRACE_SCHEMA_VERSION),),
                )
        if row is not None and int(row[0]) != TRACE_SCHEMA_VERSION:
            raise ConfigError(
                f"trace store {self._db.name} has schema version {row[0]}, this version needs "
                f"{TRACE_SCHEMA_VERSION}; move the file away or set traces.path (or database.url) "
                "to a new store"
            )

    @contextmanager
    def _database(self) -> Iterator[Connection]:
        """A connection for one read or feedback write, returned after it."""
        with self._db.serving("trace store") as db:
            yield db

    # -- writes ---------------------------------------------------------------------------------
    def submit(self, trace: Trace) -> None:
        """Queue ``trace`` for the writer; never waits for the database."""
        with self._changed:
            queued = self._queued
            if trace.trace_id not in queued and len(queued) >= self.settings.max_pending:
                del queued[next(iter(queued))]
                self._dropped += 1
                if not self._dropping:
                    self._dropping = True
                    log.warning(
                        "trace queue full (traces.max_pending=%d): dropping the oldest unwritten "
                        "traces until the writer catches up; /readyz counts them",
                        self.settings.max_pending,
                    )
            queued[trace.trace_id] = trace
            self._changed.notify_all()

    def _writer_connection(self) -> Connection:
        """The writer's connection, opened again after the database dropped it."""
        db = self._writer_db
        if db is None or not self._db.usable(db):
            self._writer_db = None
            if db is not None:
                db.close()
            db = self._writer_db = self._db.open()
        return db

    def _write_loop(self) -> None:
        retry_s = 0.0
        since_prune = 0
        try:
            while (batch := self._next_batch(retry_s)) is not None:
                try:
                    self._insert(self._writer_connection(), self._rows(batch))
                except Exception as exc:  # the writer outlives any failure; the batch is kept
                    self._failed(exc, f"{len(batch)} traces kept in memory, retried with backoff")
                    retry_s = min(max(2 * retry_s, _RETRY_FIRST_S), _RETRY_MAX_S)
                    continue
                retry_s = 0.0
                self._written()
                since_prune += len(batch)
                if since_prune >= _PRUNE_EVERY:
                    since_prune = 0
                    try:
                        self._prune(self._writer_connection())
                    except Exception as exc:  # not fatal either
                        self._failed(exc, "retention runs again after the next writes")
        finally:
            if self._writer_db is not None:
                self._writer_db.close()

    def _next_batch(self, retry_s: float) -> list[Trace] | None:
        """The traces to write next (after ``retry_s`` of backoff, the batch that failed), or None
        once the store is closing and nothing is left or the drain deadline has passed."""
        if retry_s:
            self._back_off(retry_s)
        with self._changed:
            while not self._batch:
                if self._queued:
                    for trace_id in list(islice(self._queued, _BATCH)):
                        self._batch[trace_id] = self._queued.pop(trace_id)
                elif self._closing.is_set():
                    return None
                else:
                    self._changed.wait()
            if time.monotonic() >= self._drain_deadline:
                return None
            return list(self._batch.values())

    def _back_off(self, seconds: float) -> None:
        """Wait before a retry: the start of ``close()`` cuts the wait short, and while draining
        no wait runs past the drain deadline."""
        if self._closing.is_set():
            time.sleep(max(0.0, min(seconds, self._drain_deadline - time.monotonic())))
        else:
            self._closing.wait(seconds)

    def _rows(self, batch: list[Trace]) -> list[tuple[Any, ...]]:
        """Rows for ``batch``; a trace that cannot be serialised is dropped (it never could be)."""
        rows = []
        for t in batch:
            try:
                body = t.model_dump_json(exclude={"feedback"})
            except Exception as exc:  # e.g. a filter value JSON cannot hold
                with self._changed:
                    del self._batch[t.trace_id]
                    self._dropped += 1
                    self._note(exc, f"trace {t.trace_id} dropped, it cannot be stored")
                continue
            rows.append(
                (
                    t.trace_id,
                    t.created_at.isoformat(),
                    t.route,
                    int(t.degraded),
                    t.language,
                    t.cost_usd,
                    t.all_llm_cost_usd,
                    t.latency_ms,
                    body,
                    ",".join(part.route for part in t.parts),
                    t.question,
                    t.variant or "",
                    int(t.escalated()),
                )
            )
        return rows

    def _insert(self, db: Connection, rows: list[tuple[Any, ...]]) -> None:
        with self._db.transaction(db):
            db.executemany(_UPSERT, rows)

    def _written(self) -> None:
        with self._changed:
            self._batch.clear()
            if self._failed_attempts:
                log.warning(
                    "trace writes to %s recovered after %d failed attempts",
                    self._db.name,
                    self._failed_attempts,
                )
                self._failed_attempts = 0
                self._logged_kinds.clear()
            if self._dropping and not self._queued:
                self._dropping = False
                log.warning("the trace writer caught up; %d traces dropped so far", self._dropped)
            self._changed.notify_all()

    def _failed(self, exc: Exception, consequence: str) -> None:
        with self._changed:
            self._failed_attempts += 1
            self._note(exc, consequence)

    def _note(self, exc: Exception, consequence: str) -> None:
        """Count ``exc`` (the caller holds ``_changed``) and log it if its kind is new since writes
        last recovered."""
        kind = _error_kind(exc)
        self._errors += 1
        self._last_error = f"{kind}: {exc}"
        self._last_error_at = utc_now()
        if kind not in self._logged_kinds:
            self._logged_kinds.add(kind)
            log.error(
                "trace store %s: %s: %s; %s (until writes recover, further %s errors are only "
                "counted, in /readyz)",
                self._db.name,
                kind,
                exc,
                consequence,
                kind,
                exc_info=None if isinstance(exc, self._db.errors) else exc,
            )

    def prune(self) -> int:
        """Apply retention: drop traces older than ``retention_days`` and beyond ``max_traces``,
        with their feedback."""
        with self._database() as db:
            return self._prune(db)

    def _prune(self, db: Connection) -> int:
        cutoff = (utc_now() - timedelta(days=self.settings.retention_days)).isoformat()
        over = (
            "SELECT trace_id FROM traces WHERE trace_id NOT IN "
            "(SELECT trace_id FROM traces ORDER BY created_at DESC LIMIT ?)"
        )
        keep = self.settings.max_traces
        with self._db.transaction(db):
            # feedback goes with its trace; feedback on a trace that was never written (dropped)
            # goes when it is as old as the retention
            db.execute(
                "DELETE FROM feedback WHERE created_at < ? OR trace_id IN "
                f"(SELECT trace_id FROM traces WHERE created_at < ?) OR trace_id IN ({over})",
                (cutoff, cutoff, keep),
            )
            count = db.execute("DELETE FROM traces WHERE created_at < ?", (cutoff,)).rowcount
            count += db.execute(f"DELETE FROM traces WHERE trace_id IN ({over})", (keep,)).rowcount
        return int(count)

    def add_feedback(self, trace_id: str, rating: int, comment: str, *, max_per_trace: int) -> bool:
        """Store a rating for a written or still pending trace; False when there is no such trace.

        Written at once, keyed by trace id, without waiting for the trace writer; the count and the
        insert share one transaction, so the cap holds for concurrent requests and processes.
        Raises :class:`FeedbackLimitError` when the trace has ``max_per_trace`` entries already,
        :class:`TraceStoreUnavailableError` when the database stays locked past the busy timeout.
        """
        with self._changed:
            pending = trace_id in self._queued or trace_id in self._batch
        with self._database() as db, self._db.transaction(db, lock="feedback"):
            if (
                not pending
                and not db.execute(
                    "SELECT 1 FROM traces WHERE trace_id = ?", (trace_id,)
                ).fetchone()
            ):
                return False
            (count,) = db.execute(
                "SELECT count(*) FROM feedback WHERE trace_id = ?", (trace_id,)
            ).fetchone()
            if count >= max_per_trace:
                raise FeedbackLimitError(
                    f"trace {trace_id!r} already has {count} feedback entries, the most one trace "
                    f"takes ({max_per_trace})"
                )
            db.execute(
                "INSERT INTO feedback (trace_id, rating, comment, created_at) VALUES (?, ?, ?, ?)",
                (trace_id, rating, comment, utc_now().isoformat()),
            )
        return True

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every submitted trace is written or given up (tests, evaluation); False when
        some were still pending after ``timeout_s``."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._queued and not self._batch, timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the writer once everything queued is written, or after ``timeout_s``; what it
        could not write by then is logged as lost."""
        with self._changed:
            self._drain_deadline = time.monotonic() + timeout_s
            self._closing.set()
            self._changed.notify_all()
        # a write under way at the deadline may still wait out the busy timeout
        self._writer.join(timeout_s + self._busy_timeout_s + 1.0)
        self._db.close()
        health = self.health()
        if health.pending:
            log.error(
                "trace store %s closed with %d traces unwritten, now lost (last error: %s)",
                self._db.name,
                health.pending,
                health.last_error,
            )

    def health(self) -> TraceStoreHealth:
        with self._changed:
            return TraceStoreHealth(
                alive=self._writer.is_alive(),
                pending=len(self._queued) + len(self._batch),
                dropped=self._dropped,
                errors=self._errors,
                last_write_ok=self._failed_attempts == 0,
                last_error=self._last_error,
                last_error_at=self._last_error_at,
            )

    # -- reads ----------------------------------------------------------------------------------
    def get(self, trace_id: str) -> Trace | None:
        """The trace, written or still pending, with its feedback; None when there is none."""
        with self._changed:
            pending = self._queued.get(trace_id) or self._batch.get(trace_id)
        with self._database() as db:
            if pending is None:
                row = db.execute(
                    "SELECT body FROM traces WHERE trace_id = ?", (trace_id,)
                ).fetchone()
                if row is None:
                    return None
            feedback = db.execute(
                "SELECT rating, comment, created_at FROM feedback WHERE trace_id = ? "
                "ORDER BY created_at",
                (trace_id,),
            ).fetchall()
        trace = Trace.model_validate_json(row[0]) if pending is None else pending.model_copy()
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
        if q.text:
            escaped = q.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append(self._db.sql("question {like} ? ESCAPE '\\'"))
            params.append(f"%{escaped}%")
        if q.rating is not None:
            clauses.append(_RATED[q.rating])
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def find(self, q: TraceQuery) -> list[Trace]:
        """Written traces matching ``q``, newest first, each with its feedback."""
        where, params = self._where(q)
        with self._database() as db:
            rows = db.execute(
                f"SELECT body FROM traces{where} ORDER BY created_at DESC LIMIT ? OFFSET ?",
                [*params, q.limit, q.offset],
            ).fetchall()
            traces = [Trace.model_validate_json(body) for (body,) in rows]
            by_id = {t.trace_id: t for t in traces}
            marks = ",".join("?" * len(by_id))
            feedback: Iterable[Any] = (
                db.execute(
                    "SELECT trace_id, rating, comment, created_at FROM feedback "
                    f"WHERE trace_id IN ({marks}) ORDER BY created_at",
                    list(by_id),
                )
                if by_id
                else []
            )
            for trace_id, rating, comment, at in feedback:
                by_id[trace_id].feedback.append(
                    Feedback(rating=rating, comment=comment, created_at=datetime.fromisoformat(at))
                )
        return traces

    def count(self, q: TraceQuery) -> int:
        """How many written traces match ``q`` (its limit and offset aside)."""
        where, params = self._where(q)
        with self._database() as db:
            (total,) = db.execute(f"SELECT COUNT(*) FROM traces{where}", params).fetchone()
        return int(total)

    def points(self, since: datetime | None = None) -> list[TracePoint]:
        """Every written trace since ``since``, oldest first, as the stats charts plot it."""
        rows = self._since(
            "created_at, route, latency_ms, cost_usd, all_llm_cost_usd",
            since,
            " ORDER BY created_at",
        )
        return [TracePoint(datetime.fromisoformat(at), *rest) for at, *rest in rows]

    def _since(self, columns: str, since: datetime | None, order: str = "") -> list[Any]:
        """``columns`` of every written trace since ``since`` (all when None)."""
        where, params = self._where(TraceQuery(since=since))
        with self._database() as db:
            return db.execute(f"SELECT {columns} FROM traces{where}{order}", params).fetchall()

    def variant_answers(self, since: datetime | None = None) -> list[VariantAnswer]:
        """Every written answer since ``since`` with its variant (``control`` for an answer
        stored before variants existed)."""
        rows = self._since(
            "variant, route, part_routes, cost_usd, latency_ms, escalated, degraded", since
        )
        return [
            VariantAnswer(
                variant or CONTROL,
                route,
                tuple(parts.split(",")) if parts else (route,),
                cost,
                latency,
                bool(escalated),
                bool(degraded),
            )
            for variant, route, parts, cost, latency, escalated, degraded in rows
        ]

    def ratings(self, since: datetime | None = None) -> list[RatedAnswer]:
        """Feedback given since ``since``, with the variant and route of the rated answer."""
        where, params = ("", []) if since is None else (" WHERE f.created_at >= ?", [since])
        with self._database() as db:
            rows = db.execute(
                "SELECT t.variant, t.route, f.rating, f.created_at FROM feedback f "
                f"JOIN traces t ON t.trace_id = f.trace_id{where}",
                [p.isoformat() for p in params],
            ).fetchall()
        return [
            RatedAnswer(variant or CONTROL, route, rating, datetime.fromisoformat(at))
            for variant, route, rating, at in rows
        ]

    def feedback(self, q: FeedbackQuery) -> list[FeedbackEntry]:
        """Stored feedback, newest first, optionally within a rating range (for operators)."""
        clauses: list[str] = []
        params: list[Any] = []
        if q.min_rating is not None:
            clauses.append("rating >= ?")
            params.append(q.min_rating)
        if q.max_rating is not None:
            clauses.append("rating <= ?")
            params.append(q.max_rating)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        with self._database() as db:
            rows = db.execute(
                f"SELECT trace_id, rating, comment, created_at FROM feedback{where} "
                + self._db.sql("ORDER BY created_at DESC, {row_order} DESC LIMIT ? OFFSET ?"),
                [*params, q.limit, q.offset],
            ).fetchall()
        return [FeedbackEntry(t, r, c, datetime.fromisoformat(at)) for t, r, c, at in rows]

    def stats(self, since: datetime | None = None) -> Stats:
        rows = self._since(
            "route, degraded, cost_usd, all_llm_cost_usd, latency_ms, part_routes", since
        )
        by_route: dict[str, list[tuple[float, float]]] = {}
        part_routes: Counter[str] = Counter()
        for route, _, cost, _, latency, parts in rows:
            by_route.setdefault(route, []).append((latency, cost))
            part_routes.update(parts.split(",") if parts else [route])
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
            part_routes=dict(sorted(part_routes.items())),
        )


def open_trace_store(settings: Settings) -> TraceStore:
    """The service's trace store: on ``database.url`` when set, else ``traces.path``."""
    return TraceStore(
        settings.traces, database=open_database(settings.database, settings.traces.path)
    )
