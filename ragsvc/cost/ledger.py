"""Prices per model and the monthly budget, persisted in SQLite so a restart forgets nothing.

The router asks :meth:`CostLedger.budget_low`; when the remaining share of this month's budget is
under ``cost.low_budget_share`` it prefers the SLM routes (and says so in the trace).
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from ragsvc.settings import CostSettings, Price


def estimate_tokens(text: str) -> int:
    """~4 bytes of UTF-8 per token: close for English, and ~0.75 tokens per Japanese character.
    Used where an endpoint reports no usage, and for what-if costs."""
    return max(1, len(text.encode()) // 4)


def current_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


class CostLedger:
    def __init__(self, settings: CostSettings, path: Path) -> None:
        self.settings = settings
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS spend (month TEXT PRIMARY KEY, usd REAL NOT NULL)"
        )
        self._lock = threading.Lock()

    def price_of(self, model: str) -> Price:
        return self.settings.prices.get(model, self.settings.default_price)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.price_of(model)
        return (
            prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok
        ) / 1e6

    def record(self, usd: float) -> None:
        if usd <= 0:
            return
        with self._lock:
            self._db.execute(
                "INSERT INTO spend (month, usd) VALUES (?, ?) "
                "ON CONFLICT(month) DO UPDATE SET usd = usd + excluded.usd",
                (current_month(), usd),
            )

    def spent_this_month(self) -> float:
        with self._lock:
            row = self._db.execute(
                "SELECT usd FROM spend WHERE month = ?", (current_month(),)
            ).fetchone()
        return float(row[0]) if row else 0.0

    def remaining_share(self) -> float:
        budget = self.settings.monthly_budget_usd
        if budget <= 0:
            return 0.0
        return max(0.0, 1.0 - self.spent_this_month() / budget)

    def budget_low(self) -> bool:
        return self.remaining_share() < self.settings.low_budget_share

    def close(self) -> None:
        with self._lock:
            self._db.close()
