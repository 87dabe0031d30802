"""Two ``ragsvc serve`` processes on one PostgreSQL database (a throwaway cluster), as two replicas
behind a proxy would run: each sees the traces and feedback the other wrote, and both spend one
budget."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from ragsvc.cost.ledger import CostLedger
from ragsvc.db import PostgresDatabase
from ragsvc.settings import CostSettings
from tests.conftest import MODEL_CACHE
from tests.live_server import free_port, process_config, served

OPERATOR_KEY = "replica-test-operator-key-0123456789"
BUDGET_USD = 50.0


@contextmanager
def replica(root: Path, database_url: str) -> Iterator[str]:
    """A served process with its own store and files, its traces and ledger on ``database_url``."""
    root.mkdir()
    port = free_port()
    config = process_config(
        root,
        port,
        MODEL_CACHE,
        database={"url": database_url},
        api={"operator_api_key": OPERATOR_KEY},
        cost={"monthly_budget_usd": BUDGET_USD},
        multilingual={"enabled": False},
    )
    with served(config, port, root / "service.log") as url:
        yield url


def call(url: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        url,
        None if body is None else json.dumps(body).encode(),
        {"Content-Type": "application/json", "X-API-Key": OPERATOR_KEY},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def eventually(read: Any, timeout_s: float = 15.0) -> Any:
    """``read()`` once it stops raising 404 (the other replica's writer runs off its answers)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return read()
        except urllib.error.HTTPError as exc:
            if exc.code != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def gauge(url: str, name: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        exposition = response.read().decode()
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise AssertionError(f"{name} not in /metrics")


def test_two_replicas_share_traces_feedback_and_one_budget(
    tmp_path: Path, postgres_url: str
) -> None:
    with ExitStack() as stack:
        first = stack.enter_context(replica(tmp_path / "a", postgres_url))
        second = stack.enter_context(replica(tmp_path / "b", postgres_url))
        asked_first = call(f"{first}/v1/ask", {"question": "How do I reset my password?"})
        asked_second = call(f"{second}/v1/ask", {"question": "Where is the VPN guide?"})
        # each replica reads the trace the other one wrote, and feedback given on either
        seen = eventually(lambda: call(f"{second}/v1/traces/{asked_first['trace_id']}"))
        assert seen["question"] == "How do I reset my password?"
        eventually(lambda: call(f"{first}/v1/traces/{asked_second['trace_id']}"))
        call(f"{second}/v1/feedback", {"trace_id": asked_first["trace_id"], "rating": 1})
        rated = call(f"{first}/v1/traces/{asked_first['trace_id']}")
        assert [f["rating"] for f in rated["feedback"]] == [1]
        listed = {t["trace_id"] for t in call(f"{first}/v1/traces")}
        assert {asked_first["trace_id"], asked_second["trace_id"]} <= listed
        # spend recorded by anyone on the database is spent for both replicas
        spender = CostLedger(
            CostSettings(monthly_budget_usd=BUDGET_USD), PostgresDatabase(postgres_url)
        )
        held = spender.reserve(30.0)
        assert held is not None
        spender.settle(held, 20.0)
        spender.close()
        assert gauge(first, "ragsvc_spent_this_month_usd") == gauge(
            second, "ragsvc_spent_this_month_usd"
        )
        assert gauge(second, "ragsvc_budget_left_usd") == BUDGET_USD - 20.0
        assert gauge(first, "ragsvc_budget_left_usd") == BUDGET_USD - 20.0
