"""Latency budgets on the help-desk mix: does every answer arrive within its ask's budget?

    python bench/latency_budget.py [--data ../shared/data] [--budgets 500,5000,60000]

One run: the help-desk mix from ../shared/data (ragsvc/evaluation/mix.py), its corpus ingested into
an embedded store kept under ``--workdir`` (a second run re-ingests nothing), ``ragsvc serve
--with-llm-server`` (the default SLM in process, the default local LLM behind llama_cpp.server).
A first pass with the first budget lets the service measure its cheap routes (the expected
latencies start from ``routing.expected_latency_ms`` and follow the answers); then each budget's
pass asks every question once with ``max_latency_ms`` set. Per pass: the routes taken, how many
answers came after their budget and by how much (the overhead the expectation does not cover),
the client-side latency, and the latency events in the traces.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data_parser, parse_with_data
from bench.harness import bench_config, get_json, ingest, pct, post, running_service
from ragsvc.evaluation.mix import build_mix, write_corpus


def ask_all(url: str, questions: list[str], budget_ms: float) -> list[dict[str, Any]]:
    rows = []
    for question in questions:
        status, body, wall_ms = post(
            f"{url}/v1/ask", {"question": question, "max_latency_ms": budget_ms}, timeout=600
        )
        rows.append({"status": status, "wall_ms": wall_ms, **body})
    return rows


def latency_events(url: str, rows: list[dict[str, Any]], headers: dict[str, str]) -> int:
    """Answers whose trace records a route left out for the budget."""
    count = 0
    for row in rows:
        if row["status"] == 200:
            _, trace, _ = get_json(f"{url}/v1/traces/{row['trace_id']}", headers=headers)
            events = [*trace["events"], *(e for p in trace["parts"] for e in p["events"])]
            count += any(e["kind"] == "latency" for e in events)
    return count


def row_of(budget_ms: float, rows: list[dict[str, Any]], stepped_down: int) -> str:
    ok = [r for r in rows if r["status"] == 200]
    walls = [r["wall_ms"] for r in ok]
    over = [r["wall_ms"] - budget_ms for r in ok if r["wall_ms"] > budget_ms]
    routes = Counter(r["route"] for r in ok)
    return (
        f"| {budget_ms:,.0f} | {len(rows)} | {len(rows) - len(ok)} | {len(over)} | "
        f"{max(over, default=0):,.0f} | {pct(walls, 50):,.0f} | {pct(walls, 95):,.0f} | "
        f"{max(walls, default=0):,.0f} | {stepped_down} | "
        + ", ".join(f"{route} {n}" for route, n in routes.most_common())
        + f" | {sum(r['degraded'] for r in ok)} |"
    )


def main() -> int:
    parser = data_parser(__doc__)
    parser.add_argument("--per-category", type=int, default=6)
    parser.add_argument("--budgets", default="500,5000,60000", help="ms, comma-separated")
    parser.add_argument("--workdir", type=Path, default=Path("var/bench-latency"))
    parser.add_argument("--port", type=int, default=8767)
    args = parse_with_data(parser)
    budgets = [float(b) for b in args.budgets.split(",")]
    questions = [m.question for m in build_mix(args.data, args.per_category)]
    root = args.workdir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    config = bench_config(root, args.port, api={"rate_limit_per_minute": 0})
    write_corpus(args.data, root / "corpus")
    ingest(root / "corpus", config)
    lines = [
        f"### {len(questions)} questions of the help-desk mix per budget, one at a time "
        "(wall time at the client)",
        "",
        "| budget ms | asked | errors | over budget | most over, ms | p50 ms | p95 ms | max ms "
        "| stepped down for the budget | routes | degraded |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    with running_service(config, args.port, with_llm_server=True) as service:
        ask_all(service.url, questions, budgets[0])  # the cheap routes measured: the warm-up
        for budget in budgets:
            rows = ask_all(service.url, questions, budget)
            lines.append(row_of(budget, rows, latency_events(service.url, rows, service.operator)))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
