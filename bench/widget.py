"""What a widget user waits for: the widget's size, and the time to the first streamed text per
route, against the time to the whole answer (the same question without streaming).

    python bench/widget.py [--repeat 2]

One run: ingests the demo corpus into a fresh embedded store, starts `ragsvc serve
--with-llm-server` (the default SLM in process, the default local LLM behind llama_cpp.server),
then asks each question of ``QUESTIONS`` as the widget does (``POST /v1/ask/stream``: time to
the first ``delta`` event, and to the final ``answer``) and without streaming (``POST /v1/ask``:
the whole answer): every question streamed, then every question not, ``--repeat`` times, so
both modes see the same machine and the LLM server never gets the same prompt twice in a row
(llama.cpp reuses a repeated prompt's evaluation). Rows are grouped by the route each question
actually took. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ROOT, bench_config, free_port, ingest, pct, post, running_service

QUESTIONS = [
    "How do I connect to the VPN from home?",
    "How many previous passwords cannot be reused?",
    "What is the hotel limit per night in Tokyo?",
    "Can I use my own laptop for work?",
    "What must I do if I lose my company phone?",
    "When are the core hours for flexible working?",
    "Why does the travel policy cap hotels differently in Tokyo than elsewhere?",
    "Compare the remote work rules with the travel expense rules when I work from a hotel abroad.",
    "How do I reset my password? Also, explain how the travel policy and the security policy "
    "interact when I work abroad.",
    "出張の日当はいくらですか？",
    "What is the boiling point of tungsten in kelvin?",
]


def streamed(url: str, question: str) -> tuple[float, float, str]:
    """``(ms to the first text, ms to the final answer, route)`` over the SSE endpoint."""
    request = urllib.request.Request(
        f"{url}/v1/ask/stream",
        json.dumps({"question": question}).encode(),
        headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
    )
    started = time.perf_counter()
    first = float("nan")
    event = ""
    with urllib.request.urlopen(request, timeout=600) as response:
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "delta" and first != first:
                first = 1000 * (time.perf_counter() - started)
            elif line.startswith("data:") and event in ("answer", "error"):
                body = json.loads(line[5:])
                return first, 1000 * (time.perf_counter() - started), body.get("route", "error")
    raise RuntimeError(f"the stream ended without an answer: {question}")


def ask(url: str, question: str, mode: str, by_route: dict[str, dict[str, list[float]]]) -> None:
    """One ask, streamed or not, into the row of the route it took."""
    if mode == "stream":
        first, total, route = streamed(url, question)
        by_route[route]["first"].append(first)
        by_route[route]["streamed"].append(total)
        line = f"first text {first:6.0f} ms, streamed answer {total:6.0f} ms"
    else:
        status, body, whole = post(f"{url}/v1/ask", {"question": question})
        if status != 200:
            raise SystemExit(f"{status} for {question!r}: {body}")
        route = body["route"]
        by_route[route]["whole"].append(whole)
        line = f"whole answer {whole:6.0f} ms"
    by_route[route]["questions"].append(float(QUESTIONS.index(question)))
    print(f"{route:17s} {line}: {question[:50]}", file=sys.stderr)


def widget_size(url: str) -> tuple[int, int]:
    with urllib.request.urlopen(f"{url}/widget.js", timeout=30) as response:
        script = response.read()
    return len(script), len(gzip.compress(script, compresslevel=9))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2, help="asks of each question per mode")
    args = parser.parse_args()
    by_route: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with tempfile.TemporaryDirectory(prefix="bench-widget-") as scratch:
        root = Path(scratch)
        port = free_port()
        config = bench_config(root, port)
        ingest(ROOT / "demo" / "corpus", config)
        with running_service(config, port, with_llm_server=True) as service:
            raw, gzipped = widget_size(service.url)
            for _ in range(args.repeat):  # each mode over every question in turn: the LLM
                for mode in ("stream", "whole"):  # server never sees one prompt twice in a row
                    for question in QUESTIONS:
                        ask(service.url, question, mode, by_route)
    print(f"widget.js: {raw / 1024:.1f} KB, {gzipped / 1024:.1f} KB gzipped (level 9)\n")
    print(
        "| route (as taken) | asks streamed / not | questions | first text p50 ms | streamed "
        "answer p50 ms | whole answer, not streamed p50 ms | first text / whole |"
    )
    print("|---|---|---|---|---|---|---|")
    for route, row in sorted(by_route.items()):
        first, whole = pct(row["first"], 50), pct(row["whole"], 50)
        print(
            f"| {route} | {len(row['first'])} / {len(row['whole'])} | "
            f"{len(set(row['questions']))} | {first:.0f} | "
            f"{pct(row['streamed'], 50):.0f} | {whole:.0f} | {first / whole:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
