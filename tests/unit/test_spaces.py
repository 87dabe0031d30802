"""Two dense spaces: Japanese questions search the multilingual one, each space has its own FAQ
calibration and relevance thresholds, and text in another language is never quoted."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ingest.job import IngestJob
from ragsvc.cost.ledger import open_ledger
from ragsvc.embedding.base import Vectors
from ragsvc.embedding.spaces import MULTILINGUAL, PRIMARY, EmbeddingSpaces
from ragsvc.index import Index, open_index
from ragsvc.pipeline.answering import AskInput
from ragsvc.pipeline.router import choose_passages, passage_thresholds
from ragsvc.pipeline.service import AskService
from ragsvc.retrieval.faq import FaqMatcher
from ragsvc.retrieval.faq_confidence import FaqCalibration, fit_calibration
from ragsvc.retrieval.fusion import Hit
from ragsvc.retrieval.hybrid import HybridRetriever
from ragsvc.settings import Settings
from ragsvc.store.edge import EdgeBackend
from ragsvc.store.qdrant_store import ChunkStore
from ragsvc.store.schema import SearchFilters
from ragsvc.traces.store import TraceStore
from tests.conftest import make_settings
from tests.fakes import FakeAnalyzer, FakeEmbedder

JA_FAQ = """\
faqs:
  - id: ja-pw
    question: パスワードを変更するにはどうすればよいですか？
    answer: ポータルで新しいパスワードを設定します。
"""
GLOSSARY = {"パスワード": "password", "ホテル": "hotel", "東京": "tokyo", "上限": "limit"}


class FakeMultilingual(FakeEmbedder):
    """The fake embedder after a tiny glossary: Japanese words land where their English ones do."""

    name = "fake-multilingual"

    def _one(self, text: str) -> Vectors:
        for japanese, english in GLOSSARY.items():
            text = text.replace(japanese, f" {english} ")
        return super()._one(text)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        multilingual={
            "enabled": True,
            "relevance_threshold": 0.3,
            "direct_threshold": 0.5,
            "cross_language_offset": 0.05,
        },
        cost={"ledger_path": tmp_path / "cost.sqlite"},
    )


def _calibration(embedder: str, threshold: float) -> FaqCalibration:
    rows = [
        {
            "phrasing_cos": c,
            "answer_cos": c,
            "dense_margin": c / 2,
            "fused_margin": c,
            "lexical_z": c,
            "agree": float(c > 0.5),
        }
        for c in np.linspace(0, 1, 40)
    ]
    fitted = fit_calibration(
        rows,
        [r["phrasing_cos"] > 0.5 for r in rows],
        embedder=embedder,
        min_precision=0.9,
        fitted_on="",
    )
    return replace(fitted, threshold=threshold)


@pytest.fixture
def spaces() -> EmbeddingSpaces:
    return EmbeddingSpaces(FakeEmbedder(), FakeMultilingual(), frozenset({"ja"}))


@pytest.fixture
def two_space_index(
    settings: Settings, corpus: Path, spaces: EmbeddingSpaces, tmp_path: Path
) -> Iterator[Index]:
    (corpus / "faq-ja.yaml").write_text(JA_FAQ)
    store = ChunkStore(EdgeBackend(tmp_path / "index", "test"), spaces)
    assert IngestJob(store, settings).run([corpus]).ok
    offset = settings.multilingual.cross_language_offset
    retriever = HybridRetriever(store, settings.retrieval, offset)
    calibrations = [_calibration("fake-embedder", 0.8), _calibration("fake-multilingual", 0.7)]
    yield Index(spaces.primary, store, retriever, FaqMatcher(retriever, calibrations))
    store.close()


def test_each_language_is_embedded_in_its_space(spaces: EmbeddingSpaces) -> None:
    assert spaces.space_for("ja") == MULTILINGUAL and spaces.space_for("en") == PRIMARY
    assert EmbeddingSpaces(FakeEmbedder()).space_for("ja") == PRIMARY
    texts, languages = ["hotel", "東京のホテル", "limit"], ["en", "ja", "en"]
    vectors = spaces.embed_queries(texts, languages)
    assert [v.space for v in vectors] == [PRIMARY, MULTILINGUAL, PRIMARY]
    for text, language, got in zip(texts, languages, vectors, strict=True):
        np.testing.assert_allclose(got.vector, spaces.embed_query(text, language).vector)
    assert spaces.name == "fake-embedder + fake-multilingual"


def test_a_japanese_question_finds_the_english_passage(two_space_index: Index) -> None:
    """The cosine to the English passage is raised by the cross-language offset (0.05 here)."""
    retriever = two_space_index.retriever
    (top, *_) = retriever.search("東京のホテルの上限", top_k=3)
    assert top.payload["source"] == "travel.md" and top.space == MULTILINGUAL
    assert top.dense_offset == 0.05 and top.dense_score > 0.3
    vector = retriever.embed("東京のホテルの上限")
    raw = {
        h.id: h.score
        for h in retriever.store.search_dense(vector.vector, SearchFilters(), 20, MULTILINGUAL)
    }
    assert top.dense_score == pytest.approx(raw[top.id] + 0.05, abs=1e-6)
    (japanese, *_) = retriever.search("パスワードを変更するにはどうすればよいですか？", top_k=1)
    assert japanese.payload["language"] == "ja" and japanese.dense_offset == 0.0


def test_each_space_uses_its_own_faq_calibration(two_space_index: Index) -> None:
    faq = two_space_index.faq
    (japanese, *_) = faq.match("パスワードを変更するにはどうすればよいですか？")
    assert japanese.faq_id == "ja-pw" and japanese.space == MULTILINGUAL and japanese.calibrated
    assert faq.threshold_for(japanese) == 0.7
    (english, *_) = faq.match("How do I reset my password?")
    assert english.space == PRIMARY and faq.threshold_for(english) == 0.8 == faq.threshold


def _hit(space: str, language: str, cosine: float) -> Hit:
    return Hit(f"{space}-{language}", {"language": language}, cosine, 0.0, space=space)


def test_thresholds_depend_on_the_space_and_the_passage_language(settings: Settings) -> None:
    same = passage_thresholds(settings, _hit(MULTILINGUAL, "ja", 0.9), "ja")
    other = passage_thresholds(settings, _hit(MULTILINGUAL, "en", 0.9), "ja")
    english = passage_thresholds(settings, _hit(PRIMARY, "en", 0.9), "en")
    assert (same.relevance, same.direct) == (0.3, 0.5)
    assert (other.relevance, other.direct) == (0.3, None) and "en passage" in other.note
    routing = settings.routing
    assert (english.relevance, english.direct) == (
        routing.relevance_threshold,
        routing.direct_threshold,
    )
    japanese_hit_for_english = passage_thresholds(settings, _hit(PRIMARY, "ja", 0.9), "en")
    assert japanese_hit_for_english.direct is None


def test_the_quoted_passage_is_in_the_question_language(settings: Settings) -> None:
    english = _hit(MULTILINGUAL, "en", 0.6)  # clears 0.3 by 0.3
    japanese = _hit(MULTILINGUAL, "ja", 0.55)  # clears 0.3 by 0.25
    choice = choose_passages([english, japanese], "ja", settings)
    assert choice.relevant is not None and choice.relevant[0] is english
    assert choice.quotable is not None and choice.quotable[0] is japanese
    only_english = choose_passages([english], "ja", settings)
    assert only_english.quotable is None
    ranked_first, closer = _hit(MULTILINGUAL, "ja", 0.52), _hit(MULTILINGUAL, "ja", 0.6)
    ranked_first.id = "first"
    both_clear = choose_passages([ranked_first, closer], "ja", settings)
    assert both_clear.quotable is not None and both_clear.quotable[0] is ranked_first
    below = choose_passages(
        [_hit(MULTILINGUAL, "ja", 0.4), _hit(MULTILINGUAL, "ja", 0.45)], "ja", settings
    )
    assert below.quotable is not None and below.quotable[0].dense_score == 0.45


def test_an_entry_in_another_language_is_not_answered_verbatim(
    settings: Settings, two_space_index: Index
) -> None:
    two_space_index.faq.configured_threshold = 0.0
    traces = TraceStore(settings.traces)
    ledger = open_ledger(settings)
    try:
        service = AskService(settings, two_space_index, FakeAnalyzer(), traces, ledger)
        trace = service.ask(AskInput("パスワード reset"))
    finally:
        traces.close()
        ledger.close()
    checks = {c.name: c for c in trace.checks}
    assert trace.route != "faq_direct"
    assert (
        not checks["faq_language"].passed
        and "en entry for a ja question" in checks["faq_language"].note
    )


def test_an_index_built_before_the_multilingual_space_is_served_as_it_was(
    tmp_path: Path, corpus: Path, spaces: EmbeddingSpaces, caplog: pytest.LogCaptureFixture
) -> None:
    """Upgrading does not refuse the existing index (its learned phrasings live there): Japanese
    questions search the primary space until the operator re-indexes."""
    before = make_settings(tmp_path)
    index = open_index(before, FakeEmbedder())
    assert IngestJob(index.store, before).run([corpus]).ok
    index.close()
    after = make_settings(tmp_path, multilingual={"enabled": True})
    index = open_index(after, spaces)
    try:
        assert list(index.store.spaces.embedders()) == [PRIMARY]
        assert "built without the multilingual space" in caplog.text
        assert index.retriever.search("東京のホテル", top_k=1)[0].space == PRIMARY
    finally:
        index.close()
