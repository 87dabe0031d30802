"""Serving benchmark over HTTP on loopback: latency per route on a help-desk mix, and load.

    python bench/serve.py [--data ../shared/data] [--per-category 25] [--clients 20]

One run: builds the help-desk mix (ragsvc/evaluation/mix.py) from ../shared/data, ingests its
corpus into a fresh embedded store, starts `ragsvc serve --with-llm-server` (the default SLM in
process and the default local LLM behind llama_cpp.server), asks every question once, one at a
time, then sends the FAQ questions from ``--clients`` concurrent clients. Prints Markdown tables.

The mix's ``faq`` questions are reworded user queries, which rarely clear the FAQ threshold; a
help desk also gets its common questions as written (a widget's suggested questions, repeats).
``--faq-verbatim`` FAQ entries (fixed seed) are asked as written, category ``faq_verbatim``: they
are the FAQ path the load test drives.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data_parser, parse_with_data
from bench.harness import bench_config, get_json, ingest, pct, post, running_service
from ragsvc.evaluation.mix import CATEGORIES, FAQ_FILE, build_mix, write_corpus


def verbatim_faq_questions(corpus: Path, count: int, seed: int = 13) -> list[str]:
    """``count`` FAQ entries' own questions, as a user who picks a common question asks them."""
    entries = json.loads((corpus / FAQ_FILE).read_text(encoding="utf-8"))["faqs"]
    chosen = random.Random(seed).sample(entries, min(count, len(entries)))
    return [str(entry["question"]) for entry in chosen]


def sequential(url: str, questions: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Each ``(category, question)`` asked once, one at a time."""
    rows = []
    for category, question in questions:
        status, body, wall_ms = post(f"{url}/v1/ask", {"question": question})
        rows.append({"category": category, "status": status, "wall_ms": wall_ms, **body})
    return rows


def step_timings(
    url: str, rows: list[dict[str, Any]], headers: Mapping[str, str] | None = None
) -> list[str]:
    """Median milliseconds per pipeline step and route, read back from the traces."""
    traces: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["status"] == 200:
            status, trace, _ = get_json(f"{url}/v1/traces/{row['trace_id']}", headers=headers)
            if status == 200:
                traces.setdefault(row["route"], []).append(trace)
    steps = sorted({step for items in traces.values() for t in items for step in t["timings_ms"]})
    lines = [
        "### where the time goes (median ms per step, service side, from the traces)",
        "",
        "| route | n | " + " | ".join(steps) + " | model calls | analysis decided by |",
        "|---" * (len(steps) + 4) + "|",
    ]
    for route, items in sorted(traces.items()):
        medians = [
            pct([t["timings_ms"][s] for t in items if s in t["timings_ms"]], 50) for s in steps
        ]
        calls = pct([sum(c["latency_ms"] for c in _calls(t)) for t in items], 50)
        stages = Counter(t["analysis"]["stage"] for t in items if t["analysis"])
        lines.append(
            f"| {route} | {len(items)} | "
            + " | ".join("" if np.isnan(m) else f"{m:.0f}" for m in medians)
            + f" | {calls:.0f} | "
            + (", ".join(f"{k} {n}" for k, n in stages.most_common()) or "skipped")
            + " |"
        )
    return [*lines, "", *llm_calls([t for items in traces.values() for t in items])]


def _calls(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """A trace's model calls, its parts' included."""
    return [*trace["model_calls"], *(c for p in trace.get("parts", []) for c in p["model_calls"])]


def llm_calls(traces: list[dict[str, Any]]) -> list[str]:
    """The LLM synthesis calls: time to the first streamed token and in all, tokens."""
    calls = [
        c for t in traces for c in _calls(t) if c["role"] == "llm_synthesis" and not c["error"]
    ]
    first = [c["first_token_ms"] for c in calls if c.get("first_token_ms") is not None]
    total = [c["latency_ms"] for c in calls]
    return [
        "### LLM synthesis calls (service side, from the traces)",
        "",
        "| calls | first token p50 / p95 ms | total p50 / p95 ms | prompt tokens p50 "
        "| answer tokens p50 |",
        "|---|---|---|---|---|",
        f"| {len(calls)} | {pct(first, 50):.0f} / {pct(first, 95):.0f} | "
        f"{pct(total, 50):.0f} / {pct(total, 95):.0f} | "
        f"{pct([c['prompt_tokens'] for c in calls], 50):.0f} | "
        f"{pct([c['completion_tokens'] for c in calls], 50):.0f} |",
    ]


def load(url: str, questions: list[str], clients: int, rounds: int) -> dict[str, Any]:
    work = [q for _ in range(rounds) for q in questions]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(lambda q: post(f"{url}/v1/ask", {"question": q}), work))
    elapsed = time.perf_counter() - started
    walls = [r[2] for r in results]
    routes = Counter(str(r[1].get("route", "error")) for r in results)
    return {
        "requests": len(results),
        "errors": sum(1 for r in results if r[0] != 200),
        "rps": len(results) / elapsed,
        "p50_ms": pct(walls, 50),
        "p95_ms": pct(walls, 95),
        "routes": ", ".join(f"{route} {n}" for route, n in routes.most_common()),
    }


def report(rows: list[dict[str, Any]], loaded: dict[str, Any], clients: int) -> str:
    ok = [r for r in rows if r["status"] == 200]
    lines = [
        f"### latency per route ({len(rows)} questions, one at a time; wall time at the client)",
        "",
        "| route | n | share | p50 ms | p95 ms | degraded |",
        "|---|---|---|---|---|---|",
    ]
    by_route: dict[str, list[dict[str, Any]]] = {}
    for r in ok:
        by_route.setdefault(r["route"], []).append(r)
    for route, items in sorted(by_route.items()):
        walls = [r["wall_ms"] for r in items]
        lines.append(
            f"| {route} | {len(items)} | {len(items) / len(ok):.2f} | {pct(walls, 50):.0f} | "
            f"{pct(walls, 95):.0f} | {sum(r['degraded'] for r in items)} |"
        )
    walls = [r["wall_ms"] for r in ok]
    lines.append(
        f"| **all** | {len(ok)} | 1.00 | {pct(walls, 50):.0f} | {pct(walls, 95):.0f} | "
        f"{sum(r['degraded'] for r in ok)} |"
    )
    lines += [
        "",
        "### route chosen per question category",
        "",
        "| category | " + " | ".join(sorted(by_route)) + " |",
        "|---" * (len(by_route) + 1) + "|",
    ]
    for category in (*CATEGORIES, "faq_verbatim"):
        counts = Counter(r["route"] for r in ok if r["category"] == category)
        lines.append(
            f"| {category} | " + " | ".join(str(counts[k]) for k in sorted(by_route)) + " |"
        )
    lines += [
        "",
        f"### load: the verbatim FAQ questions from {clients} concurrent clients",
        "",
        "| requests | errors | req/s | p50 ms | p95 ms | routes |",
        "|---|---|---|---|---|---|",
        f"| {loaded['requests']:.0f} | {loaded['errors']:.0f} | {loaded['rps']:.1f} | "
        f"{loaded['p50_ms']:.0f} | {loaded['p95_ms']:.0f} | {loaded['routes']} |",
        "",
        f"HTTP errors in the sequential pass: {len(rows) - len(ok)}",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = data_parser(__doc__)
    parser.add_argument("--per-category", type=int, default=25)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument(
        "--rounds", type=int, default=4, help="passes over the FAQ questions under load"
    )
    parser.add_argument("--faq-verbatim", type=int, default=20, help="FAQ entries asked as written")
    parser.add_argument("--port", type=int, default=8765)
    args = parse_with_data(parser)
    mix = build_mix(args.data, args.per_category)
    with tempfile.TemporaryDirectory(prefix="ragsvc-serve-") as tmp:
        root = Path(tmp)
        config = bench_config(root, args.port)
        write_corpus(args.data, root / "corpus")
        ingest(root / "corpus", config)
        with running_service(config, args.port, with_llm_server=True) as service:
            url = service.url
            faq = verbatim_faq_questions(root / "corpus", args.faq_verbatim)
            asked = [(m.category, m.question) for m in mix] + [("faq_verbatim", q) for q in faq]
            rows = sequential(url, asked)
            steps = step_timings(url, rows, service.operator)
            loaded = load(url, faq, args.clients, args.rounds)
            _, stats, _ = get_json(f"{url}/v1/stats", headers=service.operator)
    print(report(rows, loaded, args.clients))
    print("\n" + "\n".join(steps))
    print(
        f"\nservice-side p50 {stats['p50_ms']:.0f} ms, p95 {stats['p95_ms']:.0f} ms over "
        f"{stats['questions']} questions; spend ${stats['cost_usd']:.4f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
