"""The answer pipeline's routes, escalations and fallbacks, with fakes for every model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ragsvc.analysis.schema import QueryAnalysis, StageRecord
from ragsvc.analysis.split import QuestionSplitter
from ragsvc.cost.ledger import CostLedger, open_ledger
from ragsvc.db import SqliteDatabase
from ragsvc.errors import InvalidRequestError
from ragsvc.evaluation.policies import answerer
from ragsvc.index import Index
from ragsvc.pipeline.answering import AskInput
from ragsvc.pipeline.service import AskService
from ragsvc.settings import Price, Settings
from ragsvc.traces.store import TraceStore
from tests.conftest import make_settings
from tests.fakes import FakeAnalyzer, FakeLlm, FakeSlm, analysis, failing_llm

HOTEL = "What is the hotel limit per night in Tokyo?"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        routing={"relevance_threshold": 0.2, "direct_threshold": 0.3},
        cost={
            "prices": {"fake-llm": Price(input_per_mtok=1.0, output_per_mtok=4.0)},
            "ledger_path": tmp_path / "cost.sqlite",
        },
    )


@pytest.fixture
def parts(settings: Settings) -> Iterator[tuple[TraceStore, CostLedger]]:
    traces = TraceStore(settings.traces)
    ledger = open_ledger(settings)
    yield traces, ledger
    traces.close()
    ledger.close()


def service(
    settings: Settings,
    index: Index,
    parts: tuple[TraceStore, CostLedger],
    analyzer: FakeAnalyzer | None = None,
    slm: FakeSlm | None = None,
    llm: FakeLlm | None = None,
) -> AskService:
    return AskService(settings, index, analyzer or FakeAnalyzer(), *parts, slm=slm, llm=llm)


def test_confident_faq_match_is_answered_verbatim_without_analysis(settings, memory_index, parts):
    analyzer = FakeAnalyzer()
    trace = service(settings, memory_index, parts, analyzer).ask(
        AskInput("How do I reset my password?")
    )
    assert trace.route == "faq_direct"
    assert trace.answer.startswith("Open the password portal")
    assert trace.sources[0].source == "faq.yaml"
    assert analyzer.calls == [] and trace.model_calls == []
    faq_check = trace.checks[0]
    assert faq_check.name == "faq_confidence" and faq_check.passed
    assert faq_check.score is not None and faq_check.score >= faq_check.threshold


def test_a_joined_message_is_not_answered_by_one_faq_entry(settings, memory_index, parts):
    """The FAQ matches the first part confidently, but the message asks two things."""
    memory_index.faq.configured_threshold = 0.3
    joined = "How do I reset my password? And what is the meal allowance?"
    split = ["How do I reset my password?", "What is the meal allowance?"]
    analyzer = FakeAnalyzer(lambda _: analysis("multi_part", split))
    trace = service(settings, memory_index, parts, analyzer).ask(AskInput(joined))
    faq_check, language_check, parts_check = trace.checks[:3]
    assert faq_check.name == "faq_confidence" and faq_check.passed
    assert language_check.name == "faq_language" and language_check.passed
    assert parts_check.name == "single_question" and not parts_check.passed
    assert parts_check.score == 2 and "one part only" in parts_check.note
    assert analyzer.calls[0] == joined and [p.question for p in trace.parts] == split


@pytest.fixture
def two_question_entry(corpus: Path) -> str:
    """An FAQ entry whose question asks two things, answered together by its answer."""
    question = "How many days of paid leave do I get, and how do I apply?"
    (corpus / "leave.yaml").write_text(
        f"faqs:\n  - id: leave-1\n    question: {question}\n"
        "    answer: Twenty days a year; apply in the HR portal a week ahead.\n"
    )
    return question


def test_an_entry_asked_as_written_is_answered_whole_though_it_asks_two_things(
    settings, two_question_entry, memory_index, parts
):
    analyzer = FakeAnalyzer()
    trace = service(settings, memory_index, parts, analyzer).ask(AskInput(two_question_entry))
    assert trace.route == "faq_direct" and trace.answer.startswith("Twenty days")
    assert "as written" in trace.route_reason and analyzer.calls == []
    assert trace.checks[0].details["exact_phrasing"] == 1.0
    assert not any(c.name == "single_question" for c in trace.checks)


def test_the_service_splits_with_its_splitter_and_traces_what_it_kept_together(
    settings, memory_index, parts
):
    """Two statements on two topics are two parts only by the embedding test; a statement beside
    a question on the same topic stays its context, and the trace says so."""
    memory_index.faq.configured_threshold = 0.3
    far = QuestionSplitter(lambda texts, _: np.eye(len(texts)), {"": 0.3})
    ask = AskService(settings, memory_index, FakeAnalyzer(), *parts, splitter=far)
    trace = ask.ask(AskInput("password reset / vpn from home"))
    parts_check = next(c for c in trace.checks if c.name == "single_question")
    assert parts_check.score == 2 and "punctuation" in parts_check.note
    near = QuestionSplitter(lambda texts, _: np.ones((len(texts), 1)), {"": 0.3})
    ask = AskService(settings, memory_index, FakeAnalyzer(), *parts, splitter=near)
    trace = ask.ask(AskInput("I forgot my password. How do I reset my password?"))
    assert trace.route == "faq_direct"
    assert any(e.kind == "split" and "one topic (cosine 1.00)" in e.detail for e in trace.events)


def test_simple_factual_question_is_answered_from_the_passage(settings, memory_index, parts):
    trace = service(settings, memory_index, parts).ask(AskInput(HOTEL))
    assert trace.route == "retrieval_direct"
    assert "15000 yen" in trace.answer and trace.answer.endswith("[1]")
    assert trace.sources[0].source == "travel.md"
    assert trace.sources[0].section == ["Travel Policy", "Hotels"]
    assert {c.name for c in trace.checks} >= {"faq_confidence", "relevance", "direct_passage"}


def test_out_of_scope_gets_the_handoff_message(settings, memory_index, parts):
    analyzer = FakeAnalyzer(lambda _: analysis("out_of_scope"))
    trace = service(settings, memory_index, parts, analyzer).ask(AskInput("Who won the cup?"))
    assert trace.route == "no_answer"
    assert trace.answer == settings.routing.handoff["en"]
    assert trace.sources == []


def test_nothing_relevant_is_an_honest_no_answer(settings, memory_index, parts):
    trace = service(settings, memory_index, parts).ask(AskInput("quantum saxophone pelican"))
    assert trace.route == "no_answer"
    relevance = next(c for c in trace.checks if c.name == "relevance")
    assert not relevance.passed


def test_japanese_handoff_message_follows_the_question_language(settings, memory_index, parts):
    analyzer = FakeAnalyzer(lambda _: analysis("chitchat", language="ja"))
    trace = service(settings, memory_index, parts, analyzer).ask(AskInput("こんにちは"))
    assert trace.route == "no_answer" and trace.language == "ja"
    assert trace.answer == settings.routing.handoff["ja"]


def medium(_: str):  # type: ignore[no-untyped-def]
    result = analysis("simple_factual")
    return result.model_copy(update={"complexity": "medium"})


def test_grounded_slm_answer_is_accepted(settings, memory_index, parts):
    slm = FakeSlm("The hotel limit is 15000 yen per night in Tokyo [1].")
    llm = FakeLlm()
    trace = service(settings, memory_index, parts, FakeAnalyzer(medium), slm, llm).ask(
        AskInput(HOTEL)
    )
    assert trace.route == "slm_answer"
    assert llm.calls == []
    assert [c.role for c in trace.model_calls] == ["slm_answer"]
    assert next(c for c in trace.checks if c.name == "slm_grounding").passed


def test_unsure_slm_answer_escalates_to_the_llm(settings, memory_index, parts):
    slm, llm = FakeSlm("I don't know."), FakeLlm("Tokyo hotels: 15000 yen a night [1].")
    trace = service(settings, memory_index, parts, FakeAnalyzer(medium), slm, llm).ask(
        AskInput(HOTEL)
    )
    assert trace.route == "llm_synthesis"
    assert [e.kind for e in trace.events] == ["escalation"]
    assert [c.role for c in trace.model_calls] == ["slm_answer", "llm_synthesis"]
    assert trace.cost_usd == pytest.approx((1000 * 1.0 + 100 * 4.0) / 1e6)


TOKYO = "What is the hotel limit in Tokyo?"
MEALS = "What is the meal allowance per day?"
PASSWORD = "How do I reset my password?"


def multi(_: str):  # type: ignore[no-untyped-def]
    return analysis("multi_part", [TOKYO, MEALS])


def multi_then_simple(question: str) -> QueryAnalysis:
    """A joined message splits into two parts, each simple and factual."""
    return multi(question) if question not in (TOKYO, MEALS) else analysis("simple_factual")


def complex_question(_: str) -> QueryAnalysis:
    return analysis("complex")


def test_each_part_of_a_joined_message_is_routed_on_its_own(settings, memory_index, parts):
    """Two simple parts: each is retrieved and quoted on its own, no model is called, and the
    answer numbers them, each with its citation."""
    llm = FakeLlm()
    svc = service(settings, memory_index, parts, FakeAnalyzer(multi_then_simple), FakeSlm(), llm)
    trace = svc.ask(AskInput("What is the hotel limit in Tokyo and the meal allowance?"))
    assert llm.calls == [] and trace.model_calls == [] and not trace.degraded
    assert [p.question for p in trace.parts] == [TOKYO, MEALS]
    assert [p.route for p in trace.parts] == ["retrieval_direct", "retrieval_direct"]
    assert trace.route == "retrieval_direct" and "2 parts" in trace.route_reason
    first, second = trace.answer.split("\n\n")
    assert first.startswith(f"1. {TOKYO}\n") and first.endswith("[1]")
    assert second.startswith(f"2. {MEALS}\n") and second.endswith("[2]")
    assert [(s.n, s.source) for s in trace.sources] == [(1, "travel.md"), (2, "travel.md")]
    for part in trace.parts:
        assert [r.purpose for r in part.retrievals] == ["faq", "passages"]
        assert {c.name for c in part.checks} >= {"faq_confidence", "relevance", "direct_passage"}
        assert part.analysis is not None and part.analysis.kind == "simple_factual"
    assert trace.all_llm_cost_usd > 0 == trace.cost_usd


def test_a_mixed_message_calls_the_llm_for_its_complex_part_only(settings, memory_index, parts):
    """One FAQ part and one complex part: the FAQ entry answers its part, the LLM is called
    once, for the other part only, and the stream sends the FAQ's part first."""
    memory_index.faq.configured_threshold = 0.3
    asked = f"How do I compare the travel policies? {PASSWORD}"

    def analyse(question: str) -> QueryAnalysis:
        if question == asked:
            return analysis("multi_part", ["How do I compare the travel policies?", PASSWORD])
        return analysis("complex")

    llm = FakeLlm("Hotels: 15000 yen a night in Tokyo [1].")
    events: list[tuple[str, dict]] = []
    svc = service(settings, memory_index, parts, FakeAnalyzer(analyse), FakeSlm(), llm)
    trace = svc.ask(AskInput(asked), lambda kind, body: events.append((kind, body)))
    assert len(llm.calls) == 1
    asked_llm = llm.calls[0][1]["content"].split("<question>")[1]
    assert asked_llm == "\nHow do I compare the travel policies?\n</question>"
    assert [p.route for p in trace.parts] == ["llm_synthesis", "faq_direct"]
    assert trace.route == "llm_synthesis"
    assert [c.role for c in trace.parts[0].model_calls] == ["llm_synthesis"]
    assert trace.parts[1].model_calls == [] and trace.cost_usd == trace.parts[0].cost_usd > 0
    parts_sent = [(body["n"], body["route"]) for kind, body in events if kind == "part"]
    assert parts_sent == [(1, "faq_direct"), (2, "llm_synthesis")]
    assert trace.answer.startswith(f"1. {PASSWORD}\nOpen the password portal")
    assert "\n\n2. How do I compare the travel policies?\nHotels: 15000 yen" in trace.answer
    assert [s.faq_id for s in trace.sources][:1] == ["pw-1"]
    streamed = "".join(body["text"] for kind, body in events if kind == "delta")
    assert streamed.startswith(f"1. {PASSWORD}\nOpen the password portal")
    assert streamed.index("Open the password portal") < streamed.index("Hotels:")


def test_a_part_out_of_scope_is_said_to_be_so(settings, memory_index, parts):
    def analyse(question: str) -> QueryAnalysis:
        if " and " in question:
            return analysis("multi_part", [TOKYO, "Who won the cup?"])
        return analysis("out_of_scope" if "cup" in question else "simple_factual")

    svc = service(settings, memory_index, parts, FakeAnalyzer(analyse))
    trace = svc.ask(AskInput("What is the hotel limit in Tokyo and who won the cup?"))
    assert [p.route for p in trace.parts] == ["retrieval_direct", "no_answer"]
    assert trace.answer.endswith(f"2. Who won the cup?\n{settings.routing.handoff['en']}")
    assert trace.confidence == 0.0 and len(trace.sources) == 1


def test_llm_failure_degrades_to_a_cheaper_answer(settings, memory_index, parts):
    svc = service(
        settings, memory_index, parts, FakeAnalyzer(complex_question), None, failing_llm()
    )
    trace = svc.ask(AskInput("What is the hotel limit in Tokyo and the meal allowance?"))
    assert trace.degraded
    assert trace.route == "retrieval_direct"
    assert trace.model_calls[-1].error and "Connection refused" in trace.model_calls[-1].error
    assert any(e.kind == "fallback" for e in trace.events)


def test_slm_crash_is_a_fallback_not_an_exception(settings, memory_index, parts):
    slm = FakeSlm(RuntimeError("llama_decode returned -1"))
    trace = service(settings, memory_index, parts, FakeAnalyzer(medium), slm, failing_llm()).ask(
        AskInput(HOTEL)
    )
    assert trace.degraded and trace.route == "retrieval_direct"
    assert "llama_decode" in (trace.model_calls[0].error or "")


def test_low_budget_prefers_the_slm(settings, memory_index, parts, tmp_path):
    spent = CostLedger(
        settings.cost.model_copy(update={"monthly_budget_usd": 0.001}),
        SqliteDatabase(tmp_path / "c"),
    )
    spent.record(0.00095)
    slm, llm = FakeSlm("Hotels cost 15000 yen per night in Tokyo [1]."), FakeLlm()
    svc = service(
        settings, memory_index, (parts[0], spent), FakeAnalyzer(complex_question), slm, llm
    )
    trace = svc.ask(AskInput("What is the hotel limit in Tokyo and the meal allowance?"))
    spent.close()
    assert trace.route == "slm_answer" and llm.calls == []
    assert any(e.kind == "budget" for e in trace.events)
    assert not next(c for c in trace.checks if c.name == "budget_remaining").passed


def test_spend_is_recorded_in_the_ledger(settings, memory_index, parts):
    svc = service(settings, memory_index, parts, FakeAnalyzer(complex_question), None, FakeLlm())
    svc.ask(AskInput("What is the hotel limit in Tokyo and the meal allowance?"))
    assert parts[1].spent_this_month() == pytest.approx(0.0014)


@pytest.mark.parametrize("question", ["", "   ", "x" * 2001])
def test_bad_questions_are_rejected_with_a_reason(settings, memory_index, parts, question):
    with pytest.raises(InvalidRequestError, match="question"):
        service(settings, memory_index, parts).ask(AskInput(question))


def test_every_trace_is_stored(settings, memory_index, parts):
    trace = service(settings, memory_index, parts).ask(AskInput(HOTEL))
    parts[0].flush()
    stored = parts[0].get(trace.trace_id)
    assert stored is not None and stored.route == trace.route
    assert stored.timings_ms.keys() >= {"embed", "faq", "analysis", "retrieval"}


def test_all_llm_policy_skips_faq_and_analysis(settings, memory_index, parts):
    analyzer, llm = FakeAnalyzer(), FakeLlm("Open the password portal [1].")
    svc = service(settings, memory_index, parts, analyzer, FakeSlm(), llm)
    trace = svc.ask(AskInput("How do I reset my password?"), answer=answerer(svc, "all_llm"))
    assert trace.route == "llm_synthesis" and len(llm.calls) == 1
    assert analyzer.calls == []
    assert [r.purpose for r in trace.retrievals] == ["passages"]
    assert [e.kind for e in trace.events] == ["policy"]


def test_all_slm_policy_records_the_quality_check_but_never_escalates(
    settings, memory_index, parts
):
    slm, llm = FakeSlm("I don't know."), FakeLlm()
    svc = service(settings, memory_index, parts, FakeAnalyzer(multi), slm, llm)
    trace = svc.ask(AskInput(HOTEL), answer=answerer(svc, "all_slm"))
    assert trace.route == "slm_answer" and llm.calls == []
    grounding = next(c for c in trace.checks if c.name == "slm_grounding")
    assert not grounding.passed and grounding.note == "declined"


def test_retrieval_only_policy_answers_from_the_best_passage(settings, memory_index, parts):
    llm = FakeLlm()
    svc = service(settings, memory_index, parts, FakeAnalyzer(multi), FakeSlm(), llm)
    trace = svc.ask(AskInput(HOTEL), answer=answerer(svc, "retrieval_only"))
    assert trace.route == "retrieval_direct" and trace.model_calls == [] and llm.calls == []
    assert trace.sources[0].source == "travel.md"


def test_faq_sources_carry_the_faq_id(settings, memory_index, parts):
    trace = service(settings, memory_index, parts).ask(AskInput("How do I reset my password?"))
    assert trace.sources[0].faq_id


def test_an_faq_passage_is_quoted_without_its_question(settings, memory_index, parts):
    svc = service(settings, memory_index, parts)
    trace = svc.ask(AskInput("How do I reset my password?"), answer=answerer(svc, "retrieval_only"))
    assert trace.route == "retrieval_direct" and trace.sources[0].faq_id == "pw-1"
    assert "How do I reset my password?" not in trace.answer
    assert trace.answer.startswith("Open the password portal")


@pytest.mark.parametrize(
    ("confidence", "detail", "error"),
    [
        (0.36, "label: simple_factual 0.27, complex 0.36", None),  # ran, unsure: not an error
        (None, "SLM failed: RuntimeError: boom", "SLM failed: RuntimeError: boom"),
    ],
)
def test_slm_analysis_stage_is_a_model_call_with_an_error_only_when_it_failed(
    settings, memory_index, parts, confidence, detail, error
):
    def unsure(question: str) -> QueryAnalysis:
        result = analysis("simple_factual")
        result.stages.append(
            StageRecord(
                stage="slm",
                latency_ms=12.5,
                settled=False,
                confidence=confidence,
                detail=detail,
                completion_tokens=1 if confidence is not None else 0,
            )
        )
        return result

    trace = service(settings, memory_index, parts, FakeAnalyzer(unsure)).ask(AskInput(HOTEL))
    [call] = [c for c in trace.model_calls if c.role == "slm_analysis"]
    assert call.error == error and call.latency_ms == 12.5
    assert call.completion_tokens == (1 if confidence is not None else 0)
