"""Query analysis logic with fakes: cues, sub-query parsing, the cascade's stages and fallbacks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from ragsvc.analysis.cascade import CascadeAnalyzer
from ragsvc.analysis.config import AnalysisSettings
from ragsvc.analysis.cues import is_greeting, task_of
from ragsvc.analysis.fast import FastClassifier
from ragsvc.analysis.scope import IndexScope, Nearest, neighbourhood_similarity
from ragsvc.analysis.slm import InvalidSplitError, SlmAnalyzer, parse_sub_queries
from ragsvc.analysis.split import split_question
from ragsvc.index import Index
from tests.fakes import ChatResult, FakeEmbedder

EXEMPLARS = {
    "simple_factual": ["how do I reset my password", "what is the hotel limit"],
    "complex": ["which office opened first tokyo or osaka", "who was born first"],
    "chitchat": ["hello there", "thanks a lot"],
}


def test_japanese_request_joined_with_to_is_split_into_its_parts() -> None:
    question = (
        "VPNに接続できないのですが、パスワードの変更方法と二要素認証の再設定方法も教えてください。"
    )
    assert split_question(question, "ja") == [
        "VPNに接続できない場合はどうすればよいですか？",
        "パスワードの変更方法を教えてください。",
        "二要素認証の再設定方法を教えてください。",
    ]


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        ("有給休暇の日数は？それと経費精算の締め切りはいつですか？", 2),
        ("経費精算の締め切りと申請方法を教えてください", 2),
        ("入館証をなくしました", 1),
        ("東京と大阪の天気", 1),
    ],
)
def test_japanese_splitting(question: str, parts: int) -> None:
    assert len(split_question(question, "ja")) == parts


def test_english_parts_are_self_contained() -> None:
    assert split_question("What is the hotel limit and how do I book it?", "en") == [
        "What is the hotel limit?",
        "How do I book it (What is the hotel limit)?",
    ]
    assert split_question("Where is the printer? Also, who fixes it?", "en")[0] == (
        "Where is the printer?"
    )
    assert split_question("How do I reset my password?", "en") == ["How do I reset my password?"]
    assert split_question("Tom and Jerry: who created them?", "en") == [
        "Tom and Jerry: who created them?"
    ]


def test_greetings_and_tasks() -> None:
    assert is_greeting("Hello!") and is_greeting("ありがとうございます")
    assert not is_greeting("hello, how do I reset my password?")
    assert task_of("My VPN does not work") == "troubleshooting"
    assert task_of("How do I book a hotel?") == "how_to"
    assert task_of("経費の上限は？") == "policy"
    assert task_of("Who is the CEO?") == "lookup"


def test_sub_query_parsing_validates() -> None:
    assert parse_sub_queries('{"sub_queries": ["a?", "b?", "a?"]}', "q") == ["a?", "b?"]
    for bad in ("not json", '{"sub_queries": "a"}', '{"sub_queries": ["only one"]}', "[]"):
        with pytest.raises(InvalidSplitError):
            parse_sub_queries(bad, "q")


@dataclass
class Choice:
    probabilities: dict[str, float]


@dataclass
class FakeBackend:
    letter: str = "A"
    probability: float = 0.9
    split: str = '{"sub_queries": ["How do I book?", "What is the limit?"]}'
    error: Exception | None = None

    def choose(self, messages: list[dict[str, str]], options: Sequence[str]) -> Choice:
        if self.error:
            raise self.error
        rest = (1 - self.probability) / (len(options) - 1)
        return Choice({o: self.probability if o == self.letter else rest for o in options})

    def chat(self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float = 0.0,
             json_schema: dict[str, Any] | None = None) -> ChatResult:  # fmt: skip
        assert json_schema is not None
        return ChatResult(self.split)


class Scope:
    def __init__(self, similarity: float) -> None:
        self.similarity = similarity

    def nearest(self, question: str, vector: object) -> Nearest:
        return Nearest(self.similarity, ["it"])


def cascade(
    backend: FakeBackend | None, similarity: float = 0.9, embedding_informs: bool = True
) -> CascadeAnalyzer:
    settings = AnalysisSettings(fast_confidence=0.85, temperature=1.0)  # only cues settle
    embedder = FakeEmbedder()
    fast = FastClassifier(embedder, settings, Scope(similarity), EXEMPLARS)
    slm = SlmAnalyzer(backend) if backend else None
    return CascadeAnalyzer(embedder, fast, slm, settings, lambda _: embedding_informs)


def test_cues_settle_without_the_slm() -> None:
    result = cascade(FakeBackend(error=RuntimeError("must not be called"))).analyze(
        "What is the hotel limit and how do I book a room?"
    )
    assert result.kind == "multi_part" and result.stage == "fast"
    assert len(result.sub_queries) == 2 and [s.stage for s in result.stages] == ["fast"]


def test_far_from_the_corpus_is_out_of_scope_with_the_domain_unknown() -> None:
    result = cascade(FakeBackend(), similarity=0.05).analyze("Who won the cup in 1998?")
    assert result.kind == "out_of_scope" and result.stage == "fast"


def test_unsettled_questions_go_to_the_slm() -> None:
    result = cascade(FakeBackend("C", 0.8)).analyze("Is the policy for Tokyo stricter?")
    assert result.stage == "slm" and result.kind == "complex"
    assert result.complexity == "complex" and result.domain == "it"
    assert [s.stage for s in result.stages] == ["fast", "slm"]


def test_slm_multi_part_generates_validated_sub_queries() -> None:
    result = cascade(FakeBackend("B", 0.9)).analyze("booking limits question")
    assert result.kind == "multi_part"
    assert result.sub_queries == ["How do I book?", "What is the limit?"]
    assert result.stages[-1].completion_tokens > 1


def test_invalid_generation_falls_back_to_the_rule_split() -> None:
    result = cascade(FakeBackend("B", 0.9, split='{"sub_queries": ["x"]}')).analyze(
        "booking limits question"
    )
    assert result.kind == "multi_part" and "rejected" in result.stages[-1].detail


@pytest.mark.parametrize(
    ("backend", "reason"),
    [
        (None, "no SLM configured"),
        (FakeBackend(error=RuntimeError("llama_decode failed")), "SLM failed"),
        (FakeBackend("A", 0.3), "SLM confidence 0.30"),
    ],
)
def test_rules_decide_when_the_slm_cannot(backend: FakeBackend | None, reason: str) -> None:
    result = cascade(backend).analyze("booking limits question")
    assert result.stage == "rules" and result.kind == "simple_factual"
    assert result.complexity == "medium"
    assert result.fallback_reason is not None and reason in result.fallback_reason


def test_an_unsure_complex_guess_stands_when_the_slm_is_unsure_too() -> None:
    result = cascade(FakeBackend("A", 0.3)).analyze("who was born first")
    assert result.stage == "rules" and result.kind == "complex"
    assert "unconfirmed guess" in result.stages[-1].detail
    assert result.fallback_reason is not None and "SLM confidence" in result.fallback_reason


def test_an_unsure_complex_guess_is_ignored_where_the_embedder_has_no_signal() -> None:
    result = cascade(FakeBackend("A", 0.3), embedding_informs=False).analyze("who was born first")
    assert result.stage == "rules" and result.kind == "simple_factual"


def test_an_unsure_chitchat_guess_does_not_hand_the_question_off() -> None:
    result = cascade(None).analyze("a lot there")  # nearest the chitchat examples, no greeting cue
    assert "chitchat 0.4" in result.stages[0].detail and not result.stages[0].settled
    assert result.stage == "rules" and result.kind == "simple_factual"


@pytest.mark.parametrize("text", ["", " ", "?" * 3000, "\x00\x01", "😀" * 50, "と" * 100])
def test_any_text_gets_an_analysis(text: str) -> None:
    result = cascade(FakeBackend()).analyze(text)
    assert result.kind in ("simple_factual", "multi_part", "complex", "out_of_scope", "chitchat")


def test_scope_similarity_is_the_mean_of_the_nearest() -> None:
    assert neighbourhood_similarity([0.2, 0.9, 0.5], 2) == pytest.approx(0.7)
    assert neighbourhood_similarity([0.4], 5) == pytest.approx(0.4)  # fewer chunks than asked
    assert neighbourhood_similarity([], 5) == 0.0


def test_index_scope_averages_its_neighbours(memory_index: Index) -> None:
    vector = memory_index.embedder.embed_queries(["hotel limit per night"])[0]
    nearest = IndexScope(memory_index.retriever, 1).nearest("hotel limit per night", vector)
    averaged = IndexScope(memory_index.retriever, 3).nearest("hotel limit per night", vector)
    assert 0 < averaged.similarity < nearest.similarity
    assert averaged.tags == nearest.tags
    with pytest.raises(ValueError, match="neighbours"):
        IndexScope(memory_index.retriever, 0)
