"""One question's embedding beside busy Python threads: the eager model against the query graph.

    .venv/bin/python bench/embedding_contention.py [--data ../shared/data] [--questions 40]
                                                    [--busy 0,2,4]

In the service, request threads run Python (HTTP, FAQ matching, routing) while a question is
embedded. An eager PyTorch pass re-takes the GIL at each of its few hundred operator calls, so it
waits behind that Python; the TorchScript graph (``embedder.query_graph``,
ragsvc/embedding/graph.py) takes it once. Here ``--busy`` threads spin in pure Python (a stand-in
for request threads, the worst case: they never wait for I/O) while StackFAQ's reworded user
queries are embedded one at a time, by the service's embedder (MiniLM, torch threads as
``server.torch_threads``) both ways, taken in turn so that the machine's load hits them alike.
Prints p50/p90 per question and the cosine of the two ways' vectors.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data_parser, parse_with_data
from bench.harness import pct
from ragsvc.embedding.base import Vectors
from ragsvc.embedding.sentence_transformer import SentenceTransformerEmbedder
from ragsvc.evaluation.datasets import STACKFAQ
from ragsvc.evaluation.datasets import stackfaq as load_stackfaq
from ragsvc.models.resolve import resolve_model
from ragsvc.settings import load_settings


def spinning(count: int) -> Callable[[], None]:
    """Start ``count`` threads spinning in Python; the returned call stops them."""
    stop = threading.Event()

    def spin() -> None:
        total = 0
        while not stop.is_set():
            for i in range(1000):
                total += i

    threads = [threading.Thread(target=spin, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()

    def stopped() -> None:
        stop.set()
        for thread in threads:
            thread.join()

    return stopped


def timed_ms(embed: Callable[[list[str]], Vectors], question: str) -> float:
    started = time.perf_counter()
    embed([question])
    return 1000 * (time.perf_counter() - started)


def main() -> int:
    parser = data_parser(__doc__)
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--busy", default="0,2,4", help="busy Python threads, comma-separated")
    args = parse_with_data(parser)
    settings = load_settings()
    import torch

    torch.set_num_threads(settings.server.torch_threads or torch.get_num_threads())
    path = resolve_model(settings.embedder.model, settings.model_cache_dir)
    ways = {
        "eager": SentenceTransformerEmbedder(path, precision=settings.embedder.precision),
        "graph": SentenceTransformerEmbedder(
            path, precision=settings.embedder.precision, query_graph=True
        ),
    }
    for embedder in ways.values():
        embedder.warm_up()
    questions = [q for item in load_stackfaq(args.data / STACKFAQ) for q in item.queries]
    questions = questions[: args.questions]
    eager, graph = (ways[w].embed_queries(questions) for w in ("eager", "graph"))
    cosine = np.sum(eager * graph, axis=1)
    print(
        f"{len(questions)} StackFAQ queries, one at a time; embedder {ways['eager'].name} "
        f"({ways['eager'].compute_dtype}, both ways), torch threads "
        f"{torch.get_num_threads()}; cosine eager/graph min {cosine.min():.6f}\n"
    )
    print("| busy Python threads | way | p50 ms | p90 ms | max ms | graph speed-up (p50) |")
    print("|---|---|---|---|---|---|")
    for busy in (int(b) for b in args.busy.split(",")):
        times: dict[str, list[float]] = {w: [] for w in ways}
        stop = spinning(busy)
        try:
            for question in questions:
                for way, embedder in ways.items():
                    times[way].append(timed_ms(embedder.embed_queries, question))
        finally:
            stop()
        speedup = pct(times["eager"], 50) / pct(times["graph"], 50)
        for way in ways:
            t = times[way]
            extra = f"{speedup:.1f}x" if way == "graph" else ""
            print(
                f"| {busy} | {way} | {pct(t, 50):.1f} | {pct(t, 90):.1f} | {max(t):.1f} | {extra} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
