"""The store's two engines side by side: Qdrant Edge (the embedded default) and qdrant-client's
local mode (the embedded store before it; the tests' stand-in for the server API).

    python bench/store.py [--data ../shared/data] [--sample 1000] [--synthetic 100000]
                          [--local-synthetic 100000] [--queries 200]

1. The eval corpus, embedded once with the configured embedder (timed on its own): StackFAQ as
   FAQ entries, the 20 PolicyQA policies and the 1,145 JSQuAD paragraphs as passages. Each engine
   stores the same vectors (timed: chunks/s written and published), then answers the same
   questions: StackFAQ top-1 (FAQ matcher's hybrid ranking), PolicyQA recall@5 (within the asked
   policy) and JSQuAD recall@5, and the store's time per search (one dense and one BM25 query
   with the service's filters, query vectors computed beforehand) p50 / p95.
2. Synthetic points at ``--synthetic`` (random unit vectors of the embedder's dimension, 12
   random terms each from a Zipf-like vocabulary, payloads as ingest writes them): write rate,
   and p50 / p95 of a dense query (published points), a filtered dense query (kind, language)
   and a BM25 query. Local mode runs it up to ``--local-synthetic`` points and stops querying
   after 60 s.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from qdrant_client import QdrantClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data_parser, parse_with_data
from bench.retrieval import passage_chunks, percentile, rankings, recall, top1
from ingest.build import build_chunks, embed_chunks
from ingest.records import FaqEntry, ReadResult
from ragsvc.embedding import build_embedder
from ragsvc.embedding.base import Embedder, Vectors
from ragsvc.embedding.spaces import PRIMARY
from ragsvc.evaluation.datasets import (
    JSQUAD,
    POLICYQA,
    STACKFAQ,
    gold_questions,
    sample,
    squad_passages,
)
from ragsvc.evaluation.datasets import stackfaq as load_stackfaq
from ragsvc.retrieval.fusion import Hit
from ragsvc.retrieval.hybrid import HybridRetriever
from ragsvc.settings import Settings, load_settings
from ragsvc.store.edge import EdgeBackend
from ragsvc.store.points import PointBackend, PointData
from ragsvc.store.qdrant_store import ChunkStore, search_filter
from ragsvc.store.schema import Chunk, SearchFilters, point_id
from ragsvc.store.server import ServerBackend
from ragsvc.text.lexical import SparseTerms, query_terms

ENGINES: dict[str, Callable[[str], PointBackend]] = {
    "edge": EdgeBackend.scratch_store,
    "local": lambda collection: ServerBackend(QdrantClient(location=":memory:"), collection),
}
BATCH = 256
LOCAL_QUERY_BUDGET_S = 60.0


@dataclass
class Embedded:
    chunks: list[Chunk]
    dense: Vectors
    lexical: list[SparseTerms]


@dataclass
class EngineFigures:
    quality: dict[str, float] = field(default_factory=dict)
    perf: dict[str, str] = field(default_factory=dict)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _p50_p95(ms: list[float]) -> str:
    return f"{percentile(ms, 50):.2f} / {percentile(ms, 95):.2f} ms (n={len(ms)})"


# -- the eval corpus ------------------------------------------------------------------------------
def _faq_chunks(data: Path, settings: Settings) -> tuple[list[Chunk], list[tuple[str, str]]]:
    faqs = load_stackfaq(data / STACKFAQ)
    read = ReadResult(
        kind="faq",
        title="StackFAQ",
        faqs=[FaqEntry(f.faq_id, f.question, f.answer) for f in faqs],
    )
    chunks = build_chunks(
        read,
        doc_id="stackfaq",
        doc_hash="bench",
        source="stackfaq.json",
        source_root="bench",
        ingested_at="2026-01-01T00:00:00+00:00",
        chunking=settings.chunking,
    )
    return chunks, [(q, f.faq_id) for f in faqs for q in f.queries]


def _write(store: ChunkStore, corpus: Embedded) -> float:
    """Stage every chunk in batches, then publish each document: seconds taken."""

    def write() -> None:
        store.ensure_collection()
        for start in range(0, len(corpus.chunks), BATCH):
            rows = slice(start, start + BATCH)
            store.stage(corpus.chunks[rows], {PRIMARY: corpus.dense[rows]}, corpus.lexical[rows])
        for doc_id, doc_hash in dict.fromkeys((c.doc_id, c.doc_hash) for c in corpus.chunks):
            store.publish(doc_id, doc_hash)

    return _timed(write)


def _search_ms(
    store: ChunkStore, vectors: Vectors, questions: Sequence[str], filters: Sequence[SearchFilters]
) -> list[float]:
    """The store's own time per question: one dense and one BM25 search, as retrieval makes."""
    times = []
    for vector, question, flt in zip(vectors, questions, filters, strict=True):
        terms = query_terms(question)
        started = time.perf_counter()
        store.search_dense(vector, flt, 50)
        store.search_lexical(terms, flt, 50)
        times.append(1000 * (time.perf_counter() - started))
    return times


def run_corpus(
    engines: Sequence[str], data: Path, sample_size: int, queries: int, settings: Settings
) -> tuple[dict[str, EngineFigures], str]:
    embedder = build_embedder(settings.embedder, settings.model_cache_dir)
    embedder.warm_up()
    faq, faq_questions = _faq_chunks(data, settings)
    policy_passages, policy_questions = squad_passages(data / POLICYQA)
    ja_passages, ja_questions = squad_passages(data / JSQUAD)
    chunks = [*faq, *passage_chunks(policy_passages), *passage_chunks(ja_passages)]
    started = time.perf_counter()
    dense, lexical = embed_chunks(chunks, embedder, settings.lexical)
    embed_s = time.perf_counter() - started
    corpus = Embedded(chunks, dense[PRIMARY], lexical)
    embedding = f"{len(chunks)} chunks embedded in {embed_s:.1f} s ({len(chunks) / embed_s:.0f}/s)"

    faq_key: Callable[[Hit], str] = lambda h: str(h.payload["faq"]["faq_id"])  # noqa: E731
    doc_key: Callable[[Hit], str] = lambda h: f"{h.payload['doc_id']}#{h.payload['chunk_no']}"  # noqa: E731
    policy_picked = sample(gold_questions(policy_questions), sample_size)
    ja_picked = sample(gold_questions(ja_questions), sample_size)
    figures: dict[str, EngineFigures] = {}
    for engine in engines:
        store = ChunkStore(ENGINES[engine]("eval"), embedder)
        result = figures[engine] = EngineFigures()
        seconds = _write(store, corpus)
        result.perf["write"] = f"{len(chunks) / seconds:.0f} chunks/s ({seconds:.1f} s)"
        retriever = HybridRetriever(store, settings.retrieval)
        texts = [q for q, _ in faq_questions]
        ranked = rankings(retriever, texts, [SearchFilters(kind="faq")] * len(texts), faq_key, ())
        result.quality[f"StackFAQ top-1 (n={len(texts)})"] = top1(
            ranked["hybrid"], [frozenset([faq_id]) for _, faq_id in faq_questions]
        )
        for label, picked, scoped in (
            ("PolicyQA recall@5", policy_picked, True),
            ("JSQuAD recall@5", ja_picked, False),
        ):
            texts = [q.question for q in picked]
            filters = [SearchFilters(tags=(q.title,) if scoped else ()) for q in picked]
            ranked = rankings(retriever, texts, filters, doc_key, ())
            gold = [q.passage_ids for q in picked]
            result.quality[f"{label} (n={len(picked)})"] = recall(ranked["hybrid"], gold)
        asked = sample([q for q, _ in faq_questions], queries)
        vectors = embedder.embed_queries(asked)
        result.perf["search"] = _p50_p95(
            _search_ms(store, vectors, asked, [SearchFilters(kind="faq")] * len(asked))
        )
        store.close()
        print(f"[{engine}: eval corpus done]", file=sys.stderr, flush=True)
    return figures, embedding


# -- synthetic points -----------------------------------------------------------------------------
def _synthetic_points(count: int, dimension: int, seed: int = 7) -> list[PointData]:
    rng = np.random.default_rng(seed)
    vocabulary = 50_000
    ranks = np.arange(1, vocabulary + 1, dtype=np.float64)
    zipf = (1 / ranks) / (1 / ranks).sum()
    points = []
    for n in range(count):
        vector = rng.standard_normal(dimension).astype(np.float32)
        terms = np.unique(rng.choice(vocabulary, size=12, p=zipf))
        doc_id, chunk_no = f"doc-{n // 10}", n % 10
        chunk = Chunk(
            doc_id=doc_id,
            doc_hash="h",
            chunk_no=chunk_no,
            kind="faq" if n % 10 == 0 else "doc",
            text=f"synthetic chunk {n}",
            source=f"{doc_id}.md",
            source_root="bench",
            title=doc_id,
            language="ja" if n % 4 == 0 else "en",
            content_hash="",
            ingested_at="2026-01-01T00:00:00+00:00",
            tags=[f"tag-{n % 20}"],
        )
        points.append(
            PointData(
                point_id(doc_id, "h", chunk_no),
                {PRIMARY: vector / np.linalg.norm(vector)},
                SparseTerms([int(t) for t in terms], [1.0] * len(terms)),
                chunk.payload(live=True),
            )
        )
    return points


def run_synthetic(
    engine: str, points: list[PointData], dimension: int, queries: int
) -> dict[str, str]:
    backend = ENGINES[engine]("synthetic")
    backend.create({PRIMARY: dimension}, {})
    seconds = _timed(
        lambda: [
            backend.upsert(points[start : start + BATCH]) for start in range(0, len(points), BATCH)
        ]
    )
    figures = {"write": f"{len(points) / seconds:.0f} points/s ({seconds:.1f} s)"}
    rng = np.random.default_rng(11)
    live = search_filter()
    narrowed = search_filter(SearchFilters(kind="faq", language="en"))
    searches: dict[str, Callable[[int], object]] = {
        "dense": lambda i: backend.search_dense(points[i].dense[PRIMARY], PRIMARY, live, 10),
        "dense, kind + language filter": lambda i: backend.search_dense(
            points[i].dense[PRIMARY], PRIMARY, narrowed, 10
        ),
        "bm25": lambda i: backend.search_lexical(points[i].lexical, live, 10, PRIMARY),
    }
    deadline = time.perf_counter() + LOCAL_QUERY_BUDGET_S
    for name, search in searches.items():
        times = []
        for i in rng.integers(0, len(points), queries):
            if engine == "local" and time.perf_counter() > deadline:
                break
            started = time.perf_counter()
            search(int(i))
            times.append(1000 * (time.perf_counter() - started))
        figures[name] = _p50_p95(times) if times else "not run (time budget spent)"
    backend.close()
    print(f"[{engine}: {len(points)} synthetic points done]", file=sys.stderr, flush=True)
    return figures


# -- report ---------------------------------------------------------------------------------------
def _table(header: Sequence[str], rows: dict[str, dict[str, str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for label, cells in rows.items():
        values = [label, *(cells.get(h, "—") for h in header[1:])]
        lines.append("| " + " | ".join(values) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = data_parser(__doc__)
    parser.add_argument("--sample", type=int, default=1000, help="questions per passage set")
    parser.add_argument("--queries", type=int, default=200, help="timed searches per figure")
    parser.add_argument("--synthetic", type=int, default=100_000, help="synthetic points")
    parser.add_argument(
        "--local-synthetic", type=int, default=100_000, help="synthetic points for local mode"
    )
    parser.add_argument("--engines", default="edge,local")
    args = parse_with_data(parser)
    engines = [e for e in args.engines.split(",") if e]
    if unknown := [e for e in engines if e not in ENGINES]:
        parser.error(f"unknown engine {unknown}; valid: {', '.join(ENGINES)}")
    settings = load_settings()
    load_before = os.getloadavg()[0]

    corpus, embedding = run_corpus(engines, args.data, args.sample, args.queries, settings)
    embedder: Embedder = build_embedder(settings.embedder, settings.model_cache_dir)
    dimension = embedder.dimension
    points = _synthetic_points(args.synthetic, dimension)
    synthetic = {}
    for engine in engines:
        count = args.synthetic if engine == "edge" else min(args.synthetic, args.local_synthetic)
        synthetic[engine] = run_synthetic(engine, points[:count], dimension, args.queries)

    print(f"### The store's engines ({settings.embedder.model.package}, {embedding})\n")
    quality = {
        label: {e: f"{corpus[e].quality[label]:.3f}" for e in engines}
        for label in corpus[engines[0]].quality
    }
    quality |= {
        "write (stage + publish)": {e: corpus[e].perf["write"] for e in engines},
        "store search p50 / p95 (dense + BM25, FAQ filter)": {
            e: corpus[e].perf["search"] for e in engines
        },
    }
    print(_table(["eval corpus", *engines], quality))
    print()
    rows: dict[str, dict[str, str]] = {}
    for engine in engines:
        for name, value in synthetic[engine].items():
            rows.setdefault(name, {})[engine] = value
    sizes = {
        e: len(points) if e == "edge" else min(len(points), args.local_synthetic) for e in engines
    }
    counts = ", ".join(f"{e} {n}" for e, n in sizes.items())
    print(_table([f"synthetic points ({counts})", *engines], rows))
    print()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_before:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
