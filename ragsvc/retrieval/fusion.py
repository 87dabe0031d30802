"""Fusing dense and lexical result lists into one ranking.

Convex combination, ``w * dense + (1 - w) * lexical / max(lexical)``: the dense cosine keeps its
absolute meaning (a weak best match stays weak), BM25 scores, which have no fixed scale, are divided
by the best lexical score of the query. A candidate found by one retriever only gets 0 from the
other's lexical side, and its exact cosine on the dense side (the caller computes it from the stored
vector). Weighting matters: equal-weight RRF of MiniLM and BM25 loses to dense alone on StackFAQ
(0.750 vs 0.928 top-1), while a convex combination lets each language lean on the retriever that
serves it (MiniLM is weak on Japanese, so Japanese leans lexical). See ``bench/retrieval.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Hit:
    """A retrieved chunk with every score that ranked it (the trace shows all three)."""

    id: str
    payload: dict[str, Any]
    dense_score: float
    lexical_score: float
    score: float = 0.0

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))


def _identity(hit: Hit) -> str:
    """Phrasings of one FAQ are separate points but one answer: they count once in a ranking."""
    faq = hit.payload.get("faq")
    return f"faq:{faq['faq_id']}:{hit.payload.get('doc_id')}" if faq else hit.id


def fuse(hits: list[Hit], dense_weight: float, top_k: int) -> list[Hit]:
    """Set each hit's fused ``score``; the ``top_k`` best, best first, one per FAQ entry."""
    if not 0.0 <= dense_weight <= 1.0:
        raise ValueError(f"dense_weight must be between 0 and 1, got {dense_weight}")
    best_lexical = max((h.lexical_score for h in hits), default=0.0)
    for hit in hits:
        lexical = hit.lexical_score / best_lexical if best_lexical > 0 else 0.0
        hit.score = dense_weight * max(hit.dense_score, 0.0) + (1 - dense_weight) * lexical
    ranked: dict[str, Hit] = {}
    for hit in sorted(hits, key=lambda h: h.score, reverse=True):
        ranked.setdefault(_identity(hit), hit)
    return list(ranked.values())[:top_k]
