"""The analysis cascade on real GGUF models through llama-cpp-python: a valid analysis or a
recorded fallback, never an exception."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ragsvc.analysis.cascade import CascadeAnalyzer, build_analyzer
from ragsvc.analysis.slm import SlmAnalyzer
from ragsvc.embedding import Embedder
from ragsvc.models.llama import LocalLlm, build_local_llm
from ragsvc.settings import load_settings
from tests.conftest import MODEL_CACHE

QUESTIONS = [
    "How do I reset my password?",
    "Is the remote work allowance bigger than the travel allowance for managers?",
    "booking limits question",
    "VPNに接続できないのですが、パスワードの変更方法と二要素認証の再設定方法も教えてください。",
    "",
]


def strict_cascade(embedder: Embedder, model: LocalLlm) -> CascadeAnalyzer:
    """The default settings, except that the fast stage settles nothing but cues."""
    settings = load_settings()
    settings = settings.model_copy(
        update={
            "analysis": settings.analysis.model_copy(
                update={"fast_confidence": 0.999, "head_confidence": 0.999}
            )
        }
    )
    return build_analyzer(settings, embedder, model, None)


@pytest.fixture(scope="module")
def tiny(tiny_gguf: Path) -> Iterator[LocalLlm]:
    model = LocalLlm(tiny_gguf, n_ctx=1024, n_threads=2)
    model.warm_up()
    yield model


def test_tiny_model_analyses_or_falls_back(embedder: Embedder, tiny: LocalLlm) -> None:
    analyzer = strict_cascade(embedder, tiny)
    for question in QUESTIONS:
        result = analyzer.analyze(question)
        assert result.stages, question
        if result.stage == "slm":
            assert result.stages[-1].confidence is not None
        if result.kind == "multi_part":
            assert len(result.sub_queries) >= 2, result
    japanese = analyzer.analyze(QUESTIONS[3])
    assert japanese.kind == "multi_part" and len(japanese.sub_queries) == 3


def test_tiny_model_generates_json_sub_queries(tiny: LocalLlm) -> None:
    parts, note, result = SlmAnalyzer(tiny, 96).split(
        "How do I book a hotel and what is the meal allowance?", "en"
    )
    assert len(parts) >= 2 and result.completion_tokens > 0, note


@pytest.mark.default_model
def test_default_model_labels_questions(embedder: Embedder) -> None:
    settings = load_settings().model_copy(update={"model_cache_dir": MODEL_CACHE})
    model = build_local_llm(settings)
    assert model is not None
    kind, confidence, _ = SlmAnalyzer(model).label("How do I reset my password?")
    assert kind == "simple_factual" and 0 < confidence <= 1
    analyzer = strict_cascade(embedder, model)
    multi = analyzer.analyze("How do I reset my password and what is the hotel limit in Tokyo?")
    assert multi.kind == "multi_part" and len(multi.sub_queries) == 2
