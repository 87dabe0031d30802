"""FAQ-direct confidence: the probability that the top FAQ entry answers the question.

A raw cosine threshold does not carry over between FAQ sets or embedders (MiniLM cosine >= 0.9 is
right every time on Banking77 but covers 6% of its questions; multilingual-e5 cosines sit in a
narrow 0.75-0.95 band). The confidence is a logistic model over what the matcher already knows about
its top entry (:data:`FEATURES`), fitted on labelled matches (``bench/faq.py`` for the shipped
file, ``ragsvc faq calibrate`` on an operator's own questions) and tied to the embedder whose
similarities it read, like the complexity head. ``threshold`` is the lowest confidence at which the
fitting data's FAQ-direct answers were right at least ``min_precision`` of the time.

The shipped file, ``faq_calibration.json`` beside this module, says which sets it was fitted on;
``bench/faq.py`` reports every leave-one-set-out split.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ragsvc.errors import ConfigError
from ragsvc.logistic import fit_logistic, sigmoid

log = logging.getLogger(__name__)

DEFAULT_CALIBRATION = Path(__file__).with_name("faq_calibration.json")

FEATURES: tuple[str, ...] = (
    "phrasing_cos",  # cosine to the entry's closest question phrasing
    "answer_cos",  # cosine to the entry's answer (the lowest candidate cosine when not retrieved)
    "dense_margin",  # best cosine of the entry minus the best cosine of any other entry
    "fused_margin",  # fused-score lead over the runner-up entry (z units)
    "lexical_z",  # the entry's BM25 score standardised over the query's candidates
    "agree",  # 1 when dense and BM25 rank the same entry first
)
"""How many phrasings the entry has was tried and left out: fitted across sets it took a negative
weight (StackFAQ entries have one phrasing, the intent sets three), so every phrasing learned from
use lowered the entry's confidence (bench/faq.py: Banking77 coverage 0.39 -> 0.11 with 8 added).
The cosine to the entry's centroid and its lead over the next entries' centroids were tried in a
throwaway run (two samples, leave one set out) and left out: more coverage, but Banking77's
precision fell under 0.97 on one sample and CLINC150's stayed at 0.963-0.967 either way."""


SIMILARITY_FLOOR_QUANTILE = 0.01
"""The similarity floor (:attr:`FaqCalibration.min_similarity`) is this quantile of the closest
cosine among the fitting data's right FAQ-direct answers: 1 in 100 of them is given up."""


def best_similarity(features: dict[str, float]) -> float:
    """How close the question is to the entry at all: its cosine to the closest phrasing or to
    the answer, whichever is higher."""
    return max(features.get("phrasing_cos", 0.0), features.get("answer_cos", 0.0))


def under_floor(features: dict[str, float], floor: float) -> bool:
    """Whether a match is too far from its entry to be answered directly (0: no floor)."""
    return best_similarity(features) < floor


def feature_row(features: dict[str, float]) -> np.ndarray:
    return np.array([features[name] for name in FEATURES], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class FaqCalibration:
    embedder: str
    weights: list[float]
    bias: float
    mean: list[float]
    scale: list[float]
    threshold: float
    min_precision: float
    fitted_on: str = ""
    """What the labelled matches were (set names and counts): shown by ``ragsvc faq calibrate``."""
    features: list[str] = field(default_factory=lambda: list(FEATURES))
    min_similarity: float = 0.0
    """The similarity floor: under this :func:`best_similarity` a match is never answered
    directly, however confident. The confidence is linear in its features, and the fitting data
    holds only questions some entry answers: a question sharing one rare word with an entry and
    nothing else (cosines 0.1-0.2, "what is naval engineering" against StackFAQ) took a large
    fused and lexical lead from that word and scored 0.94. The floor is the
    :data:`SIMILARITY_FLOOR_QUANTILE` of the closest cosine among the right answers the
    threshold let through when fitting (0 in files written before it: no floor)."""

    def confidence(self, features: dict[str, float]) -> float:
        row = (feature_row(features) - np.asarray(self.mean)) / np.asarray(self.scale)
        return sigmoid(float(row @ np.asarray(self.weights)) + self.bias)

    def under_floor(self, features: dict[str, float]) -> bool:
        return under_floor(features, self.min_similarity)

    def answers(self, features: dict[str, float]) -> bool:
        """Whether a match with ``features`` goes FAQ-direct at this calibration's threshold."""
        return self.confidence(features) >= self.threshold and not self.under_floor(features)


def save_calibrations(path: Path, calibrations: Sequence[FaqCalibration]) -> None:
    """One file holds a calibration per embedder (the shipped one: MiniLM and multilingual-e5)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"calibrations": [asdict(c) for c in calibrations]}
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


def load_calibrations(path: Path) -> list[FaqCalibration]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        calibrations = [FaqCalibration(**c) for c in raw["calibrations"]]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"cannot read the FAQ calibration {path}: {exc!r}") from exc
    for c in calibrations:
        if c.features != list(FEATURES):
            raise ConfigError(
                f"the FAQ calibration {path} was fitted on the features {c.features}, this "
                f"version computes {list(FEATURES)}: refit it with `ragsvc faq calibrate`"
            )
        if {len(c.weights), len(c.mean), len(c.scale)} != {len(FEATURES)}:
            raise ConfigError(f"the FAQ calibration {path} has arrays of the wrong length")
    return calibrations


def read_calibrations(path: Path | None) -> list[FaqCalibration]:
    """The calibrations in ``path``, default: the shipped file."""
    return load_calibrations(path or DEFAULT_CALIBRATION)


def precision_threshold(
    confidences: Sequence[float], correct: Sequence[bool], min_precision: float
) -> float:
    """The lowest threshold above which the answers are right at least ``min_precision`` of the
    time, reading from the most confident down; 1.0 (never answer) when no threshold reaches it.

    Precision is read on the prefix, so one lucky confident answer cannot set the threshold: the
    prefix must hold at least 20 answers (or all of them when fewer).
    """
    order = sorted(range(len(confidences)), key=lambda i: confidences[i], reverse=True)
    floor = min(20, len(order))
    threshold = 1.0
    right = 0
    for n, i in enumerate(order, start=1):
        right += bool(correct[i])
        if n >= floor and right / n >= min_precision:
            threshold = confidences[i]
    return threshold


def fit_calibration(
    rows: Sequence[dict[str, float]],
    correct: Sequence[bool],
    *,
    embedder: str,
    min_precision: float,
    fitted_on: str,
    weights: Sequence[float] | None = None,
    groups: Sequence[str] | None = None,
) -> FaqCalibration:
    """Fit the logistic confidence on labelled top matches and pick the threshold for precision;
    ``weights`` (per row) let several sets weigh alike. With ``groups`` (a set name per row) the
    threshold must keep the precision on every set, not only pooled: a pooled threshold averaged
    easy sets with hard ones and lost 4 points of precision on the set left out (bench/faq.py)."""
    if len(rows) < 20:
        raise ValueError(f"need at least 20 labelled matches to fit a calibration, got {len(rows)}")
    matrix = np.stack([feature_row(r) for r in rows])
    mean = matrix.mean(axis=0)
    scale = matrix.std(axis=0)
    scale[scale < 1e-6] = 1.0
    coefficients, bias = fit_logistic(
        (matrix - mean) / scale, [int(c) for c in correct], weights, l2=1e-2
    )
    calibration = FaqCalibration(
        embedder=embedder,
        weights=[float(w) for w in coefficients],
        bias=bias,
        mean=[float(m) for m in mean],
        scale=[float(s) for s in scale],
        threshold=1.0,
        min_precision=min_precision,
        fitted_on=fitted_on,
    )
    confidences = [calibration.confidence(r) for r in rows]
    names = list(groups) if groups is not None else [""] * len(rows)
    threshold = max(
        precision_threshold(
            [c for c, g in zip(confidences, names, strict=True) if g == group],
            [c for c, g in zip(correct, names, strict=True) if g == group],
            min_precision,
        )
        for group in set(names)
    )
    right = [
        best_similarity(r)
        for r, c, ok in zip(rows, confidences, correct, strict=True)
        if ok and c >= threshold
    ]
    floor = float(np.quantile(right, SIMILARITY_FLOOR_QUANTILE, method="lower")) if right else 0.0
    return FaqCalibration(
        **{
            **asdict(calibration),
            "threshold": round(threshold, 4),
            "min_similarity": round(floor, 4),
        }
    )
