"""Where the routing control keeps what the replicas share, beside the traces (the same SQLite
file or PostgreSQL database): the routing state, one JSON document changed in a locked
transaction, and the shadow verdicts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ragsvc.control.state import RoutingState
from ragsvc.db import Connection, Database, Migration
from ragsvc.traces.schema import utc_now

_MIGRATIONS = (
    Migration(
        1,
        (
            """CREATE TABLE IF NOT EXISTS routing_state (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )""",
            """CREATE TABLE IF NOT EXISTS shadow_verdicts (
                trace_id TEXT PRIMARY KEY,
                created_at TEXT NOT NULL,
                variant TEXT NOT NULL,
                route TEXT NOT NULL,
                verdict TEXT NOT NULL,
                reason TEXT NOT NULL,
                question TEXT NOT NULL,
                answer TEXT NOT NULL,
                cost_usd {double} NOT NULL,
                latency_ms {double} NOT NULL
            )""",
            "CREATE INDEX IF NOT EXISTS shadow_verdicts_created ON shadow_verdicts (created_at)",
        ),
    ),
)
_STATE_KEY = "routing"


@dataclass(frozen=True, slots=True)
class ShadowVerdict:
    """The LLM's verdict on a cheap answer: ``agree`` (it answers the question), ``disagree``
    (a misrouting), ``unclear`` (the verdict could not be read; not counted)."""

    trace_id: str
    variant: str
    route: str
    verdict: str
    reason: str
    question: str
    answer: str
    cost_usd: float
    latency_ms: float
    created_at: datetime


class ControlStore:
    def __init__(self, database: Database, retention_days: int = 30) -> None:
        """On ``database``, which its owner (the trace store) closes. Shadow verdicts (they hold
        the question and the answer, as the traces do) are kept as long as traces:
        ``retention_days``."""
        self._db = database
        self.retention_days = retention_days
        database.migrate("control", _MIGRATIONS)

    @contextmanager
    def _database(self) -> Iterator[Connection]:
        with self._db.serving("routing state on") as db:
            yield db

    # -- the routing state ----------------------------------------------------------------------
    def load(self) -> RoutingState | None:
        """The stored state; None before anything was stored."""
        with self._database() as db:
            row = db.execute(
                "SELECT value FROM routing_state WHERE key = ?", (_STATE_KEY,)
            ).fetchone()
        return None if row is None else RoutingState.model_validate_json(row[0])

    def update(
        self, change: Callable[[RoutingState], RoutingState], initial: RoutingState
    ) -> RoutingState:
        """``change`` applied to the stored state (``initial`` when none is), in one transaction
        that concurrent updates from any process wait for; the new state, its version one up."""
        with self._database() as db, self._db.transaction(db, lock="routing_state"):
            row = db.execute(
                "SELECT value FROM routing_state WHERE key = ?", (_STATE_KEY,)
            ).fetchone()
            current = initial if row is None else RoutingState.model_validate_json(row[0])
            changed = change(current.model_copy(deep=True))
            changed.version = current.version + 1
            db.execute(
                "INSERT INTO routing_state (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (_STATE_KEY, changed.model_dump_json(), utc_now().isoformat()),
            )
        return changed

    # -- shadow verdicts ------------------------------------------------------------------------
    def add_verdict(self, v: ShadowVerdict) -> None:
        """Store ``v``; verdicts older than the retention go in the same transaction."""
        cutoff = utc_now() - timedelta(days=self.retention_days)
        with self._database() as db, self._db.transaction(db):
            db.execute("DELETE FROM shadow_verdicts WHERE created_at < ?", (cutoff.isoformat(),))
            db.execute(
                "INSERT INTO shadow_verdicts (trace_id, created_at, variant, route, verdict, "
                "reason, question, answer, cost_usd, latency_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trace_id) DO NOTHING",
                (
                    v.trace_id,
                    v.created_at.isoformat(),
                    v.variant,
                    v.route,
                    v.verdict,
                    v.reason,
                    v.question,
                    v.answer,
                    v.cost_usd,
                    v.latency_ms,
                ),
            )

    def verdicts(
        self, since: datetime | None = None, verdict: str | None = None, limit: int | None = None
    ) -> list[ShadowVerdict]:
        """Verdicts since ``since`` (all when None), newest first, optionally only one kind."""
        clauses, params = [], []
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(since.isoformat())
        if verdict is not None:
            clauses.append("verdict = ?")
            params.append(verdict)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        tail = " LIMIT ?" if limit is not None else ""
        with self._database() as db:
            rows = db.execute(
                "SELECT trace_id, variant, route, verdict, reason, question, answer, cost_usd, "
                f"latency_ms, created_at FROM shadow_verdicts{where} ORDER BY created_at DESC"
                + tail,
                [*params, *([limit] if limit is not None else [])],
            ).fetchall()
        return [_verdict(row) for row in rows]


def _verdict(row: tuple[Any, ...]) -> ShadowVerdict:
    trace_id, variant, route, verdict, reason, question, answer, cost, latency, created = row
    return ShadowVerdict(
        trace_id=trace_id,
        variant=variant,
        route=route,
        verdict=verdict,
        reason=reason,
        question=question,
        answer=answer,
        cost_usd=cost,
        latency_ms=latency,
        created_at=datetime.fromisoformat(created),
    )
