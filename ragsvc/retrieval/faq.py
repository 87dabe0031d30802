"""The FAQ matcher: the best FAQ entry for a question, with a confidence the router can threshold.

An entry is several points: its question, each known phrasing (given in the FAQ file or learned
from traffic, ``ragsvc faq add-phrasing``) and its answer, which usually holds the words a customer
uses ("my card has not arrived" finds "Cards are delivered within 5 working days"). The retriever
ranks points and keeps the best of each entry, a point's cosine blended with the cosine to its
entry's centroid (``retrieval.faq_centroid_weight``: the normalised mean of the entry's phrasing
and answer vectors, read from the store for the leading entries, so a learned phrasing moves it
at once); the features of the top entry (its closest phrasing,
its answer, the margins to the runner-up, whether dense and BM25 agree: see
``faq_confidence.FEATURES``) feed the calibrated confidence, the probability that the entry is
right. A calibration is fitted per embedder, and a question uses the one of the dense space it
searched (Japanese: the multilingual one). Without a calibration for that embedder, or for a
question in a language its space carries no dense signal for (``faq_dense_weight`` 0: the features
are then BM25's alone, and a short question sharing a word with the wrong entry looked certain),
the confidence is the raw cosine to the closest phrasing, thresholded at 0.9 (``calibrated``
False; the trace says why).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ragsvc.embedding.base import Vectors
from ragsvc.embedding.spaces import PRIMARY, QueryVector
from ragsvc.retrieval.faq_confidence import FaqCalibration
from ragsvc.retrieval.fusion import Hit, fuse, identity, point_identity, standardise
from ragsvc.retrieval.hybrid import HybridRetriever, Mode
from ragsvc.store.schema import SearchFilters, StoredPoint

log = logging.getLogger(__name__)

UNCALIBRATED_THRESHOLD = 0.9
"""The raw-cosine threshold used when no calibration fits the embedder (the articles' 0.9)."""

CENTROID_ENTRIES = 5
"""The entries whose centroid is read: the first of the ranking by their points alone. The rest
keep their points' cosines. On the StackFAQ, Banking77 and CLINC150 candidate lists of
bench/faq.py (two samples, replayed in a throwaway script) the top-1 was the same as with every
candidate entry's centroid, at about a sixth of the vectors read."""


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
    features: dict[str, float] = field(default_factory=dict)
    calibrated: bool = False
    space: str = PRIMARY
    """The dense space the question searched (its calibration and threshold are that space's)."""
    uncalibrated_because: str = ""
    """Why ``confidence`` is the raw cosine: no calibration, or no dense signal for the language."""
    centroid_cos: float | None = None
    """The cosine to the entry's centroid, where the ranking blended it in (``centroid_weight``
    of each point's cosine: ``retrieval.faq_centroid_weight``)."""
    centroid_weight: float = 0.0
    similarity_floor: float = 0.0
    """The calibration's ``min_similarity`` (0 for a raw cosine): under it no direct answer."""


def is_answer_point(hit: Hit) -> bool:
    return bool(hit.payload["faq"].get("field") == "answer")


def centroid_cosines(points: Sequence[StoredPoint], query: Vectors) -> dict[str, float]:
    """The cosine of ``query`` to each entry's centroid: the normalised mean of its points'
    vectors, by entry (``identity``)."""
    vectors: dict[str, list[Vectors]] = defaultdict(list)
    for point in points:
        if point.dense is not None:
            vectors[point_identity(point.id, point.payload)].append(point.dense)
    cosines = {}
    for key, rows in vectors.items():
        centroid = np.mean(rows, axis=0)
        norm = float(np.linalg.norm(centroid))
        if norm > 0:
            cosines[key] = float(np.dot(query, centroid) / norm)
    return cosines


def blend(candidates: Sequence[Hit], centroids: dict[str, float], weight: float) -> list[float]:
    """Each candidate's cosine with ``weight`` of it taken from its entry's centroid cosine (a
    cross-language offset kept; an entry without a centroid keeps its point's cosine)."""
    blended = []
    for hit in candidates:
        own = hit.dense_score - hit.dense_offset
        centroid = centroids.get(identity(hit), own)
        blended.append(hit.dense_offset + (1 - weight) * own + weight * centroid)
    return blended


def entry_features(ranked: list[Hit], candidates: list[Hit], position: int) -> dict[str, float]:
    """What the matcher knows about the entry at ``position`` of ``ranked`` (one hit per entry),
    read from every candidate point (the union of the dense and BM25 lists)."""
    key = identity(ranked[position])
    lexical = dict(
        zip(
            (h.id for h in candidates),
            standardise([h.lexical_score for h in candidates]),
            strict=True,
        )
    )
    own = [h for h in candidates if identity(h) == key]
    others = [h for h in candidates if identity(h) != key]
    floor = min(h.dense_score for h in candidates)
    phrasings = [h.dense_score for h in own if not is_answer_point(h)]
    answers = [h.dense_score for h in own if is_answer_point(h)]
    best_other = max((h.dense_score for h in others), default=floor)
    dense_top = identity(max(candidates, key=lambda h: h.dense_score))
    lexical_top = identity(max(candidates, key=lambda h: h.lexical_score))
    runner_up = (
        ranked[position + 1].score
        if position + 1 < len(ranked)
        else min(h.score for h in candidates)
    )
    return {
        "phrasing_cos": max(phrasings, default=floor),
        "answer_cos": max(answers, default=floor),
        "dense_margin": max(h.dense_score for h in own) - best_other,
        "fused_margin": ranked[position].score - runner_up,
        "lexical_z": max(lexical[h.id] for h in own),
        "agree": float(dense_top == lexical_top == key),
    }


class FaqMatcher:
    def __init__(
        self,
        retriever: HybridRetriever,
        calibrations: FaqCalibration | Sequence[FaqCalibration] = (),
        candidates: int = 20,
        threshold: float | None = None,
    ) -> None:
        """``calibrations``: each is used by the dense space whose embedder it was fitted with."""
        if candidates <= 0:
            raise ValueError(f"candidates must be greater than 0, got {candidates}")
        self.retriever = retriever
        self.candidates = candidates
        self.configured_threshold = threshold
        given = [calibrations] if isinstance(calibrations, FaqCalibration) else list(calibrations)
        self.calibrations: dict[str, FaqCalibration] = {}
        for space, embedder in retriever.spaces.embedders().items():
            fitted = [c for c in given if c.embedder == embedder.name]
            if fitted:
                self.calibrations[space] = fitted[-1]
            else:
                log.warning(
                    "no FAQ calibration for the embedder %s (fitted for: %s): its FAQ confidence "
                    "is the raw cosine (fit one with `ragsvc faq calibrate`)",
                    embedder.name,
                    ", ".join(c.embedder for c in given) or "none",
                )

    @property
    def calibration(self) -> FaqCalibration | None:
        """The primary (English) space's calibration."""
        return self.calibrations.get(PRIMARY)

    @property
    def threshold(self) -> float:
        """The primary space's threshold of calibrated confidences: the configured one
        (``routing.faq_threshold``), else the calibration's, else 0.9 on the raw cosine."""
        return self._threshold(PRIMARY)

    def _threshold(self, space: str) -> float:
        if self.configured_threshold is not None:
            return self.configured_threshold
        calibration = self.calibrations.get(space)
        return calibration.threshold if calibration else UNCALIBRATED_THRESHOLD

    def _uncalibrated_because(self, space: str, dense_weight: float) -> str:
        if space not in self.calibrations:
            return "no calibration for this embedder"
        if dense_weight <= 0:
            return (
                "the embedder carries no dense signal for the question's language "
                "(retrieval.faq_dense_weight 0)"
            )
        return ""

    def threshold_for(self, match: FaqMatch | None) -> float:
        """The confidence at or above which ``match`` is answered directly: :attr:`threshold` for
        a calibrated confidence, 0.9 for a raw cosine (unless ``routing.faq_threshold`` is set)."""
        if match is None:
            return self.threshold
        if self.configured_threshold is not None or match.calibrated:
            return self._threshold(match.space)
        return UNCALIBRATED_THRESHOLD

    def _centroids(
        self, leaders: list[Hit], filters: SearchFilters, query: QueryVector
    ) -> dict[str, float]:
        """The cosine to the centroid of each entry of ``leaders``, read from every point of it."""
        faq_ids = {str(h.payload["faq"]["faq_id"]) for h in leaders}
        points = self.retriever.store.faq_points(faq_ids, filters, query.space)
        return centroid_cosines(points, query.vector)

    def match(
        self,
        question: str,
        language: str | None = None,
        tags: tuple[str, ...] = (),
        mode: Mode = "hybrid",
        query_vector: QueryVector | None = None,
        context_tags: tuple[tuple[str, ...], ...] = (),
    ) -> list[FaqMatch]:
        """FAQ entries best first (one per FAQ id); empty when the index holds no FAQ. Only the
        first carries features and a calibrated confidence; the rest carry their cosine."""
        filters = SearchFilters(kind="faq", language=language, tags=tags, context_tags=context_tags)
        limit = max(self.retriever.settings.candidates, self.candidates)
        if query_vector is None and mode != "lexical":
            query_vector = self.retriever.embed(question)
        candidates = self.retriever.candidates(question, filters, limit, mode, query_vector)
        if not candidates:
            return []
        dense_weight = self.retriever.dense_weight(question, mode, faq=True)
        centroid_weight = self.retriever.centroid_weight(question, mode)
        ranked = fuse(candidates, dense_weight, self.candidates)
        centroids: dict[str, float] = {}
        if centroid_weight > 0 and query_vector is not None:
            centroids = self._centroids(ranked[:CENTROID_ENTRIES], filters, query_vector)
            blended = blend(candidates, centroids, centroid_weight)
            ranked = fuse(candidates, dense_weight, self.candidates, blended)
        space = query_vector.space if query_vector else self.retriever.space_for(question)
        calibration = self.calibrations.get(space)
        because = self._uncalibrated_because(space, dense_weight)
        best: dict[str, float] = defaultdict(float)
        for hit in candidates:
            if not is_answer_point(hit):
                best[identity(hit)] = max(best[identity(hit)], hit.dense_score)
        matches = []
        for i, hit in enumerate(ranked):
            features = entry_features(ranked, candidates, i) if i == 0 else {}
            cosine = best.get(identity(hit), hit.dense_score)
            calibrated = bool(features) and not because
            if calibrated and calibration is not None:
                confidence = calibration.confidence(features)
            else:
                confidence = cosine
            faq = hit.payload["faq"]
            runner_up = ranked[i + 1].score if i + 1 < len(ranked) else 0.0
            matches.append(
                FaqMatch(
                    faq_id=str(faq["faq_id"]),
                    question=str(faq["question"]),
                    answer=hit.answer_text,
                    source=str(hit.payload["source"]),
                    confidence=max(0.0, min(1.0, confidence)),
                    margin=hit.score - runner_up,
                    matched_phrasing=str(faq["phrasing"]),
                    hit=hit,
                    features=features,
                    calibrated=calibrated,
                    space=space,
                    uncalibrated_because=because if features else "",
                    centroid_cos=centroids.get(identity(hit)),
                    centroid_weight=centroid_weight if centroids else 0.0,
                    similarity_floor=calibration.min_similarity
                    if calibrated and calibration
                    else 0.0,
                )
            )
        return matches
