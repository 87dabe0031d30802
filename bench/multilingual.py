"""Japanese and cross-lingual retrieval: the multilingual dense space against the index without it.

    python bench/multilingual.py [--data ../shared/data] [--xling var/xling] [--asked 800]
                                 [--weights 0.4,0.6,0.8]

Before: one dense space (MiniLM), Japanese questions ranked by BM25 alone (``faq_dense_weight``
ja 0), their FAQ confidence the raw cosine. After: every point also carries a multilingual-e5
vector (``multilingual``), which Japanese questions search, fused with BM25 at each weight of
``--weights``; the FAQ confidence is e5's calibration as shipped (fitted on the English sets
only, so every Japanese figure here is held out).

Sets (Japanese questions):
- ``jsquad``: JSQuAD paragraphs as Japanese FAQ entries (``ragsvc/evaluation/faq_sets.py``).
- ``banking77-ja``, ``clinc150-ja``: the English Banking77 / CLINC150 FAQs (intents as entries),
  asked in Japanese: real customer queries machine-translated by Qwen2.5-Coder-1.5B
  (``bench/translate_queries.py`` writes ``var/xling``). The translations are a model's, some
  wrong or garbled, so these figures understate what real Japanese questions would reach.
- ``jsquad-en`` (the other direction): JSQuAD questions translated to English, against the
  Japanese paragraphs: English questions search MiniLM as shipped; an index with e5 alone beside
  it shows what that leaves.
- ``policyqa-ja``: PolicyQA questions translated the same way, against the English policy
  paragraphs (recall within the asked policy, as bench/retrieval.py does), with JSQuAD
  Japanese-to-Japanese passage recall beside it.

Relevance thresholds of the multilingual space: the share of questions whose best cosine clears
them, for questions the index answers ("in") and questions it does not ("out"), in the question's
language (Japanese questions against JSQuAD paragraphs; out: CLINC150 queries translated) and across
languages (against the English PolicyQA paragraphs; out: JSQuAD general-knowledge questions).
e5's cosines across languages run 0.03-0.04 below those within one, hence the offset added to
the cosine of a passage in another language (``multilingual.cross_language_offset``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import DEFAULT_DATA
from bench.faq import RAW_THRESHOLD, CachedEmbedder, index_set
from bench.retrieval import _index_passages
from ragsvc.embedding import build_embedder
from ragsvc.embedding.spaces import MULTILINGUAL, PRIMARY, EmbeddingSpaces
from ragsvc.evaluation.datasets import (
    CLINC150,
    JSQUAD,
    POLICYQA,
    Passage,
    clinc_queries,
    sample,
    squad_passages,
)
from ragsvc.evaluation.faq_sets import FaqSet, load_sets
from ragsvc.retrieval.faq import FaqMatcher
from ragsvc.retrieval.faq_confidence import read_calibrations
from ragsvc.retrieval.hybrid import HybridRetriever
from ragsvc.settings import Settings, load_settings
from ragsvc.store.edge import EdgeBackend
from ragsvc.store.qdrant_store import ChunkStore
from ragsvc.store.schema import SearchFilters
from ragsvc.text.language import detect_language

BEFORE = "MiniLM + BM25 (before)"


def _with_weight(base: Settings, weight: float | None) -> Settings:
    """``weight`` None: the index without the multilingual space (the shipped-before setup)."""
    if weight is None:
        multilingual = base.multilingual.model_copy(update={"enabled": False})
        retrieval = base.retrieval.model_copy(
            update={
                "dense_weight": {**base.retrieval.dense_weight, "ja": 0.0},
                "faq_dense_weight": {**base.retrieval.faq_dense_weight, "ja": 0.0},
            }
        )
    else:
        multilingual = base.multilingual.model_copy(update={"enabled": True})
        retrieval = base.retrieval.model_copy(
            update={"multilingual_dense_weight": weight, "multilingual_faq_dense_weight": weight}
        )
    return base.model_copy(update={"multilingual": multilingual, "retrieval": retrieval})


def _spaces(primary: CachedEmbedder, multi: CachedEmbedder, settings: Settings) -> EmbeddingSpaces:
    if not settings.multilingual.enabled:
        return EmbeddingSpaces(primary)
    return EmbeddingSpaces(primary, multi, frozenset(settings.multilingual.languages))


def _rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON Lines file (``bench/translate_queries.py`` writes them)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _xling_set(english: FaqSet, path: Path) -> FaqSet:
    rows = _rows(path)
    known = {e.faq_id for e in english.entries}
    asked = [
        type(english.asked[0])(r["ja"], r["gold"])
        for r in rows
        if r["gold"] in known and detect_language(r["ja"]) == "ja"
    ]
    return FaqSet(f"{english.name}-ja", "ja", english.entries, asked)


def _label(weight: float | None) -> str:
    return BEFORE if weight is None else f"e5 space, w={weight:g}"


def faq_table(
    sets: list[FaqSet],
    weights: list[float | None],
    base: Settings,
    primary: CachedEmbedder,
    multi: CachedEmbedder,
) -> list[str]:
    calibrations = read_calibrations(None)
    header = "| set | n | " + " | ".join(_label(w) for w in weights) + " |"
    lines = [
        "## FAQ: top-1; FAQ-direct coverage / precision (threshold)",
        "",
        header,
        "|---|---|" + "---|" * len(weights),
    ]
    for faq_set in sets:
        cells = []
        for weight in weights:
            settings = _with_weight(base, weight)
            store = index_set(_spaces(primary, multi, settings), faq_set, settings)
            matcher = FaqMatcher(_retriever(store, settings), calibrations)
            correct, direct, thresholds = [], [], []
            for asked in faq_set.asked:
                top = matcher.match(asked.question)[0]
                threshold = matcher.threshold_for(top)
                correct.append(top.faq_id == asked.faq_id)
                same = top.hit.payload.get("language") == "ja"  # else a model answers from it
                direct.append(same and top.confidence >= threshold)
                thresholds.append(threshold)
            store.close()
            covered = [ok for ok, d in zip(correct, direct, strict=True) if d]
            precision = f"{statistics.fmean(covered):.3f}" if covered else "—"
            cells.append(
                f"{statistics.fmean(correct):.3f}; {len(covered) / len(correct):.3f} / "
                f"{precision} (≥ {statistics.fmean(thresholds):.3f})"
            )
        lines.append(f"| {faq_set.name} | {len(faq_set.asked)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Before, a Japanese question's FAQ confidence is the raw cosine (threshold "
        f"{RAW_THRESHOLD}); after, e5's shipped calibration (fitted on English sets only). An "
        "English entry is never the verbatim answer to a Japanese question (a model answers "
        "from it), so the cross-lingual sets have no FAQ-direct coverage by design.",
        "",
    ]
    return lines


def _policy_store(
    spaces: EmbeddingSpaces, settings: Settings, passages: list[Passage]
) -> tuple[ChunkStore, HybridRetriever]:
    store = ChunkStore(EdgeBackend.scratch_store("passages"), spaces)
    _index_passages(store, spaces, settings, passages)
    return store, _retriever(store, settings)


def _retriever(store: ChunkStore, settings: Settings) -> HybridRetriever:
    offset = settings.multilingual.cross_language_offset if settings.multilingual.enabled else 0.0
    return HybridRetriever(store, settings.retrieval, offset)


def _recall(retriever: HybridRetriever, asked: list[tuple[str, frozenset[str], str]]) -> str:
    at1, at5 = [], []
    for question, gold, title in asked:
        filters = SearchFilters(tags=(title,) if title else ())
        keys = [
            f"{h.payload['doc_id']}#{h.payload['chunk_no']}"
            for h in retriever.search(question, filters, top_k=5)
        ]
        at1.append(bool(keys[:1]) and keys[0] in gold)
        at5.append(any(k in gold for k in keys))
    return f"{statistics.fmean(at1):.3f} / {statistics.fmean(at5):.3f}"


def passage_table(
    data: Path,
    xling: Path,
    asked_cap: int,
    weights: list[float | None],
    base: Settings,
    primary: CachedEmbedder,
    multi: CachedEmbedder,
) -> list[str]:
    policy, _ = squad_passages(data / POLICYQA)
    ja_passages, ja_questions = squad_passages(data / JSQUAD)
    rows = _rows(xling / "policyqa.ja.jsonl")
    policy_ja = [
        (r["ja"], frozenset(r["gold"]), r["title"])
        for r in rows
        if detect_language(r["ja"]) == "ja"
    ]
    jsquad = [(q.question, frozenset([q.passage_id]), "") for q in sample(ja_questions, asked_cap)]
    sets = [("policyqa-ja (en paragraphs)", policy, policy_ja), ("jsquad", ja_passages, jsquad)]
    lines = [
        "## Passages: recall@1 / recall@5",
        "",
        "| set | n | " + " | ".join(_label(w) for w in weights) + " |",
        "|---|---|" + "---|" * len(weights),
    ]
    for name, passages, asked in sets:
        cells = []
        for weight in weights:
            settings = _with_weight(base, weight)
            store, retriever = _policy_store(_spaces(primary, multi, settings), settings, passages)
            cells.append(_recall(retriever, asked))
            store.close()
        lines.append(f"| {name} | {len(asked)} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def english_to_japanese(
    data: Path, xling: Path, base: Settings, primary: CachedEmbedder, multi: CachedEmbedder
) -> list[str]:
    """English questions (JSQuAD's, translated) against the Japanese paragraphs: they search the
    primary space, as shipped; e5's space beside it shows what the other direction leaves."""
    passages, _ = squad_passages(data / JSQUAD)
    rows = _rows(xling / "jsquad.en.jsonl")
    asked = [
        (r["en"], frozenset([r["gold"]]), "") for r in rows if detect_language(r["en"]) == "en"
    ]
    settings = _with_weight(base, base.retrieval.multilingual_dense_weight)
    store, retriever = _policy_store(_spaces(primary, multi, settings), settings, passages)
    e5_store, e5_retriever = _policy_store(EmbeddingSpaces(multi), settings, passages)
    lines = [
        "## English questions → Japanese paragraphs (JSQuAD questions translated): recall@1 / @5",
        "",
        f"n={len(asked)}. As shipped (English questions search MiniLM + BM25): "
        f"{_recall(retriever, asked)}; an index with e5 as its only space, for comparison (not "
        f"served): {_recall(e5_retriever, asked)}.",
        "",
    ]
    store.close()
    e5_store.close()
    return lines


def _top_cosines(
    store: ChunkStore, embedder: CachedEmbedder, space: str, texts: list[str]
) -> np.ndarray:
    vectors = embedder.embed_queries(texts)
    return np.array(
        [store.search_dense(v, SearchFilters(), 1, space)[0].score for v in vectors], dtype=float
    )


def threshold_table(
    data: Path,
    xling: Path,
    asked_cap: int,
    base: Settings,
    primary: CachedEmbedder,
    multi: CachedEmbedder,
) -> list[str]:
    """Share of questions whose best cosine clears the relevance (and direct) threshold, for
    questions answered in the index ("in") and not ("out"), before and after."""
    policy, policy_questions = squad_passages(data / POLICYQA)
    ja_passages, ja_questions = squad_passages(data / JSQUAD)
    ja_passages = sample(ja_passages, 400, seed=3)
    kept = {p.passage_id for p in ja_passages}
    settings = _with_weight(base, base.retrieval.multilingual_dense_weight)
    spaces = _spaces(primary, multi, settings)
    policy_store, _ = _policy_store(spaces, settings, policy)
    jsquad_store, _ = _policy_store(spaces, settings, ja_passages)
    xling_rows = _rows(xling / "policyqa.ja.jsonl")
    clinc_ja = _rows(xling / "clinc150.ja.jsonl")
    oos = sample(clinc_queries(data / CLINC150, "oos_val"), asked_cap)
    groups = [
        # (label, store, questions, same language as the passages, answered there)
        (
            "en → en policies, in",
            policy_store,
            [q.question for q in sample(policy_questions, asked_cap)],
            True,
            True,
        ),
        ("en → en policies, out (CLINC150 OOS)", policy_store, oos, True, False),
        (
            "ja → en policies, in (translated)",
            policy_store,
            [r["ja"] for r in xling_rows],
            False,
            True,
        ),
        (
            "ja → en policies, out (JSQuAD questions)",
            policy_store,
            [
                q.question
                for q in sample(ja_questions, asked_cap, seed=5)
                if q.passage_id not in kept
            ],
            False,
            False,
        ),
        (
            "ja → ja JSQuAD, in",
            jsquad_store,
            [q.question for q in ja_questions if q.passage_id in kept][:asked_cap],
            True,
            True,
        ),
        (
            "ja → ja JSQuAD, out (CLINC150 translated)",
            jsquad_store,
            [r["ja"] for r in clinc_ja],
            True,
            False,
        ),
    ]
    routing, m = base.routing, base.multilingual
    lines = [
        "## Relevance: share of questions whose best cosine clears the relevance / direct "
        "threshold",
        "",
        f"Before: MiniLM, routing.relevance_threshold {routing.relevance_threshold:g} / "
        f"direct_threshold {routing.direct_threshold:g}. After: the space the question searches; "
        f"Japanese: e5 at multilingual.relevance_threshold {m.relevance_threshold:g} / "
        f"direct_threshold {m.direct_threshold:g}, English passages' cosines raised by "
        f"cross_language_offset {m.cross_language_offset:g} (never quoted). 'in' should clear, "
        "'out' should not.",
        "",
        "| questions → passages | n | before | after | e5 cosine q10 / q50 / q90 |",
        "|---|---|---|---|---|",
    ]
    for label, store, texts, same, _answered in groups:
        before = _top_cosines(store, primary, PRIMARY, texts)
        japanese = detect_language(texts[0]) == "ja"
        after = _top_cosines(store, multi, MULTILINGUAL, texts) if japanese else before
        if not japanese:
            relevance, direct = routing.relevance_threshold, routing.direct_threshold
        elif same:
            relevance, direct = m.relevance_threshold, m.direct_threshold
        else:
            relevance, direct = m.relevance_threshold - m.cross_language_offset, 2.0
        q10, q50, q90 = np.quantile(
            _top_cosines(store, multi, MULTILINGUAL, texts), [0.1, 0.5, 0.9]
        )
        lines.append(
            f"| {label} | {len(texts)} | "
            f"{np.mean(before >= routing.relevance_threshold):.3f} / "
            f"{np.mean(before >= routing.direct_threshold):.3f} | "
            f"{np.mean(after >= relevance):.3f} / {np.mean(after >= direct):.3f} | "
            f"{q10:.3f} / {q50:.3f} / {q90:.3f} |"
        )
    policy_store.close()
    jsquad_store.close()
    lines += [
        "",
        "English questions search MiniLM before and after (same figures). Japanese questions were "
        "judged on MiniLM's cosine before.",
        "",
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--xling", type=Path, default=Path("var/xling"))
    parser.add_argument("--asked", type=int, default=800, help="questions per set (sampled)")
    parser.add_argument("--weights", default="0.4,0.6,0.8")
    args = parser.parse_args(argv)
    base = load_settings()
    weights: list[float | None] = [None, *(float(w) for w in args.weights.split(","))]
    primary = CachedEmbedder(build_embedder(base.embedder, base.model_cache_dir))
    multi = CachedEmbedder(build_embedder(base.multilingual, base.model_cache_dir))
    primary.warm_up()
    multi.warm_up()
    english = {
        s.name: s for s in load_sets(args.data, ["banking77", "clinc150", "jsquad"], cap=args.asked)
    }
    sets = [
        english["jsquad"],
        _xling_set(english["banking77"], args.xling / "banking77.ja.jsonl"),
        _xling_set(english["clinc150"], args.xling / "clinc150.ja.jsonl"),
    ]
    print("# Japanese and cross-lingual retrieval (bench/multilingual.py)\n")
    started = time.perf_counter()
    print("\n".join(faq_table(sets, weights, base, primary, multi)), flush=True)
    print(
        "\n".join(passage_table(args.data, args.xling, args.asked, weights, base, primary, multi)),
        flush=True,
    )
    print("\n".join(english_to_japanese(args.data, args.xling, base, primary, multi)), flush=True)
    print(
        "\n".join(threshold_table(args.data, args.xling, args.asked, base, primary, multi)),
        flush=True,
    )
    print(
        f"Cost: embedding {primary.embedded} texts with MiniLM took {primary.seconds:.1f} s "
        f"({primary.embedded / max(primary.seconds, 1e-9):.0f}/s), {multi.embedded} with e5 "
        f"{multi.seconds:.1f} s ({multi.embedded / max(multi.seconds, 1e-9):.0f}/s): the second "
        f"space adds e5's time to every ingest. Run: {time.perf_counter() - started:.0f} s."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
