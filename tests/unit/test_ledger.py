"""The cost ledger: spend per month, and budget reserved before a paid call and settled after it,
atomic across threads and across ledgers (processes, replicas) on the same database. Every test
runs on SQLite and on PostgreSQL (a throwaway cluster, marked integration)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ragsvc.cost.ledger import CostLedger, Reservation
from ragsvc.db import Database, PostgresDatabase, SqliteDatabase
from ragsvc.settings import CostSettings

BUDGET = CostSettings(monthly_budget_usd=10.0)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Database]:
    """Opens this test's database (each call a new connection, as another process would)."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        return lambda: PostgresDatabase(url)
    return lambda: SqliteDatabase(tmp_path / "cost.sqlite")


@pytest.fixture
def ledger(database: Callable[[], Database]) -> Iterator[CostLedger]:
    ledger = CostLedger(BUDGET, database())
    yield ledger
    ledger.close()


def test_concurrent_reservations_never_exceed_the_budget(database: Callable[[], Database]) -> None:
    # five ledgers (connections, as processes would have) shared by 50 threads starting at once
    ledgers = [CostLedger(BUDGET, database()) for _ in range(5)]
    start = threading.Barrier(50)

    def reserve(n: int) -> Reservation | None:
        start.wait()
        return ledgers[n % 5].reserve(1.0)

    with ThreadPoolExecutor(50) as pool:
        granted = list(pool.map(reserve, range(50)))
    shares = {ledger.remaining_share() for ledger in ledgers}
    for ledger in ledgers:
        ledger.close()
    assert sum(r is not None for r in granted) == 10
    assert shares == {0.0}


def test_two_ledgers_on_one_database_agree(database: Callable[[], Database]) -> None:
    first, second = (CostLedger(BUDGET, database()) for _ in range(2))
    held = first.reserve(6.0)
    assert held is not None
    assert second.remaining_share() == pytest.approx(0.4)
    assert second.reserve(5.0) is None
    first.settle(held, 2.5)
    assert second.spent_this_month() == pytest.approx(2.5)
    assert second.reserve(5.0) is not None
    first.close()
    second.close()


def test_settle_records_the_actual_cost_and_release_spends_nothing(ledger: CostLedger) -> None:
    held = ledger.reserve(4.0)
    assert held is not None and ledger.remaining_share() == pytest.approx(0.6)
    ledger.settle(held, 5.0)  # the call cost more than its estimate
    assert ledger.spent_this_month() == pytest.approx(5.0)
    assert ledger.remaining_share() == pytest.approx(0.5)
    failed = ledger.reserve(5.0)
    assert failed is not None and ledger.remaining_share() == 0.0
    ledger.release(failed)
    assert ledger.spent_this_month() == pytest.approx(5.0)
    assert ledger.remaining_share() == pytest.approx(0.5)


def test_record_without_a_reservation_counts_against_the_budget(ledger: CostLedger) -> None:
    ledger.record(9.5)
    ledger.record(0.0)
    assert ledger.spent_this_month() == pytest.approx(9.5)
    assert ledger.budget_low()
    assert ledger.reserve(1.0) is None
    assert ledger.reserve(0.5) is not None


def test_reservations_of_a_crashed_process_expire(database: Callable[[], Database]) -> None:
    crashed = CostLedger(BUDGET, database(), reservation_ttl_s=0.2)
    assert crashed.reserve(10.0) is not None  # never settled
    crashed.close()
    ledger = CostLedger(BUDGET, database())
    assert ledger.reserve(1.0) is None
    time.sleep(0.3)
    assert ledger.remaining_share() == 1.0
    assert ledger.reserve(1.0) is not None
    ledger.close()


def test_a_negative_reservation_is_refused(ledger: CostLedger) -> None:
    with pytest.raises(ValueError, match="got -1"):
        ledger.reserve(-1)
