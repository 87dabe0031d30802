"""The FAQ matcher: the best FAQ entry for a question, with a confidence the router can threshold.

Every phrasing of an FAQ question is its own point; the retriever keeps the best phrasing of each
entry. ``confidence`` is the cosine similarity between the question and the best phrasing of the top
entry: it does not depend on what else is in the index, so one threshold holds as the FAQ grows.
``margin`` is the fused-score lead over the runner-up entry; both go into the trace.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragsvc.embedding.base import Vectors
from ragsvc.retrieval.fusion import Hit
from ragsvc.retrieval.hybrid import HybridRetriever, Mode
from ragsvc.store.schema import SearchFilters


@dataclass(frozen=True, slots=True)
class FaqMatch:
    faq_id: str
    question: str
    answer: str
    source: str
    confidence: float
    margin: float
    matched_phrasing: str
    hit: Hit


class FaqMatcher:
    def __init__(self, retriever: HybridRetriever, candidates: int = 20) -> None:
        if candidates <= 0:
            raise ValueError(f"candidates must be greater than 0, got {candidates}")
        self.retriever = retriever
        self.candidates = candidates

    def match(
        self,
        question: str,
        language: str | None = None,
        tags: tuple[str, ...] = (),
        mode: Mode = "hybrid",
        query_vector: Vectors | None = None,
    ) -> list[FaqMatch]:
        """FAQ entries best first (one per FAQ id); empty when the index holds no FAQ."""
        ranked = self.retriever.search(
            question,
            SearchFilters(kind="faq", language=language, tags=tags),
            top_k=self.candidates,
            mode=mode,
            query_vector=query_vector,
        )
        matches = []
        for i, hit in enumerate(ranked):
            faq = hit.payload["faq"]
            runner_up = ranked[i + 1].score if i + 1 < len(ranked) else 0.0
            matches.append(
                FaqMatch(
                    faq_id=str(faq["faq_id"]),
                    question=str(faq["question"]),
                    answer=hit.answer_text,
                    source=str(hit.payload["source"]),
                    confidence=max(0.0, min(1.0, hit.dense_score)),
                    margin=hit.score - runner_up,
                    matched_phrasing=str(faq["phrasing"]),
                    hit=hit,
                )
            )
        return matches
