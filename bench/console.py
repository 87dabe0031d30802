"""The console's server time with many traces stored.

    python bench/console.py [--data ../shared/data] [--traces 10000] [--requests 20]

Stores ``--traces`` traces in a fresh trace store: real customer questions (Banking77 and the
StackFAQ rewordings) on a route mix like a help desk's, each with its checks, three retrieved
hits and (on the model routes) a model call, so a stored body is about the size of a real one;
3% carry feedback. Then times the console's pages in process (the app with its real trace store
and ledger; models are not loaded: no page needs them), each ``--requests`` times, with the JSON
trace list of the API as the baseline in the same run. Prints a Markdown table.
"""

from __future__ import annotations

import csv
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from litestar.testing import TestClient

from bench import data_parser, parse_with_data
from bench.harness import pct
from ragsvc.api.app import create_app
from ragsvc.evaluation.datasets import stackfaq
from ragsvc.runtime import Runtime
from ragsvc.settings import Settings, load_settings
from ragsvc.traces.schema import Check, ModelCall, Retrieval, RetrievedHit, Trace, utc_now
from ragsvc.traces.store import TraceStore

ROUTE_MIX = {
    "faq_direct": 0.30,
    "retrieval_direct": 0.25,
    "slm_answer": 0.15,
    "llm_synthesis": 0.20,
    "no_answer": 0.10,
}


def real_questions(data: Path) -> list[str]:
    with (data / "faq" / "banking77" / "train.csv").open(encoding="utf-8") as fh:
        questions = [row["text"] for row in csv.DictReader(fh)]
    for item in stackfaq(data / "faq" / "stackfaq" / "stackExchange-FAQ.json"):
        questions.extend(item.queries)
    return questions


def synthetic_trace(n: int, question: str, rng: random.Random) -> Trace:
    route = rng.choices(list(ROUTE_MIX), weights=list(ROUTE_MIX.values()))[0]
    hits = [
        RetrievedHit(
            id=f"{n}-{k}",
            score=round(rng.random(), 4),
            dense_score=round(rng.random(), 4),
            lexical_score=round(5 * rng.random(), 4),
            kind="doc",
            source=f"policies/policy-{k}.md",
            title=f"Policy {k}",
            section=["Section", f"Part {k}"],
        )
        for k in range(3)
    ]
    trace = Trace(
        trace_id=f"bench{n:06d}",
        question=question,
        route=route,  # type: ignore[arg-type]
        route_reason="synthetic",
        created_at=utc_now() - timedelta(seconds=rng.uniform(0, 6 * 86400)),
        checks=[Check(name="faq_confidence", score=rng.random(), threshold=0.9435, passed=False)],
        retrievals=[Retrieval(query=question, purpose="answer", latency_ms=12.0, hits=hits)],
        latency_ms=rng.uniform(20, 30_000),
        answer="An answer of a typical length. " * 8,
        timings_ms={"embed": 20.0, "faq": 8.0, "analysis": 150.0, "retrieval": 15.0},
    )
    if route in ("slm_answer", "llm_synthesis"):
        cost = rng.uniform(0.0005, 0.004)
        trace.model_calls.append(
            ModelCall(
                role=route,
                model="m",
                prompt_tokens=900,
                completion_tokens=120,
                latency_ms=4000.0,
                cost_usd=cost,
            )
        )
        trace.cost_usd = cost
    trace.all_llm_cost_usd = 0.003
    return trace


def timed(
    client: TestClient[Any], path: str, requests: int, headers: dict[str, str]
) -> list[float]:
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        times.append(1000 * (time.perf_counter() - started))
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
    return times


def main() -> int:
    parser = data_parser(__doc__)
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=20)
    args = parse_with_data(parser)
    rng = random.Random(13)
    questions = real_questions(args.data)
    with tempfile.TemporaryDirectory(prefix="bench-console-") as scratch:
        root = Path(scratch)
        settings = bench_settings(root)
        store = TraceStore(settings.traces)
        started = time.perf_counter()
        for n in range(args.traces):
            store.submit(synthetic_trace(n, rng.choice(questions), rng))
        store.flush(timeout_s=600)
        for n in rng.sample(range(args.traces), k=args.traces * 3 // 100):
            store.add_feedback(f"bench{n:06d}", rng.choice([1, 2, 5]), "", max_per_trace=5)
        print(
            f"{args.traces} traces stored in {time.perf_counter() - started:.1f} s; "
            f"file {settings.traces.path.stat().st_size / 2**20:.1f} MiB\n"
        )
        store.close()
        rows = measure(settings, args.requests)
    print("| request (server time, in process) | p50 ms | p95 ms |")
    print("|---|---|---|")
    for name, times in rows:
        print(f"| {name} | {pct(times, 50):.1f} | {pct(times, 95):.1f} |")
    return 0


def bench_settings(root: Path) -> Settings:
    base = load_settings()
    return base.model_copy(
        update={
            "store": base.store.model_copy(update={"path": root / "qdrant"}),
            "traces": base.traces.model_copy(update={"path": root / "traces.sqlite"}),
            "cost": base.cost.model_copy(update={"ledger_path": root / "cost.sqlite"}),
            "api": base.api.model_copy(
                update={
                    "admin_key_file": root / "admin.key",
                    "operator_key_file": root / "operator.key",
                }
            ),
        }
    )


def measure(settings: Settings, requests: int) -> list[tuple[str, list[float]]]:
    from ragsvc.console import charts
    from ragsvc.traces.store import TraceQuery

    store = TraceStore(settings.traces)
    app = create_app(settings, lambda s: console_only(s, store))
    with TestClient(app=app) as client:
        key = {"X-API-Key": client.app.state.runtime.keys.operator.decode()}
        some = store.find(TraceQuery(limit=1))[0].trace_id
        charts.route_mix([])  # matplotlib's first import is not a request's cost
        paths = [
            ("API baseline: GET /v1/traces?limit=50 (JSON)", "/v1/traces?limit=50"),
            ("console: trace list, page 1 (50 rows + total)", "/console/traces"),
            ("console: filtered by route", "/console/traces?route=llm_synthesis"),
            ("console: filtered by words of the question", "/console/traces?text=card"),
            ("console: filtered by feedback (👎)", "/console/traces?rating=down"),
            ("console: page 150 (offset 7,450)", "/console/traces?page=150"),
            ("console: one trace page", f"/console/traces/{some}"),
            ("console: stats page, 7 days, 3 charts", "/console/stats"),
        ]
        return [(name, timed(client, path, requests, key)) for name, path in paths]


def console_only(settings: Settings, traces: TraceStore) -> Runtime:
    """What the console and the trace API read of a runtime: the settings, the trace store, the
    ledger and the keys; no index and no model is opened (the other parts are never touched)."""
    from ragsvc.cost.ledger import CostLedger
    from ragsvc.keys import load_keys

    unused: Any = None
    return Runtime(
        settings=settings,
        index=unused,
        traces=traces,
        ledger=CostLedger(settings.cost, settings.cost.ledger_path),
        slm=None,
        llm=unused,
        analyzer=unused,
        ask=_Idle(),  # type: ignore[arg-type]
        ingest=_Idle(),  # type: ignore[arg-type]
        keys=load_keys(settings.api),
        owns_index=False,
    )


class _Idle:
    """Stands in for the parts no page reads (the ask service, the ingest runner)."""

    def __init__(self) -> None:
        self.observers: list[Any] = []

    def load(self) -> list[Any]:
        return []

    def jobs(self) -> list[Any]:
        return []

    def close(self) -> None:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
