"""Query-analysis benchmark: fast classifier alone, SLM alone and the cascade, on public data.

    python bench/analysis.py [--data ../shared/data] [--per-class 200] [--slm-per-class 100]

One run, fixed seed, balanced samples (see ../shared/data/README.md for sources and licences):
- simple vs complex: EN NQ-open (simple) vs HotpotQA (complex); JA JSQuAD (simple) vs JEMHopQA
  (complex), drawn from the half of the routing data the complexity head was not fitted on
  (ragsvc/analysis/head.py, bench/train_head.py). A question counts as "complex" when analysed as
  multi_part or complex. The labels come from dataset origin, so accuracy is also shown per
  source. The fast classifier runs twice: with the head, and with nearest examples only.
- sets the head never saw: the share analysed complex of StackFAQ user queries, PolicyQA and
  CLINC150 in-scope questions (lookups and requests: lower is better) and of Break's HotpotQA dev
  questions not in the routing data (multi-hop: higher is better).
- out of scope: CLINC150 dev; the scope is the in-scope *training* queries embedded in memory
  (as the service's scope is its index); OOS recall on oos_val, false positives on in-scope val.
- decomposition, when the SLM is asked to split: Break HotpotQA rows (share split into >= 2
  sub-queries, recall of gold step tokens) and JEMHopQA (share of derivation entities that
  appear in some sub-query).
- latency per stage, and the share of questions settled without SLM generation.
The SLM-alone arm and the decomposition use subsamples (their sizes are printed).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data_parser, parse_with_data
from ingest.job import IngestJob
from ragsvc.analysis.cascade import build_analyzer
from ragsvc.analysis.fast import FastClassifier
from ragsvc.analysis.head import in_training_half
from ragsvc.analysis.scope import IndexScope, Nearest, ScopeCheck, neighbourhood_similarity
from ragsvc.analysis.slm import SlmAnalyzer
from ragsvc.embedding import Embedder, build_embedder
from ragsvc.embedding.base import Vectors
from ragsvc.evaluation.datasets import (
    CLINC150,
    POLICYQA,
    STACKFAQ,
    clinc_out_of_scope,
    clinc_queries,
    squad_passages,
    stackfaq,
)
from ragsvc.evaluation.mix import build_mix, write_corpus
from ragsvc.index import open_index
from ragsvc.models.llama import LocalLlm, build_local_llm
from ragsvc.settings import Settings, load_settings
from ragsvc.text.lexical import tokenize

COMPLEX_KINDS = {"multi_part", "complex"}


@dataclass(frozen=True, slots=True)
class Item:
    question: str
    label: str
    source: str
    language: str
    derivations: tuple[str, ...] = ()


def load_routing(data: Path, per_class: int, rng: random.Random) -> list[Item]:
    items: list[Item] = []
    for language in ("en", "ja"):
        lines = (data / f"routing/route_mix_{language}.jsonl").read_text().splitlines()
        rows = [
            json.loads(line) for line in lines if not in_training_half(json.loads(line)["question"])
        ]
        for label in ("simple", "complex"):
            chosen = rng.sample([r for r in rows if r["label"] == label], per_class)
            items += [
                Item(
                    r["question"],
                    label,
                    r["source"],
                    language,
                    tuple(str(d[0]) for d in r.get("derivations") or []),
                )
                for r in chosen
            ]
    return items


class MemoryScope:
    """The scope as a set of in-scope example questions embedded in memory."""

    def __init__(self, vectors: Vectors, neighbours: int) -> None:
        self.vectors = vectors
        self.neighbours = neighbours

    def nearest(self, question: str, vector: Vectors) -> Nearest:
        similarities = self.vectors @ vector
        top = np.partition(similarities, -self.neighbours)[-self.neighbours :]
        return Nearest(neighbourhood_similarity(top.tolist(), self.neighbours))


def f1_macro(gold: Sequence[str], predicted: Sequence[str]) -> float:
    scores = []
    for label in ("simple", "complex"):
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, predicted, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def classification_rows(
    name: str, items: Sequence[Item], predict: Callable[[Item], str]
) -> list[str]:
    predicted = [predict(item) for item in items]
    rows = []
    for language in ("en", "ja"):
        pairs = [(i, p) for i, p in zip(items, predicted, strict=True) if i.language == language]
        gold = [i.label for i, _ in pairs]
        guess = [p for _, p in pairs]
        accuracy = np.mean([g == p for g, p in zip(gold, guess, strict=True)])
        per_source = {
            i.source: np.mean([p == i.label for j, p in pairs if j.source == i.source])
            for i, _ in pairs
        }
        sources = ", ".join(f"{s} {a:.3f}" for s, a in sorted(per_source.items()))
        rows.append(
            f"| {name} | {language} | {len(pairs)} | {accuracy:.3f} | "
            f"{f1_macro(gold, guess):.3f} | {sources} |"
        )
    return rows


def gold_steps(decomposition: str) -> list[set[str]]:
    steps = []
    for step in decomposition.split(";"):
        text = re.sub(r"#\d+", " ", step.replace("return", " "))
        tokens = set(tokenize(text))
        if tokens:
            steps.append(tokens)
    return steps


def main() -> int:
    parser = data_parser(__doc__)
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--slm-per-class", type=int, default=100)
    parser.add_argument("--decompose", type=int, default=60, help="questions per decomposition set")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--oos-per-category", type=int, default=60, help="help-desk mix questions per category"
    )
    args = parse_with_data(parser)
    rng = random.Random(args.seed)
    settings = load_settings()
    embedder = build_embedder(settings.embedder, settings.model_cache_dir)
    embedder.warm_up()
    slm_model = build_local_llm(settings)
    assert slm_model is not None, "the benchmark needs slm.enabled"
    slm_model.warm_up()
    items = load_routing(args.data, args.per_class, rng)
    vectors = embedder.embed_queries([i.question for i in items])
    by_question = dict(zip((i.question for i in items), vectors, strict=True))
    print(f"SLM: {settings.slm.name}; embedder: {embedder.name}; seed {args.seed}\n")
    print(routing_table(settings, embedder, slm_model, items, by_question, args, rng))
    print(unseen_sets_table(settings, embedder, args.data, args.per_class, rng))
    print(oos_table(settings, embedder, slm_model, args.data, rng))
    print(helpdesk_oos_table(settings, embedder, args.data, args.oos_per_category))
    print(decomposition_table(settings, slm_model, args.data, args.decompose, rng))
    return 0


def routing_table(
    settings: Settings,
    embedder: Embedder,
    slm_model: LocalLlm,
    items: list[Item],
    vectors: dict[str, Vectors],
    args: argparse.Namespace,
    rng: random.Random,
) -> str:
    fast = FastClassifier(embedder, settings.analysis)
    nearest = nearest_examples_only(embedder, settings)
    slm = SlmAnalyzer(slm_model, settings.analysis.max_split_tokens)
    cascade = build_analyzer(settings, embedder, slm_model, None)

    def fast_only(item: Item) -> str:
        kind = fast.classify(item.question, vectors[item.question], item.language).kind
        return "complex" if kind in COMPLEX_KINDS else "simple"

    def nearest_only(item: Item) -> str:
        kind = nearest.classify(item.question, vectors[item.question], item.language).kind
        return "complex" if kind in COMPLEX_KINDS else "simple"

    def slm_only(item: Item) -> str:
        kind, _, _ = slm.label(item.question)
        return "complex" if kind in COMPLEX_KINDS else "simple"

    stage_ms: dict[str, list[float]] = {"fast": [], "slm": [], "rules": []}
    totals: list[float] = []
    generated = by_fast = 0

    def full(item: Item) -> str:
        nonlocal generated, by_fast
        started = time.perf_counter()
        result = cascade.analyze(item.question, query_vector=vectors[item.question])
        totals.append(1000 * (time.perf_counter() - started))
        for stage in result.stages:
            stage_ms[stage.stage].append(stage.latency_ms)
        generated += any(s.stage == "slm" and s.completion_tokens > 1 for s in result.stages)
        by_fast += result.stage == "fast"
        return "complex" if result.kind in COMPLEX_KINDS else "simple"

    sub = [
        item
        for language in ("en", "ja")
        for label in ("simple", "complex")
        for item in rng.sample(
            [i for i in items if i.language == language and i.label == label], args.slm_per_class
        )
    ]
    lines = [
        "### simple vs complex (complex = analysed as multi_part or complex)",
        "",
        "| analyser | lang | n | accuracy | macro-F1 | accuracy per source |",
        "|---|---|---|---|---|---|",
        *classification_rows("fast, nearest examples only", items, nearest_only),
        *classification_rows("fast classifier (with head)", items, fast_only),
        *classification_rows("SLM alone", sub, slm_only),
        *classification_rows("cascade", items, full),
        "",
        "| cascade stage | runs | p50 ms | p95 ms |",
        "|---|---|---|---|",
    ]
    for stage, values in stage_ms.items():
        lines.append(f"| {stage} | {len(values)} | {pct(values, 50):.1f} | {pct(values, 95):.1f} |")
    lines += [
        f"| **overall** | {len(totals)} | {pct(totals, 50):.1f} | {pct(totals, 95):.1f} |",
        "",
        f"settled by the fast stage: {by_fast}/{len(totals)}; "
        f"without SLM generation: {len(totals) - generated}/{len(totals)}",
        "",
    ]
    return "\n".join(lines)


def nearest_examples_only(embedder: Embedder, settings: Settings) -> FastClassifier:
    return FastClassifier(
        embedder, settings.analysis.model_copy(update={"use_complexity_head": False})
    )


def unseen_sets_table(
    settings: Settings, embedder: Embedder, data: Path, size: int, rng: random.Random
) -> str:
    """Share analysed complex (fast stage) on sets the head was not fitted on."""
    routing = {
        json.loads(line)["question"]
        for line in (data / "routing/route_mix_en.jsonl").read_text().splitlines()
    }
    with open(data / "routing/break_hotpot_dev.csv", newline="") as fh:
        multi_hop = sorted({r["question_text"] for r in csv.DictReader(fh)} - routing)
    _, policy = squad_passages(data / POLICYQA)
    sets = {
        "StackFAQ user queries (lookup)": [q for f in stackfaq(data / STACKFAQ) for q in f.queries],
        "PolicyQA questions (lookup)": sorted({q.question for q in policy}),
        "CLINC150 in-scope val (request)": clinc_queries(data / CLINC150, "val"),
        "Break HotpotQA dev, not in routing (multi-hop)": multi_hop,
    }
    arms = {
        "nearest examples only": nearest_examples_only(embedder, settings),
        "with head": FastClassifier(embedder, settings.analysis),
    }
    lines = [
        "### sets the complexity head never saw: share analysed complex (fast stage, English)",
        "",
        "| set | n | " + " | ".join(arms) + " |",
        "|---" * (len(arms) + 2) + "|",
    ]
    for name, questions in sets.items():
        chosen = rng.sample(questions, min(size, len(questions)))
        vectors = embedder.embed_queries(chosen)
        shares = [
            np.mean(
                [
                    arm.classify(q, v, "en").kind in COMPLEX_KINDS
                    for q, v in zip(chosen, vectors, strict=True)
                ]
            )
            for arm in arms.values()
        ]
        lines.append(f"| {name} | {len(chosen)} | " + " | ".join(f"{x:.3f}" for x in shares) + " |")
    return "\n".join([*lines, ""])


def oos_table(
    settings: Settings, embedder: Embedder, slm_model: LocalLlm, data: Path, rng: random.Random
) -> str:
    train = embedder.embed_queries(clinc_queries(data / CLINC150, "train"))
    k = settings.analysis.scope_neighbours
    cascade = build_analyzer(settings, embedder, slm_model, MemoryScope(train, k))
    out = clinc_out_of_scope(data / CLINC150)
    every_inside = clinc_queries(data / CLINC150, "val")
    inside = rng.sample(every_inside, 300)
    lines = [
        f"### out of scope (CLINC150 dev; scope = in-scope train queries, mean of {k} nearest)",
        "",
        "| scope threshold | OOS recall | in-scope false positives |",
        "|---|---|---|",
    ]
    out_vectors = embedder.embed_queries(out)
    in_vectors = embedder.embed_queries(inside)
    thresholds = sorted({0.4, 0.45, 0.5, 0.55, 0.6, settings.analysis.scope_threshold})
    for threshold in thresholds:
        cascade.fast.settings = settings.analysis.model_copy(update={"scope_threshold": threshold})

        def is_oos(question: str, vector: Vectors) -> bool:
            return cascade.analyze(question, query_vector=vector).kind == "out_of_scope"

        recall = np.mean([is_oos(q, v) for q, v in zip(out, out_vectors, strict=True)])
        false_positive = np.mean([is_oos(q, v) for q, v in zip(inside, in_vectors, strict=True)])
        marker = " (configured)" if threshold == settings.analysis.scope_threshold else ""
        lines.append(f"| {threshold}{marker} | {recall:.3f} | {false_positive:.3f} |")
    lines.append(
        f"\n{len(out)} out-of-scope, {len(inside)} in-scope questions, the whole cascade\n"
    )
    every_vectors = embedder.embed_queries(every_inside)
    scopes = {n: MemoryScope(train, n) for n in sorted({1, k})}
    lines += scope_score_rows(
        "CLINC150: the scope check alone, every in-scope val question",
        scopes,
        list(zip(out, out_vectors, strict=True)),
        {"in-scope val": list(zip(every_inside, every_vectors, strict=True))},
        thresholds,
    )
    return "\n".join(lines)


def scope_score_rows(
    title: str,
    scopes: dict[int, ScopeCheck],
    out: list[tuple[str, Vectors]],
    inside: dict[str, list[tuple[str, Vectors]]],
    thresholds: Sequence[float],
) -> list[str]:
    """OOS recall and in-scope false positives of the scope check alone, per neighbour count."""
    groups = list(inside)
    lines = [
        f"#### {title}",
        "",
        "| nearest averaged | threshold | OOS recall | in-scope false positives | "
        + " | ".join(groups)
        + " |",
        "|---" * (len(groups) + 4) + "|",
    ]
    for neighbours, scope in scopes.items():
        out_scores = np.array([scope.nearest(q, v).similarity for q, v in out])
        in_scores = {
            g: np.array([scope.nearest(q, v).similarity for q, v in inside[g]]) for g in groups
        }
        every = np.concatenate(list(in_scores.values()))
        for threshold in thresholds:
            per_group = " | ".join(f"{np.mean(in_scores[g] < threshold):.3f}" for g in groups)
            lines.append(
                f"| {neighbours} | {threshold} | {np.mean(out_scores < threshold):.3f} | "
                f"{np.mean(every < threshold):.3f} | {per_group} |"
            )
    return [*lines, ""]


def helpdesk_oos_table(
    settings: Settings, embedder: Embedder, data: Path, per_category: int
) -> str:
    """The scope check against an indexed help-desk corpus: the eval mix's corpus and questions."""
    with tempfile.TemporaryDirectory(prefix="ragsvc-oos-") as tmp:
        root = Path(tmp)
        write_corpus(data, root / "corpus")
        local = settings.model_copy(
            update={
                "store": settings.store.model_copy(update={"path": root / "qdrant", "url": None})
            }
        )
        index = open_index(local, embedder)
        try:
            report = IngestJob(index.store, local).run([root / "corpus"])
            mix = build_mix(data, per_category, seed=99)
            vectors = embedder.embed_queries([m.question for m in mix])
            pairs = list(zip(mix, vectors, strict=True))
            k = settings.analysis.scope_neighbours
            scopes: dict[int, ScopeCheck] = {
                n: IndexScope(index.retriever, n) for n in sorted({1, k})
            }
            categories = sorted({m.category for m in mix} - {"out_of_scope"})
            return "\n".join(
                scope_score_rows(
                    f"help-desk mix against its indexed corpus ({report.chunks_written} chunks; "
                    f"{per_category} questions per category, seed 99): the scope check alone",
                    scopes,
                    [(m.question, v) for m, v in pairs if m.category == "out_of_scope"],
                    {c: [(m.question, v) for m, v in pairs if m.category == c] for c in categories},
                    sorted({0.25, 0.3, 0.35, settings.analysis.scope_threshold}),
                )
            )
        finally:
            index.close()


def decomposition_table(
    settings: Settings, slm_model: LocalLlm, data: Path, size: int, rng: random.Random
) -> str:
    slm = SlmAnalyzer(slm_model, settings.analysis.max_split_tokens)
    with open(data / "routing/break_hotpot_dev.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if len(r["decomposition"].split(";")) >= 2]
    split_count, recalls, latencies = 0, [], []
    for row in rng.sample(rows, size):
        started = time.perf_counter()
        parts, _, _ = slm.split(row["question_text"], "en")
        latencies.append(1000 * (time.perf_counter() - started))
        split_count += len(parts) >= 2
        produced = set(tokenize(" ".join(parts)))
        steps = gold_steps(row["decomposition"])
        recalls.append(np.mean([len(s & produced) / len(s) for s in steps]))
    ja_lines = (data / "routing/route_mix_ja.jsonl").read_text().splitlines()
    ja_rows = [json.loads(line) for line in ja_lines]
    ja = rng.sample([r for r in ja_rows if r["label"] == "complex" and r.get("derivations")], size)
    ja_split, coverage = 0, []
    for row in ja:
        started = time.perf_counter()
        parts, _, _ = slm.split(row["question"], "ja")
        latencies.append(1000 * (time.perf_counter() - started))
        ja_split += len(parts) >= 2
        entities = {str(d[0]) for d in row["derivations"]}
        coverage.append(np.mean([any(e in p for p in parts) for e in entities]))
    return "\n".join(
        [
            "### decomposition when the SLM is asked to split (generation + rules fallback)",
            "",
            "| set | n | split into >= 2 | gold token recall / entity coverage |",
            "|---|---|---|---|",
            f"| Break HotpotQA | {size} | {split_count / size:.3f} | {np.mean(recalls):.3f} |",
            f"| JEMHopQA | {size} | {ja_split / size:.3f} | {np.mean(coverage):.3f} |",
            "",
            f"split latency p50 {pct(latencies, 50):.0f} ms, p95 {pct(latencies, 95):.0f} ms",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
