"""The calibrated FAQ-direct confidence: fitting, its threshold, the file it is shipped in, and
what the matcher and the trace make of it."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from ragsvc.errors import ConfigError
from ragsvc.index import Index
from ragsvc.pipeline.router import faq_is_confident
from ragsvc.retrieval.faq import UNCALIBRATED_THRESHOLD, FaqMatcher
from ragsvc.retrieval.faq_confidence import (
    DEFAULT_CALIBRATION,
    FEATURES,
    SIMILARITY_FLOOR_QUANTILE,
    FaqCalibration,
    best_similarity,
    fit_calibration,
    load_calibrations,
    precision_threshold,
    read_calibrations,
    save_calibrations,
)
from ragsvc.traces.schema import Trace


def _labelled(n: int = 400, seed: int = 3) -> tuple[list[dict[str, float]], list[bool]]:
    """Matches whose chance of being right grows with the lead over the next entry."""
    rng = random.Random(seed)
    rows, correct = [], []
    for _ in range(n):
        margin = rng.uniform(0.0, 0.3)
        rows.append(
            {
                "phrasing_cos": rng.uniform(0.5, 1.0),
                "answer_cos": rng.uniform(0.3, 0.8),
                "dense_margin": margin,
                "fused_margin": 5 * margin + rng.gauss(0, 0.1),
                "lexical_z": rng.gauss(1, 1),
                "agree": float(rng.random() < 0.5 + margin),
            }
        )
        correct.append(rng.random() < min(1.0, 0.3 + 3 * margin))
    return rows, correct


def test_fitted_confidence_grows_with_the_lead_and_its_threshold_keeps_precision() -> None:
    rows, correct = _labelled()
    calibration = fit_calibration(
        rows, correct, embedder="e", min_precision=0.95, fitted_on="synthetic"
    )
    low = calibration.confidence({**rows[0], "dense_margin": 0.0, "fused_margin": 0.0})
    high = calibration.confidence({**rows[0], "dense_margin": 0.3, "fused_margin": 1.5})
    assert 0.0 < low < high < 1.0
    confidences = [calibration.confidence(r) for r in rows]
    answered = [c for p, c in zip(confidences, correct, strict=True) if p >= calibration.threshold]
    assert answered and sum(answered) / len(answered) >= 0.95
    assert calibration.features == list(FEATURES)


def test_too_few_matches_or_one_class_cannot_be_fitted() -> None:
    rows, correct = _labelled(10)
    with pytest.raises(ValueError, match="at least 20"):
        fit_calibration(rows, correct, embedder="e", min_precision=0.9, fitted_on="")
    rows, _ = _labelled(40)
    with pytest.raises(ValueError, match="both classes"):
        fit_calibration(rows, [True] * 40, embedder="e", min_precision=0.9, fitted_on="")


def test_precision_threshold_needs_twenty_answers_before_it_trusts_a_prefix() -> None:
    confidences = [1.0 - i / 100 for i in range(60)]
    correct = [i != 25 for i in range(60)]  # one mistake, at rank 26
    assert precision_threshold(confidences, correct, 0.97) == pytest.approx(confidences[-1])
    assert precision_threshold(confidences, correct, 1.0) == pytest.approx(confidences[24])
    assert precision_threshold(confidences[:5], [True, False, True, True, True], 0.97) == 1.0


def test_calibration_file_round_trip_and_errors(tmp_path: Path) -> None:
    rows, correct = _labelled()
    fitted = fit_calibration(rows, correct, embedder="e", min_precision=0.9, fitted_on="x")
    path = tmp_path / "cal.json"
    save_calibrations(path, [fitted])
    assert load_calibrations(path) == [fitted]
    assert read_calibrations(path) == [fitted]

    path.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read the FAQ calibration"):
        load_calibrations(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_calibrations(tmp_path / "missing.json")
    path.write_text(json.dumps({"calibrations": [{}]}))
    with pytest.raises(ConfigError, match="cannot read"):
        load_calibrations(path)
    older = {**_as_dict(fitted), "features": ["phrasing_cos", "log_phrasings"]}
    path.write_text(json.dumps({"calibrations": [older]}))
    with pytest.raises(ConfigError, match="refit it"):
        load_calibrations(path)


def _as_dict(calibration: FaqCalibration) -> dict[str, object]:
    return {name: getattr(calibration, name) for name in FaqCalibration.__slots__}


def test_the_shipped_calibration_loads_for_the_default_embedder() -> None:
    found = [c.embedder for c in load_calibrations(DEFAULT_CALIBRATION)]
    assert "sentence-transformers:model" in found


def _calibration(embedder: str, threshold: float = 0.8) -> FaqCalibration:
    rows, correct = _labelled()
    fitted = fit_calibration(rows, correct, embedder=embedder, min_precision=0.9, fitted_on="")
    return replace(fitted, threshold=threshold)


def test_the_matcher_computes_every_feature_and_the_calibrated_confidence(
    memory_index: Index,
) -> None:
    calibration = _calibration(memory_index.embedder.name)
    matcher = FaqMatcher(memory_index.retriever, calibration)
    (top, *_) = matcher.match("How do I reset my password?")
    assert top.faq_id == "pw-1" and top.calibrated
    assert set(top.features) == set(FEATURES)
    assert top.features["phrasing_cos"] == pytest.approx(1.0, abs=1e-4)
    assert top.confidence == pytest.approx(calibration.confidence(top.features))
    assert matcher.threshold == 0.8
    assert FaqMatcher(memory_index.retriever, calibration, threshold=0.5).threshold == 0.5


def test_a_language_without_dense_signal_is_not_calibrated(memory_index: Index) -> None:
    """Japanese with an English embedder (``retrieval.faq_dense_weight`` ja 0): the features
    would be BM25's alone, so the confidence is the raw cosine and the threshold the raw one."""
    matcher = FaqMatcher(memory_index.retriever, _calibration(memory_index.embedder.name))
    (top, *_) = matcher.match("パスワードを忘れました")
    assert not top.calibrated and "no dense signal" in top.uncalibrated_because
    assert matcher.threshold_for(top) == UNCALIBRATED_THRESHOLD
    (english, *_) = matcher.match("How do I reset my password?")
    assert english.calibrated and matcher.threshold_for(english) == 0.8


def test_a_calibration_for_another_embedder_is_not_used(memory_index: Index) -> None:
    matcher = FaqMatcher(memory_index.retriever, _calibration("some-other-embedder"))
    (top, *_) = matcher.match("How do I reset my password?")
    assert not top.calibrated and matcher.calibration is None
    assert top.uncalibrated_because == "no calibration for this embedder"
    assert top.confidence == pytest.approx(top.features["phrasing_cos"], abs=1e-6)
    assert matcher.threshold == UNCALIBRATED_THRESHOLD


def test_the_trace_shows_the_features_the_confidence_and_the_threshold(
    memory_index: Index,
) -> None:
    matcher = FaqMatcher(memory_index.retriever, _calibration(memory_index.embedder.name))
    (top, *_) = matcher.match("reset password")
    trace = Trace(trace_id="t", question="reset password")
    passed = faq_is_confident(trace, top, 0.99, trace.question)
    (check,) = trace.checks
    assert check.name == "faq_confidence" and check.passed is passed
    assert check.score == top.confidence and check.threshold == 0.99
    assert set(check.details) == {*FEATURES, "centroid_cos", "centroid_weight", "min_similarity"}
    assert check.details["centroid_weight"] == 0.4
    assert "calibrated" in check.note and "pw-1" in check.note

    empty = Trace(trace_id="u", question="x")
    assert not faq_is_confident(empty, None, 0.9, empty.question)
    assert empty.checks[0].note == "no FAQ entry indexed"


def test_a_question_written_as_the_entry_passes_below_the_threshold(memory_index: Index) -> None:
    matcher = FaqMatcher(memory_index.retriever, _calibration(memory_index.embedder.name))
    question = (
        "  how do I reset my PASSWORD？"  # the entry's question, case, width and spaces aside
    )
    (top, *_) = matcher.match(question)
    assert top.faq_id == "pw-1" and top.features["dense_margin"] > 0
    trace = Trace(trace_id="t", question=question)
    assert faq_is_confident(trace, top, 1.01, question)
    (check,) = trace.checks
    assert check.passed and check.details["exact_phrasing"] == 1.0
    assert "as written" in check.note

    reworded = Trace(trace_id="u", question="reset password")
    (other, *_) = matcher.match("reset password")
    assert not faq_is_confident(reworded, other, 1.01, "reset password")
    assert "exact_phrasing" not in reworded.checks[0].details


def test_the_similarity_floor_keeps_nearly_every_right_answer_and_stops_a_far_question() -> None:
    rows, correct = _labelled()
    calibration = fit_calibration(rows, correct, embedder="e", min_precision=0.9, fitted_on="x")
    right = [
        best_similarity(r)
        for r, ok in zip(rows, correct, strict=True)
        if ok and calibration.confidence(r) >= calibration.threshold
    ]
    below = sum(s < calibration.min_similarity for s in right) / len(right)
    assert calibration.min_similarity > 0.5 and below <= SIMILARITY_FLOOR_QUANTILE
    # one shared word: a large lead, cosines near nothing ("what is naval engineering")
    far = {**rows[0], "phrasing_cos": 0.11, "answer_cos": 0.18, "dense_margin": 0.3}
    far["fused_margin"] = 3.2
    assert calibration.confidence(far) >= calibration.threshold
    assert calibration.under_floor(far) and not calibration.answers(far)


def test_a_calibration_written_before_the_floor_loads_without_one(tmp_path: Path) -> None:
    fitted = _calibration("e")
    older = {k: v for k, v in _as_dict(fitted).items() if k != "min_similarity"}
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"calibrations": [older]}))
    (loaded,) = load_calibrations(path)
    assert loaded.min_similarity == 0.0 and not loaded.under_floor({"phrasing_cos": 0.0})


def test_a_match_under_the_similarity_floor_is_not_answered_and_the_trace_says_why(
    memory_index: Index,
) -> None:
    floor = replace(_calibration(memory_index.embedder.name), threshold=0.0, min_similarity=1.01)
    matcher = FaqMatcher(memory_index.retriever, floor)
    (top, *_) = matcher.match("reset password")
    assert top.similarity_floor == 1.01 and best_similarity(top.features) < 1.01
    trace = Trace(trace_id="t", question="reset password")
    assert not faq_is_confident(trace, top, 0.0, trace.question)
    (check,) = trace.checks
    assert not check.passed and check.details["min_similarity"] == 1.01
    assert "under the similarity floor 1.010" in check.note
    # routing.faq_min_similarity (a variant's, say) replaces the calibration's floor
    lowered = Trace(trace_id="v", question="reset password")
    assert faq_is_confident(lowered, top, 0.0, lowered.question, floor=0.0)
    assert "min_similarity" not in lowered.checks[0].details

    asked_as_written = "How do I reset my password?"
    (exact, *_) = matcher.match(asked_as_written)
    assert faq_is_confident(Trace(trace_id="u", question="q"), exact, 0.0, asked_as_written)
