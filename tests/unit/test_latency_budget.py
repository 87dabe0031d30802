"""Latency budgets: a route not expected to answer within what is left of the ask's budget is not
taken (the next cheaper one is), the trace says so, the expected latencies are learned from the
answers, and a model call gets what is left as its timeout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ragsvc.cost.ledger import open_ledger
from ragsvc.errors import InvalidRequestError
from ragsvc.index import Index
from ragsvc.pipeline.answering import AskInput
from ragsvc.pipeline.latency import RouteLatencies
from ragsvc.pipeline.service import AskService
from ragsvc.settings import RoutingSettings, Settings
from ragsvc.traces.schema import ModelCall, Trace
from ragsvc.traces.store import TraceStore
from tests.conftest import make_settings
from tests.fakes import FakeAnalyzer, FakeLlm, FakeSlm, analysis

HOTEL = "What is the hotel limit per night in Tokyo?"
EXPECTED = {
    "faq_direct": 50.0,
    "no_answer": 50.0,
    "retrieval_direct": 300.0,
    "slm_answer": 8_000.0,
    "llm_synthesis": 30_000.0,
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        routing={
            "relevance_threshold": 0.2,
            "direct_threshold": 0.3,
            "expected_latency_ms": EXPECTED,
            "tiers": {"interactive": 1_000.0, "batch": None},
        },
        cost={"ledger_path": tmp_path / "cost.sqlite"},
    )


@pytest.fixture
def ask(settings: Settings, memory_index: Index) -> Iterator[tuple[AskService, FakeSlm, FakeLlm]]:
    traces, ledger = TraceStore(settings.traces), open_ledger(settings)
    slm, llm = FakeSlm("The hotel limit is 15000 yen [1]."), FakeLlm("15000 yen a night [1].")
    complex_ = FakeAnalyzer(lambda _: analysis("complex"))
    yield AskService(settings, memory_index, complex_, traces, ledger, slm=slm, llm=llm), slm, llm
    traces.close()
    ledger.close()


def latency_checks(trace: Trace) -> list[tuple[float | None, bool]]:
    return [(c.score, c.passed) for c in trace.checks if c.name == "latency_budget"]


def test_without_a_budget_the_llm_answers(ask: tuple[AskService, FakeSlm, FakeLlm]) -> None:
    service, _, llm = ask
    trace = service.ask(AskInput(HOTEL))
    assert trace.route == "llm_synthesis" and trace.latency_budget_ms is None
    assert latency_checks(trace) == [] and llm.timeouts == [None]


def test_a_budget_steps_down_to_the_first_route_expected_to_fit(
    ask: tuple[AskService, FakeSlm, FakeLlm],
) -> None:
    service, slm, llm = ask
    trace = service.ask(AskInput(HOTEL, max_latency_ms=10_000))
    assert trace.route == "slm_answer" and llm.calls == [] and len(slm.calls) == 1
    assert latency_checks(trace) == [(30_000.0, False), (8_000.0, True)]
    assert "would not answer within the latency budget" in trace.route_reason
    (event,) = [e for e in trace.events if e.kind == "latency"]
    assert "llm_synthesis is not expected to answer within the 10000 ms budget" in event.detail
    quick = service.ask(AskInput(HOTEL, max_latency_ms=1_000))
    assert quick.route == "retrieval_direct" and "15000 yen" in quick.answer
    assert [passed for _, passed in latency_checks(quick)] == [False, False, True]


def test_what_fits_nothing_gets_the_handoff(ask: tuple[AskService, FakeSlm, FakeLlm]) -> None:
    service, slm, llm = ask
    trace = service.ask(AskInput(HOTEL, max_latency_ms=5))
    assert trace.route == "no_answer" and slm.calls == [] and llm.calls == []


def test_a_tier_names_a_budget_and_the_smaller_applies(
    ask: tuple[AskService, FakeSlm, FakeLlm],
) -> None:
    service, _, _ = ask
    assert service.ask(AskInput(HOTEL, tier="interactive")).latency_budget_ms == 1_000
    assert service.ask(AskInput(HOTEL, tier="batch")).route == "llm_synthesis"
    both = service.ask(AskInput(HOTEL, tier="interactive", max_latency_ms=20_000))
    assert both.latency_budget_ms == 1_000
    with pytest.raises(InvalidRequestError, match="unknown tier 'urgent'; the tiers are batch"):
        service.ask(AskInput(HOTEL, tier="urgent"))


def test_the_llm_call_gets_what_is_left_as_its_timeout(
    ask: tuple[AskService, FakeSlm, FakeLlm],
) -> None:
    service, _, llm = ask
    trace = service.ask(AskInput(HOTEL, max_latency_ms=40_000))
    assert trace.route == "llm_synthesis"
    (timeout,) = llm.timeouts
    assert timeout is not None and 30 < timeout <= 40


def test_an_unsure_slm_answer_is_not_escalated_past_the_budget(
    ask: tuple[AskService, FakeSlm, FakeLlm],
) -> None:
    service, slm, llm = ask
    slm.reply = "I don't know."
    medium = analysis("simple_factual").model_copy(update={"complexity": "medium"})
    service.analyzer = FakeAnalyzer(lambda _: medium)
    trace = service.ask(AskInput(HOTEL, max_latency_ms=10_000))
    assert trace.route == "slm_answer" and llm.calls == []
    assert any(e.kind == "latency" and "llm_synthesis skipped" in e.detail for e in trace.events)


def test_expected_latencies_are_learned_from_the_answers() -> None:
    routing = RoutingSettings(expected_latency_ms=EXPECTED, latency_min_samples=3)
    latencies = RouteLatencies(routing)
    assert latencies.expected_ms("slm_answer") == (
        8_000.0,
        "configured (routing.expected_latency_ms)",
    )
    for ms in (1_000.0, 2_000.0, 3_000.0):
        latencies.observe(Trace(trace_id="t", question="q", route="slm_answer", latency_ms=ms))
    latencies.observe(
        Trace(trace_id="d", question="q", route="slm_answer", latency_ms=90_000.0, degraded=True)
    )
    expected, source = latencies.expected_ms("slm_answer")
    assert expected == pytest.approx(2_800.0) and source == "p90 of the last 3 answers"


def llm_answer(latency_ms: float, first_text_ms: float) -> Trace:
    """A finished LLM answer whose call began 100 ms in and wrote its first token after that."""
    call = ModelCall(
        role="llm_synthesis",
        model="llm",
        latency_ms=latency_ms - 100,
        started_ms=100.0,
        first_token_ms=first_text_ms - 100,
    )
    trace = Trace(trace_id="t", question="q", route="llm_synthesis", latency_ms=latency_ms)
    trace.model_calls.append(call)
    return trace


def test_the_first_streamed_text_is_learned_apart_from_the_whole_answer() -> None:
    routing = RoutingSettings(expected_latency_ms=EXPECTED, latency_min_samples=3)
    latencies = RouteLatencies(routing)
    latencies.observe(llm_answer(20_000.0, 900.0))
    assert latencies.expected_first_text_ms("llm_synthesis") == latencies.expected_ms(
        "llm_synthesis"
    )  # too few measured: the whole answer's expectation
    for _ in range(2):
        latencies.observe(llm_answer(20_000.0, 900.0))
    expected, source = latencies.expected_first_text_ms("llm_synthesis")
    assert expected == pytest.approx(900.0) and source == "p90 of the last 3 first texts"
    assert latencies.expected_ms("llm_synthesis")[0] == pytest.approx(20_000.0)
    assert latencies.expected_first_text_ms("slm_answer") == latencies.expected_ms("slm_answer")


def test_a_streamed_ask_gets_the_llm_when_its_first_text_fits(
    ask: tuple[AskService, FakeSlm, FakeLlm],
) -> None:
    service, _, llm = ask
    for _ in range(service.routing.latency_min_samples):
        service.latencies.observe(llm_answer(30_000.0, 800.0))
    whole = service.ask(AskInput(HOTEL, max_latency_ms=5_000))
    assert whole.route == "retrieval_direct" and llm.calls == []
    events: list[str] = []
    streamed = service.ask(
        AskInput(HOTEL, max_latency_ms=5_000), sink=lambda kind, _: events.append(kind)
    )
    assert streamed.route == "llm_synthesis" and "delta" in events
    (check,) = [c for c in streamed.checks if c.name == "latency_budget"]
    assert check.passed and check.score == pytest.approx(800.0)
    assert "expected ms to the first streamed text (p90 of the last 20" in check.note


def test_every_route_needs_an_expected_latency() -> None:
    with pytest.raises(ValueError, match="lacks llm_synthesis"):
        RoutingSettings(
            expected_latency_ms={k: v for k, v in EXPECTED.items() if k != "llm_synthesis"}
        )
