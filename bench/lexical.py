"""BM25 alone: ragsvc's lexical tokens against Qdrant Edge's own ``Bm25`` model, on the same sets.

    python bench/lexical.py [--data ../shared/data] [--sample 1000]

Each arm writes BM25 document vectors of every chunk into a Qdrant Edge shard (sparse vector with
the IDF modifier, as the store does) and ranks by BM25 alone: StackFAQ top-1 (each entry's
question and answer, every reworded query), PolicyQA recall@5 within the asked policy, JSQuAD
recall@5 over all paragraphs. Arms:
- ragsvc: ``ragsvc.text.lexical`` (Porter step 1, English stop words, Japanese script bigrams);
- edge, the set's language: ``Bm25Config(language="english")`` for StackFAQ and PolicyQA
  (Snowball stemmer, stop words), ``language="japanese"`` with the multilingual tokenizer for
  JSQuAD;
- edge multilingual: ``Bm25Config(tokenizer=Multilingual)``, no language: one model for a
  mixed corpus, as ragsvc's tokens are.
Edge's ``avg_len`` is the arm's mean document length in its own tokens (default would be 256).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import qdrant_edge as edge

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data_parser, parse_with_data
from bench.retrieval import recall, top1
from ragsvc.evaluation.datasets import (
    JSQUAD,
    POLICYQA,
    STACKFAQ,
    gold_questions,
    sample,
    squad_passages,
)
from ragsvc.evaluation.datasets import stackfaq as load_stackfaq
from ragsvc.settings import LexicalSettings
from ragsvc.text.lexical import SparseTerms, document_terms, query_terms

Embed = Callable[[str], edge.SparseVector]


@dataclass(frozen=True)
class Arm:
    name: str
    document: Embed
    query: Embed


@dataclass(frozen=True)
class Task:
    label: str
    documents: list[tuple[str, str, str]]  # key, text, scope tag
    questions: list[str]
    gold: list[frozenset[str]]
    scopes: list[str | None]
    metric: Callable[[list[list[str]], list[frozenset[str]]], float]


def _sparse(terms: SparseTerms) -> edge.SparseVector:
    return edge.SparseVector(indices=terms.indices, values=terms.values)


def ragsvc_arm() -> Arm:
    settings = LexicalSettings()
    return Arm(
        "ragsvc tokens",
        lambda text: _sparse(document_terms(text, settings)),
        lambda text: _sparse(query_terms(text)),
    )


def edge_arm(name: str, texts: Sequence[str], **config: object) -> Arm:
    """Edge's Bm25 with ``avg_len`` set to the corpus's mean length in this model's tokens."""
    probe = edge.Bm25(edge.Bm25Config(**config, k=1.2, b=0.0))  # b=0: weights carry raw tf
    lengths = [_tokens(probe.embed_document(t)) for t in texts]
    model = edge.Bm25(edge.Bm25Config(**config, avg_len=max(1.0, statistics.fmean(lengths))))
    return Arm(name, model.embed_document, model.embed_query)


def _tokens(vector: edge.SparseVector) -> float:
    """Token count from BM25 weights at b=0: w = tf*(k+1)/(tf+k), so tf = w*k/(k+1-w)."""
    k = 1.2
    return sum(w * k / (k + 1 - w) for w in vector.values)


def rank(arm: Arm, task: Task, workdir: Path) -> list[list[str]]:
    shard = edge.EdgeShard.create(
        str(workdir),
        edge.EdgeConfig(
            vectors={},
            sparse_vectors={"lexical": edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf)},
        ),
    )
    shard.update(edge.UpdateOperation.create_field_index("scope", edge.PayloadSchemaType.Keyword))
    points = [
        edge.Point(id=n, vector={"lexical": arm.document(text)}, payload={"key": key, "scope": tag})
        for n, (key, text, tag) in enumerate(task.documents)
    ]
    for start in range(0, len(points), 512):
        shard.update(edge.UpdateOperation.upsert_points(points[start : start + 512]))
    ranked = []
    for question, scope in zip(task.questions, task.scopes, strict=True):
        query = arm.query(question)
        if not query.indices:
            ranked.append([])
            continue
        flt = None
        if scope is not None:
            condition = edge.FieldCondition(key="scope", match=edge.MatchValue(scope))
            flt = edge.Filter(must=[condition])
        hits = shard.query(
            edge.QueryRequest(
                limit=10,
                query=edge.Query.Nearest(query, using="lexical"),
                filter=flt,
                with_payload=True,
            )
        )
        ranked.append(list(dict.fromkeys(str(h.payload["key"]) for h in hits)))
    shard.close()
    return ranked


def tasks(data: Path, sample_size: int) -> list[Task]:
    faqs = load_stackfaq(data / STACKFAQ)
    faq_docs = [(f.faq_id, f"{f.question}\n{f.answer}", "") for f in faqs]
    faq_questions = [(q, f.faq_id) for f in faqs for q in f.queries]
    out = [
        Task(
            f"StackFAQ top-1 (n={len(faq_questions)})",
            faq_docs,
            [q for q, _ in faq_questions],
            [frozenset([faq_id]) for _, faq_id in faq_questions],
            [None] * len(faq_questions),
            top1,
        )
    ]
    for label, path, scoped in (("PolicyQA", POLICYQA, True), ("JSQuAD", JSQUAD, False)):
        passages, questions = squad_passages(data / path)
        picked = sample(gold_questions(questions), sample_size)
        out.append(
            Task(
                f"{label} recall@5 (n={len(picked)})",
                [(p.passage_id, f"{p.title}\n{p.text}", p.title) for p in passages],
                [q.question for q in picked],
                [q.passage_ids for q in picked],
                [q.title if scoped else None for q in picked],
                recall,
            )
        )
    return out


def main() -> int:
    parser = data_parser(__doc__)
    parser.add_argument("--sample", type=int, default=1000, help="questions per passage set")
    args = parse_with_data(parser)
    rows: dict[str, dict[str, float]] = {}
    names: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="ragsvc-lexical-"))
    try:
        for task in tasks(args.data, args.sample):
            texts = [text for _, text, _ in task.documents]
            japanese = task.label.startswith("JSQuAD")
            language = (
                {"language": "japanese", "tokenizer": edge.TokenizerType.Multilingual}
                if japanese
                else {"language": "english"}
            )
            arms = [
                ragsvc_arm(),
                edge_arm("edge, the set's language", texts, **language),
                edge_arm("edge multilingual", texts, tokenizer=edge.TokenizerType.Multilingual),
            ]
            for n, arm in enumerate(arms):
                names += [arm.name] if arm.name not in names else []
                ranked = rank(arm, task, workdir / f"{task.label.split()[0]}-{n}")
                rows.setdefault(task.label, {})[arm.name] = task.metric(ranked, task.gold)
            print(f"[{task.label} done]", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("### BM25 alone: ragsvc's tokens and Qdrant Edge's Bm25 (Edge shards, IDF modifier)\n")
    print("| set | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for label, values in rows.items():
        print(f"| {label} | " + " | ".join(f"{values[n]:.3f}" for n in names) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
