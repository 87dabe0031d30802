"""What one replica serves per core on each route: the measured figures of docs/scaling.md.

    python bench/capacity.py [--data ../shared/data] [--per-category 25] [--seconds 20]

One run: the help-desk mix from ../shared/data (ragsvc/evaluation/mix.py) with its corpus ingested
into a fresh embedded store, then ``ragsvc serve`` (the default SLM in process; no LLM endpoint,
so the service reports itself degraded: the LLM is sized apart, and a question that would go to
it degrades to a cheaper route, so degraded answers are left out). Each question is asked once
to learn its route; then, route by route, that route's questions come from ``--clients``
closed-loop clients for ``--seconds``. The service process's CPU time over each phase
(``/proc``) gives CPU ms per answer, so answers per core-second = 1000 / CPU ms, whatever the
bench clients on the same cores cost. Also printed: the store's bytes per point on disk and the
service's memory (docs/scaling.md). The model routes get one client: a replica runs one SLM call
at a time, and further ones are turned away to a cheaper route.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data_parser, parse_with_data
from bench.harness import bench_config, ingest, pct, post, running_service
from bench.serve import verbatim_faq_questions
from ragsvc.evaluation.mix import build_mix, write_corpus
from ragsvc.settings import load_settings
from ragsvc.store.qdrant_store import open_backend

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
MODEL_ROUTES = ("slm_answer", "llm_synthesis")
"""One client: a replica runs one SLM call at a time, more clients are turned away (degraded)."""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # utime, stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


@dataclass(frozen=True, slots=True)
class Phase:
    route: str
    questions: int
    clients: int
    answers: int
    off_route: int
    errors: int
    seconds: float
    cpu_s: float
    walls: list[float]

    @property
    def cpu_ms_per_answer(self) -> float:
        """The phase's CPU over its answers on the route (off-route answers cost some too)."""
        return 1000 * self.cpu_s / max(self.answers, 1)


def closed_loop(url: str, questions: list[str], clients: int, seconds: float, route: str) -> Phase:
    """``clients`` threads asking ``questions`` in turn, each as soon as its last one answered."""
    stop = time.monotonic() + seconds
    lock = threading.Lock()
    walls: list[float] = []
    counts = {"answers": 0, "off_route": 0, "errors": 0}

    def client(offset: int) -> None:
        n = offset
        while time.monotonic() < stop:
            status, body, wall_ms = post(
                f"{url}/v1/ask", {"question": questions[n % len(questions)]}
            )
            n += clients
            with lock:
                if status != 200:
                    counts["errors"] += 1
                elif body["route"] != route or body["degraded"]:
                    counts["off_route"] += 1
                else:
                    counts["answers"] += 1
                    walls.append(wall_ms)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds_taken = time.monotonic() - started
    return Phase(
        route,
        len(questions),
        clients,
        counts["answers"],
        counts["off_route"],
        counts["errors"],
        seconds_taken,
        cpu_s=0.0,  # measured by the caller, around the phase
        walls=walls,
    )


def main() -> int:
    parser = data_parser(__doc__)
    parser.add_argument("--per-category", type=int, default=25)
    parser.add_argument("--faq-verbatim", type=int, default=40, help="FAQ entries asked as written")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--port", type=int, default=8766)
    args = parse_with_data(parser)
    mix = build_mix(args.data, args.per_category)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="ragsvc-capacity-") as tmp:
        root = Path(tmp)
        config = bench_config(
            root,
            args.port,
            api={"rate_limit_per_minute": 0},
            llm={"base_url": "http://127.0.0.1:9/v1", "max_retries": 0},  # nothing listens
        )
        write_corpus(args.data, root / "corpus")
        ingest(root / "corpus", config)
        backend = open_backend(load_settings(config).store)
        points = backend.count()
        backend.close()
        store_mb = disk_mb(root / "qdrant")
        asked = [m.question for m in mix]
        asked += verbatim_faq_questions(root / "corpus", args.faq_verbatim)
        with running_service(config, args.port, accept=("ready", "degraded")) as service:
            pid = service.process.pid
            by_route: dict[str, list[str]] = defaultdict(list)
            for question in asked:
                status, body, _ = post(f"{service.url}/v1/ask", {"question": question})
                if status == 200 and not body["degraded"]:
                    by_route[body["route"]].append(question)
            phases = []
            for route, questions in sorted(by_route.items()):
                if len(questions) < 3:
                    continue
                before = cpu_seconds(pid)
                clients = 1 if route in MODEL_ROUTES else args.clients
                phase = closed_loop(service.url, questions, clients, args.seconds, route)
                phases.append(replace(phase, cpu_s=cpu_seconds(pid) - before))
            memory = rss_mb(pid)
    print(
        f"### one replica, {cores} cores: closed-loop clients per route for {args.seconds:.0f} s "
        "(on the same cores)\n"
    )
    print(
        "| route | questions | clients | answers | off route | errors | answers/s | p50 ms "
        "| p95 ms | CPU ms per answer | answers/s per core (1000 / CPU ms) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for p in phases:
        print(
            f"| {p.route} | {p.questions} | {p.clients} | {p.answers} | {p.off_route} | "
            f"{p.errors} | {p.answers / p.seconds:.1f} | {pct(p.walls, 50):.0f} | "
            f"{pct(p.walls, 95):.0f} | {p.cpu_ms_per_answer:.0f} | "
            f"{1000 / p.cpu_ms_per_answer:.1f} |"
        )
    print(
        f"\nstore: {points} points, {store_mb:.1f} MiB on disk (at this size mostly the engine's "
        f"preallocated files, not a per-point figure); service RSS {memory:,.0f} MiB (embedders, "
        "SLM, store)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
