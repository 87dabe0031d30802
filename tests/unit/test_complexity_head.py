"""The complexity head: features, fitting, persistence, and how the fast classifier uses it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ragsvc.analysis.cascade import CascadeAnalyzer
from ragsvc.analysis.config import AnalysisSettings
from ragsvc.analysis.fast import FastClassifier
from ragsvc.analysis.head import (
    DEFAULT_HEAD,
    ComplexityHead,
    features,
    fit_language_head,
    in_training_half,
    load_head,
    ngram_features,
)
from ragsvc.errors import ConfigError
from tests.fakes import FakeEmbedder
from tests.unit.test_analysis import EXEMPLARS

EMBEDDER = FakeEmbedder()
SIMPLE = ["where is the printer", "when was the office opened", "who runs payroll", "what is vpn"]
COMPLEX = [
    "which opened first the tokyo office or the osaka office",
    "which was founded first the company or its parent",
    "which team won more cups the red team or the blue team",
    "which city is larger the one with the office or the one with the plant",
]


def _head() -> ComplexityHead:
    questions = SIMPLE + COMPLEX
    vectors = EMBEDDER.embed_queries(questions)
    rows = [features(q, v) for q, v in zip(questions, vectors, strict=True)]
    labels = [0] * len(SIMPLE) + [1] * len(COMPLEX)
    return ComplexityHead(EMBEDDER.name, {"en": fit_language_head(rows, labels)})


def test_case_and_punctuation_do_not_change_the_features() -> None:
    plain = ngram_features("who wrote pride and prejudice")
    np.testing.assert_array_equal(plain, ngram_features("Who wrote Pride and Prejudice?"))
    np.testing.assert_array_equal(
        ngram_features("パスワードの変更方法"), ngram_features("パスワードの変更方法？")
    )
    assert float(np.linalg.norm(plain)) == pytest.approx(1.0)
    np.testing.assert_array_equal(ngram_features("?!"), ngram_features(""))


def test_the_split_is_a_function_of_the_question() -> None:
    questions = [f"question number {n}" for n in range(200)]
    halves = [in_training_half(q) for q in questions]
    assert halves == [in_training_half(q) for q in questions]
    assert 60 < sum(halves) < 140


def test_fitted_head_separates_its_classes_and_survives_a_round_trip(tmp_path: Path) -> None:
    head = _head()
    vector = EMBEDDER.embed_queries(["which opened first the red office or the blue office"])[0]
    p = head.probability("which opened first the red office or the blue office", vector, "en")
    assert p is not None and p > 0.5
    simple = EMBEDDER.embed_queries(["where is the printer"])[0]
    assert (head.probability("where is the printer", simple, "en") or 1.0) < 0.5
    assert head.probability("where is the printer", simple, "ja") is None
    assert head.probability("where is the printer", simple[:10], "en") is None

    path = tmp_path / "head.npz"
    head.save(path)
    loaded = ComplexityHead.load(path)
    assert loaded.embedder == EMBEDDER.name and set(loaded.heads) == {"en"}
    assert loaded.probability("where is the printer", simple, "en") == pytest.approx(
        head.probability("where is the printer", simple, "en")
    )


def test_fitting_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="both classes"):
        fit_language_head([np.zeros(3, dtype=np.float32)] * 2, [1, 1])


def test_a_head_of_another_embedder_is_not_used(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert load_head(None, "another-embedder") is None
    assert "fitted with the embedder" in caplog.text
    shipped = ComplexityHead.load(DEFAULT_HEAD)
    assert set(shipped.heads) == {"en", "ja"}
    assert load_head(None, shipped.embedder) is not None


def test_an_unreadable_head_is_a_config_error(tmp_path: Path) -> None:
    broken = tmp_path / "head.npz"
    broken.write_bytes(b"not a numpy archive")
    with pytest.raises(ConfigError, match="complexity head"):
        ComplexityHead.load(broken)


def _fast(settings: AnalysisSettings) -> FastClassifier:
    return FastClassifier(EMBEDDER, settings, None, EXEMPLARS, head=_head())


def test_the_head_decides_simple_or_complex_and_the_examples_keep_chitchat() -> None:
    fast = _fast(AnalysisSettings(temperature=1.0))
    question = "which opened first the red office or the blue office"
    verdict = fast.classify(question, EMBEDDER.embed_queries([question])[0], "en")
    assert verdict.kind == "complex" and verdict.by_head
    assert verdict.detail.startswith("complexity head P(complex)")
    assert fast.informs("en") and not fast.informs("ja")

    settings = AnalysisSettings(temperature=0.01)
    verdict = _fast(settings).classify("hello there", EMBEDDER.embed_queries(["hello"])[0], "en")
    assert verdict.kind == "chitchat" and not verdict.by_head
    japanese = _fast(settings).classify("what is vpn", EMBEDDER.embed_queries(["vpn"])[0], "ja")
    assert not japanese.by_head


@pytest.mark.parametrize(("head_confidence", "stage"), [(0.5, "fast"), (1.0, "rules")])
def test_head_confidence_decides_whether_the_fast_stage_settles(
    head_confidence: float, stage: str
) -> None:
    settings = AnalysisSettings(temperature=1.0, head_confidence=head_confidence)
    analyzer = CascadeAnalyzer(EMBEDDER, _fast(settings), None, settings)
    result = analyzer.analyze("which opened first the red office or the blue office")
    assert result.stage == stage
    assert result.kind == "complex"  # unsettled, the head's complex guess stands over the rules
