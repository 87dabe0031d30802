"""Prices per model and the monthly budget, persisted in SQLite (a file) or PostgreSQL (shared by
replicas: one budget) so a restart forgets nothing.

The router asks :meth:`CostLedger.budget_low`; when the remaining share of this month's budget is
under ``cost.low_budget_share`` it prefers the SLM routes (and says so in the trace).

A paid call holds its estimated cost first: :meth:`CostLedger.reserve` checks, in one
transaction that holds the reservations' lock (SQLite's write lock, PostgreSQL's table lock), that
this month's spend plus the outstanding reservations plus the estimate fit the budget, and stores
the reservation in the same transaction, so concurrent calls, threads, processes or replicas never
overshoot it together. :meth:`CostLedger.settle` then turns the reservation into
the actual spend, and :meth:`CostLedger.release` gives it back when the call failed. A reservation
left behind by a crashed process expires after ``reservation_ttl_s``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from ragsvc.db import Database, Migration, open_database
from ragsvc.settings import CostSettings, Price, Settings

RESERVATION_TTL_S = 600.0
"""Longer than any LLM call takes; a reservation older than this is dropped as abandoned."""

_MIGRATIONS = (
    Migration(
        1,
        (
            "CREATE TABLE IF NOT EXISTS spend (month TEXT PRIMARY KEY, usd {double} NOT NULL)",
            """CREATE TABLE IF NOT EXISTS reservations (
                id TEXT PRIMARY KEY,
                usd {double} NOT NULL,
                expires_at {double} NOT NULL
            )""",
        ),
    ),
)
_ADD_SPEND = (
    "INSERT INTO spend (month, usd) VALUES (?, ?) "
    "ON CONFLICT (month) DO UPDATE SET usd = spend.usd + excluded.usd"
)
_COMMITTED = (
    "SELECT (SELECT coalesce(sum(usd), 0) FROM spend WHERE month = ?) + "
    "(SELECT coalesce(sum(usd), 0) FROM reservations WHERE expires_at > ?)"
)


def estimate_tokens(text: str) -> int:
    """~4 bytes of UTF-8 per token: close for English, and ~0.75 tokens per Japanese character.
    Used where an endpoint reports no usage, and for what-if costs."""
    return max(1, len(text.encode()) // 4)


def current_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


@dataclass(frozen=True, slots=True)
class Reservation:
    """Budget held for one call; settle or release it exactly once."""

    id: str
    usd: float


class CostLedger:
    def __init__(
        self,
        settings: CostSettings,
        database: Database,
        reservation_ttl_s: float = RESERVATION_TTL_S,
    ) -> None:
        """On ``database``, closed with the ledger."""
        self.settings = settings
        self._reservation_ttl_s = reservation_ttl_s
        self._db = database
        database.migrate("ledger", _MIGRATIONS)

    def price_of(self, model: str) -> Price:
        return self.settings.prices.get(model, self.settings.default_price)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.price_of(model)
        return (
            prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok
        ) / 1e6

    def record(self, usd: float) -> None:
        """Add spend that had no reservation."""
        if usd <= 0:
            return
        with self._db.connection() as db:
            db.execute(_ADD_SPEND, (current_month(), usd))

    def reserve(self, usd: float) -> Reservation | None:
        """Hold ``usd`` of this month's budget for a call about to be made; None when spend plus
        outstanding reservations plus ``usd`` would exceed ``cost.monthly_budget_usd``."""
        if usd < 0:
            raise ValueError(f"a reservation must be 0 USD or more, got {usd}")
        now = time.time()
        with self._db.connection() as db, self._db.transaction(db, lock="reservations"):
            db.execute("DELETE FROM reservations WHERE expires_at <= ?", (now,))
            (committed,) = db.execute(_COMMITTED, (current_month(), now)).fetchone()
            if committed + usd > self.settings.monthly_budget_usd:
                return None
            reservation = Reservation(uuid.uuid4().hex, usd)
            db.execute(
                "INSERT INTO reservations (id, usd, expires_at) VALUES (?, ?, ?)",
                (reservation.id, usd, now + self._reservation_ttl_s),
            )
        return reservation

    def settle(self, reservation: Reservation, actual_usd: float) -> None:
        """Replace ``reservation`` by what the call actually cost (more or less than held)."""
        with self._db.connection() as db, self._db.transaction(db):
            db.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))
            if actual_usd > 0:
                db.execute(_ADD_SPEND, (current_month(), actual_usd))

    def release(self, reservation: Reservation) -> None:
        """Give ``reservation`` back: the call was not made or cost nothing."""
        with self._db.connection() as db:
            db.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))

    def spent_this_month(self) -> float:
        with self._db.connection() as db:
            row = db.execute("SELECT usd FROM spend WHERE month = ?", (current_month(),)).fetchone()
        return float(row[0]) if row else 0.0

    def remaining_share(self) -> float:
        """The share of this month's budget neither spent nor held by outstanding reservations."""
        budget = self.settings.monthly_budget_usd
        if budget <= 0:
            return 0.0
        with self._db.connection() as db:
            (committed,) = db.execute(_COMMITTED, (current_month(), time.time())).fetchone()
        return max(0.0, 1.0 - float(committed) / budget)

    def budget_low(self) -> bool:
        return self.remaining_share() < self.settings.low_budget_share

    def close(self) -> None:
        self._db.close()


def open_ledger(settings: Settings) -> CostLedger:
    """The service's ledger: on ``database.url`` when set, else ``cost.ledger_path``."""
    return CostLedger(settings.cost, open_database(settings.database, settings.cost.ledger_path))
