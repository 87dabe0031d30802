"""Fusing dense and lexical result lists into one ranking.

Weighted z-score fusion: each side's scores are standardised over the query's candidates (the union
of the dense and the BM25 top lists), ``z = (s - mean) / std``, then combined as
``w * z_dense + (1 - w) * z_lexical``. This is Qdrant's distribution-based score fusion (DBSF) with
a weight. Standardising both sides is what makes one weight mean the same thing across queries and
embedders: raw cosines of multilingual-e5 sit in a narrow band (about 0.75-0.9) while MiniLM's
spread over 0.1-0.9, and BM25 has no fixed scale at all, so a convex combination of raw cosine and
max-normalised BM25 needed w=0.95 for e5 and fell apart a few hundredths away (StackFAQ top-1 0.866
at 0.9, 0.850 at 1.0), where the z-scores give a broad optimum around 0.6 for e5 on English and
Japanese alike. Weighting still matters: equal-weight RRF of MiniLM and BM25 loses to dense alone on
StackFAQ (0.867 vs 0.945 top-1), and a language whose dense model is weak (MiniLM on Japanese) leans
on BM25. ``dense_weight`` 1 ranks by cosine, 0 by BM25. A candidate found by one retriever only has
its exact cosine on the dense side (the caller computes it from the stored vector) and BM25 0.

``score`` is therefore relative to the query's candidates (about -2..4); absolute thresholds use
``dense_score`` (cosine). See ``bench/retrieval.py`` for the figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ragsvc.embedding.spaces import PRIMARY


@dataclass(slots=True)
class Hit:
    """A retrieved chunk with every score that ranked it (the trace shows all three)."""

    id: str
    payload: dict[str, Any]
    dense_score: float
    lexical_score: float
    score: float = 0.0
    space: str = PRIMARY
    """The dense space ``dense_score`` is a cosine in (its thresholds are that space's)."""
    dense_offset: float = 0.0
    """Added to the cosine of a passage in another language than the question's, to bring it onto
    the same scale (``multilingual.cross_language_offset``): the raw cosine is ``dense_score -
    dense_offset``."""

    def written_in(self, language: str) -> str:
        """The chunk's language; ``language`` (the question's) when the chunk has none."""
        return str(self.payload.get("language") or language)

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))

    @property
    def answer_text(self) -> str:
        """What an answer may quote: an FAQ entry's answer without its question, else the text."""
        faq = self.payload.get("faq")
        return str(faq["answer"]) if faq else self.text


def identity(hit: Hit) -> str:
    """Phrasings of one FAQ are separate points but one answer: they count once in a ranking."""
    return point_identity(hit.id, hit.payload)


def point_identity(point_id: str, payload: dict[str, Any]) -> str:
    """What a stored point counts as in a ranking: its FAQ entry, else itself."""
    faq = payload.get("faq")
    return f"faq:{faq['faq_id']}:{payload.get('doc_id')}" if faq else point_id


def standardise(values: Sequence[float]) -> list[float]:
    """z-scores of ``values``; all 0 when they do not vary (nothing to tell apart on that side)."""
    if not values:
        return []
    mean = math.fsum(values) / len(values)
    spread = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))
    if spread <= 1e-12 * max(1.0, abs(mean)):
        return [0.0] * len(values)
    return [(v - mean) / spread for v in values]


def fuse(
    hits: list[Hit], dense_weight: float, top_k: int, dense_scores: Sequence[float] | None = None
) -> list[Hit]:
    """Set each hit's fused ``score``; the ``top_k`` best, best first, one per FAQ entry.
    ``dense_scores``: the dense side's scores when not the hits' cosines (the FAQ matcher blends
    in each entry's centroid)."""
    if not 0.0 <= dense_weight <= 1.0:
        raise ValueError(f"dense_weight must be between 0 and 1, got {dense_weight}")
    if dense_scores is not None and len(dense_scores) != len(hits):
        raise ValueError(f"{len(dense_scores)} dense scores for {len(hits)} hits")
    dense = standardise(
        [h.dense_score for h in hits] if dense_scores is None else list(dense_scores)
    )
    lexical = standardise([h.lexical_score for h in hits])
    for hit, d, lex in zip(hits, dense, lexical, strict=True):
        hit.score = dense_weight * d + (1 - dense_weight) * lex
    ranked: dict[str, Hit] = {}
    for hit in sorted(hits, key=lambda h: h.score, reverse=True):
        ranked.setdefault(identity(hit), hit)
    return list(ranked.values())[:top_k]
