"""Serving benchmark over HTTP on loopback: latency per route on a help-desk mix, and load.

    python bench/serve.py [--data ../shared/data] [--per-category 25] [--clients 20]

One run: builds the help-desk mix (ragsvc/evaluation/mix.py) from ../shared/data, ingests its
corpus into a fresh embedded store, starts `ragsvc serve --with-llm-server` (the default SLM in
process and the default local LLM behind llama_cpp.server), asks every question once, one at a
time, then sends the FAQ questions from ``--clients`` concurrent clients. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import DEFAULT_DATA
from ragsvc.evaluation.mix import CATEGORIES, LabelledQuestion, build_mix, write_corpus

RAGSVC = [sys.executable, "-m", "ragsvc.cli"]


def post(url: str, body: dict[str, Any], timeout: float = 300) -> tuple[int, dict[str, Any], float]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload = response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, {"detail": exc.read().decode(errors="replace")}
    return status, payload, 1000 * (time.perf_counter() - started)


def wait_ready(url: str, service: subprocess.Popen[bytes], timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise SystemExit(f"the service exited with {service.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
                if json.loads(response.read())["status"] == "ready":
                    return
        except (urllib.error.URLError, OSError, KeyError):
            pass
        time.sleep(1)
    raise SystemExit("the service did not become ready")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def sequential(url: str, mix: list[LabelledQuestion]) -> list[dict[str, Any]]:
    rows = []
    for item in mix:
        status, body, wall_ms = post(f"{url}/v1/ask", {"question": item.question})
        rows.append({"category": item.category, "status": status, "wall_ms": wall_ms, **body})
    return rows


def load(url: str, questions: list[str], clients: int, rounds: int) -> dict[str, float]:
    work = [q for _ in range(rounds) for q in questions]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(lambda q: post(f"{url}/v1/ask", {"question": q}), work))
    elapsed = time.perf_counter() - started
    walls = [r[2] for r in results]
    return {
        "requests": len(results),
        "errors": sum(1 for r in results if r[0] != 200),
        "rps": len(results) / elapsed,
        "p50_ms": pct(walls, 50),
        "p95_ms": pct(walls, 95),
    }


def report(rows: list[dict[str, Any]], loaded: dict[str, float], clients: int) -> str:
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
    for category in CATEGORIES:
        counts = Counter(r["route"] for r in ok if r["category"] == category)
        lines.append(
            f"| {category} | " + " | ".join(str(counts[k]) for k in sorted(by_route)) + " |"
        )
    lines += [
        "",
        f"### load: FAQ questions from {clients} concurrent clients",
        "",
        "| requests | errors | req/s | p50 ms | p95 ms |",
        "|---|---|---|---|---|",
        f"| {loaded['requests']:.0f} | {loaded['errors']:.0f} | {loaded['rps']:.1f} | "
        f"{loaded['p50_ms']:.0f} | {loaded['p95_ms']:.0f} |",
        "",
        f"HTTP errors in the sequential pass: {len(rows) - len(ok)}",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--per-category", type=int, default=25)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument(
        "--rounds", type=int, default=4, help="passes over the FAQ questions under load"
    )
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    if not (args.data / "README.md").is_file():
        parser.error(f"no evaluation data at {args.data}; pass --data ../shared/data")
    mix = build_mix(args.data, args.per_category)
    with tempfile.TemporaryDirectory(prefix="ragsvc-serve-") as tmp:
        root = Path(tmp)
        config = root / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "store": {"path": str(root / "qdrant")},
                    "traces": {"path": str(root / "traces.sqlite")},
                    "cost": {"ledger_path": str(root / "cost.sqlite")},
                    "api": {"admin_key_file": str(root / "admin.key")},
                    "server": {"port": args.port},
                    "model_cache_dir": str(Path("var/models").resolve()),
                }
            )
        )
        write_corpus(args.data, root / "corpus")
        subprocess.run(
            [*RAGSVC, "ingest", str(root / "corpus"), "--config", str(config), "--quiet"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        log = (root / "service.log").open("wb")
        service = subprocess.Popen(
            [*RAGSVC, "serve", "--with-llm-server", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{args.port}"
        try:
            wait_ready(url, service)
            rows = sequential(url, mix)
            faq = [m.question for m in mix if m.category == "faq"]
            loaded = load(url, faq, args.clients, args.rounds)
            stats = json.loads(urllib.request.urlopen(f"{url}/v1/stats").read())
        finally:
            service.terminate()
            service.wait(timeout=60)
    print(report(rows, loaded, args.clients))
    print(
        f"\nservice-side p50 {stats['p50_ms']:.0f} ms, p95 {stats['p95_ms']:.0f} ms over "
        f"{stats['questions']} questions; spend ${stats['cost_usd']:.4f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
