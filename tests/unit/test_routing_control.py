"""Routing control: variants assigned sticky by conversation and by share, routed with their
thresholds (traced), promoted and rolled back across replicas; shadow sampling off the response
path; the fail-safe raising a misrouting route's threshold, and its undo."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from ragsvc.control.control import RoutingControl
from ragsvc.control.failsafe import Trip
from ragsvc.control.state import JudgeCheck, assign
from ragsvc.control.store import ControlStore
from ragsvc.cost.ledger import open_ledger
from ragsvc.errors import ConflictError, InvalidRequestError, NotFoundError
from ragsvc.index import Index
from ragsvc.pipeline.answering import AskInput
from ragsvc.pipeline.service import AskService
from ragsvc.settings import CONTROL, Settings, VariantSettings
from ragsvc.traces.schema import Trace
from ragsvc.traces.store import TraceStore
from tests.conftest import make_settings
from tests.fakes import FakeAnalyzer, FakeLlm

HOTEL = "What is the hotel limit per night in Tokyo?"
PASSWORD = "How do I reset my password?"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        routing={"relevance_threshold": 0.2, "direct_threshold": 0.3, "state_refresh_s": 0},
        cost={"ledger_path": tmp_path / "cost.sqlite"},
        shadow={"share": 1.0, "method": "judge"},
        failsafe={"min_judged": 5, "check_every_s": 0},
    )


@pytest.fixture
def traces(settings: Settings) -> Iterator[TraceStore]:
    store = TraceStore(settings.traces)
    yield store
    store.close()


@pytest.fixture
def service_with(
    settings: Settings, memory_index: Index, traces: TraceStore
) -> Iterator[Callable[[FakeLlm], AskService]]:
    ledger = open_ledger(settings)
    made: list[AskService] = []

    def make(llm: FakeLlm) -> AskService:
        made.append(AskService(settings, memory_index, FakeAnalyzer(), traces, ledger, llm=llm))
        return made[-1]

    yield make
    for service in made:
        service.close()
    ledger.close()


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def direct_check(trace: Trace) -> tuple[float | None, bool]:
    (check,) = [c for c in trace.checks if c.name == "direct_passage"]
    return check.threshold, check.passed


# -- assignment ---------------------------------------------------------------------------------
def test_assignment_is_sticky_and_follows_the_shares() -> None:
    variants = {"a": VariantSettings(share=0.2), "b": VariantSettings(share=0.3)}
    keys = [f"conversation-{n}" for n in range(20_000)]
    names = [assign(key, variants) for key in keys]
    shares = {name: n / len(keys) for name, n in Counter(names).items()}
    assert shares["a"] == pytest.approx(0.2, abs=0.015)
    assert shares["b"] == pytest.approx(0.3, abs=0.015)
    assert shares[CONTROL] == pytest.approx(0.5, abs=0.015)
    assert [assign(key, variants) for key in keys[:500]] == names[:500]  # sticky
    wider = {**variants, "c": VariantSettings(share=0.1)}  # a new variant takes from control only
    moved = [(before, assign(key, wider)) for key, before in zip(keys, names, strict=True)]
    assert all(after == before for before, after in moved if before != CONTROL)


# -- a variant's thresholds ---------------------------------------------------------------------
def test_a_variant_routes_its_conversations_with_its_thresholds(
    service_with: Callable[[FakeLlm], AskService],
) -> None:
    service = service_with(FakeLlm("The limit is 15000 yen [1]."))
    before = service.ask(AskInput(HOTEL, conversation_id="c-1"))
    assert (before.variant, before.route) == (CONTROL, "retrieval_direct")
    assert direct_check(before) == (0.3, True)
    strict = VariantSettings(share=1.0, thresholds={"direct_threshold": 0.99})
    service.control.put_variant("strict", strict)
    trace = service.ask(AskInput(HOTEL, conversation_id="c-1"))
    assert trace.variant == "strict" and trace.route != "retrieval_direct"
    assert direct_check(trace) == (0.99, False)
    assert [e.detail for e in trace.events if e.kind == "variant"] == [
        "variant strict: direct_threshold 0.99"
    ]


def test_a_variant_may_lower_the_faq_similarity_floor(
    settings: Settings, traces: TraceStore
) -> None:
    control = RoutingControl(settings, ControlStore(traces.database))
    loose = VariantSettings(share=0.5, thresholds={"faq_min_similarity": 0.0})
    control.put_variant("loose", loose)
    assert control.plan("loose").settings.routing.faq_min_similarity == 0.0
    assert control.plan(CONTROL).settings.routing.faq_min_similarity is None  # the calibration's


def test_promotion_and_rollback_reach_every_replica(settings: Settings, traces: TraceStore) -> None:
    one = RoutingControl(settings, ControlStore(traces.database))
    other = RoutingControl(settings, ControlStore(traces.database))  # another replica
    one.put_variant("b", VariantSettings(share=0.5, thresholds={"direct_threshold": 0.6}))
    assert list(other.state().variants) == ["b"]
    one.promote("b")
    assert other.state().variants == {} and other.state().promoted == {"direct_threshold": 0.6}
    assert other.plan(CONTROL).settings.routing.direct_threshold == 0.6
    other.rollback()
    assert one.plan(CONTROL).settings.routing.direct_threshold == 0.3
    assert one.state().variants["b"].share == 0.5
    with pytest.raises(ConflictError, match="nothing was promoted"):
        one.rollback()
    with pytest.raises(NotFoundError, match="no variant 'nope'"):
        one.promote("nope")
    with pytest.raises(InvalidRequestError, match=r"add up to 1\.1"):
        one.put_variant("c", VariantSettings(share=0.6))
    with pytest.raises(InvalidRequestError, match="lowercase letters"):
        one.put_variant("Bad Name", VariantSettings(share=0.1))
    with pytest.raises(ValueError, match="unknown thresholds passages"):
        VariantSettings(share=0.1, thresholds={"passages": 3})


# -- shadow sampling ----------------------------------------------------------------------------
def test_a_shadow_sample_is_judged_off_the_response_path(
    service_with: Callable[[FakeLlm], AskService],
) -> None:
    release = threading.Event()
    llm = FakeLlm("NO\nThe answer is about the VPN.", on_call=release.wait)
    service = service_with(llm)
    trace = service.ask(AskInput(PASSWORD))
    assert trace.route == "faq_direct"
    wait_for(lambda: len(llm.calls) == 1)  # the judge's call is held open...
    assert service.shadow.pending() == 1  # ...and the answer has come back all the same
    assert "Forgot password" in llm.calls[0][1]["content"]  # it judges the FAQ's answer
    release.set()
    wait_for(lambda: bool(service.control_store.verdicts()))
    (verdict,) = service.control_store.verdicts()
    assert (verdict.trace_id, verdict.route, verdict.variant) == (
        trace.trace_id,
        "faq_direct",
        CONTROL,
    )
    assert (verdict.verdict, verdict.reason) == ("disagree", "The answer is about the VPN")


@pytest.mark.parametrize(
    ("reply", "verdict", "reason"),
    [
        ("Choose Forgot password on the portal [1].", "agree", "the LLM cited faq:pw-1"),
        ("Meals are 3000 yen a day [2].", "disagree", "the LLM cited "),
        ("I don't know.", "disagree", "the LLM found no answer in the passages"),
        ("Ask the front desk.", "disagree", "the LLM answered from none of the passages"),
    ],
)
def test_by_citations_the_llm_answers_itself_and_the_cheap_answer_is_right_if_its_source(
    service_with: Callable[[FakeLlm], AskService], reply: str, verdict: str, reason: str
) -> None:
    llm = FakeLlm(reply)
    service = service_with(llm)
    settings = service.shadow.settings
    method = settings.shadow.model_copy(update={"method": "citations"})
    service.shadow.settings = settings.model_copy(update={"shadow": method})
    trace = service.ask(AskInput(PASSWORD))
    assert trace.route == "faq_direct"
    wait_for(lambda: bool(service.control_store.verdicts()))
    (system, user) = llm.calls[0]
    assert system["content"].startswith("You are a help-desk assistant.")  # the LLM route's
    assert "<answer>" not in user["content"]  # it is not shown the cheap answer
    assert '<passage n="1" from="faq">\nHow do I reset my password?' in user["content"]
    (stored,) = service.control_store.verdicts()
    assert stored.verdict == verdict and stored.reason.startswith(reason)
    assert stored.reason.endswith(f"; it answered: {reply}")


def test_a_busy_llm_skips_the_sample_rather_than_queue_it(
    service_with: Callable[[FakeLlm], AskService],
) -> None:
    llm = FakeLlm("YES")
    service = service_with(llm)
    with ExitStack() as users:  # users' calls hold every LLM slot
        for _ in range(service.llm_slots.concurrency):
            users.enter_context(service.llm_slots.slot())
        trace = service.ask(AskInput(PASSWORD))
        wait_for(lambda: service.shadow.pending() == 0)
    assert trace.route == "faq_direct"
    assert service.shadow.skipped == {"busy": 1} and llm.calls == []


def test_llm_synthesis_answers_are_not_sampled(
    service_with: Callable[[FakeLlm], AskService],
) -> None:
    service = service_with(FakeLlm("YES"))
    service.control.put_variant(
        "no-quotes", VariantSettings(share=1.0, thresholds={"direct_threshold": 0.99})
    )
    trace = service.ask(AskInput(HOTEL))
    assert trace.route == "llm_synthesis" and not service.shadow.sampled(trace)


# -- the fail-safe ------------------------------------------------------------------------------
def trusted_judge(service: AskService) -> None:
    """A check after which the judge's verdicts count as they are (no errors to correct)."""
    model = service.settings.llm.model
    service.control.record_judge_check(
        JudgeCheck(
            model=model,
            right_answers=10,
            right_judged_right=10,
            wrong_answers=10,
            wrong_judged_wrong=10,
        )
    )


def test_the_failsafe_raises_a_misrouting_route_until_an_operator_undoes_it(
    service_with: Callable[[FakeLlm], AskService],
) -> None:
    service = service_with(FakeLlm("NO, the passage is about meals."))
    trusted_judge(service)
    for n in range(5):
        assert service.ask(AskInput(HOTEL, conversation_id=f"c-{n}")).route == "retrieval_direct"
    wait_for(lambda: bool(service.control.state().raises))
    raised = service.control.state().raises[CONTROL]["retrieval_direct"]
    assert (raised.threshold, raised.by) == ("direct_threshold", 0.05)
    assert raised.reason.startswith("misrouting 1.00 [0.57, 1.00] of 5 judged (corrected")
    trace = service.ask(AskInput(HOTEL, conversation_id="c-after"))
    assert direct_check(trace)[0] == pytest.approx(0.35)
    (event,) = [e for e in trace.events if e.kind == "failsafe"]
    assert event.detail.startswith("retrieval_direct: direct_threshold raised by 0.05")
    wait_for(lambda: service.shadow.pending() == 0)
    assert service.control.state().raises[CONTROL]["retrieval_direct"].by == 0.05  # 1 new verdict
    service.control.undo_raise(CONTROL, "retrieval_direct")
    undone = service.ask(AskInput(HOTEL, conversation_id="c-undone"))
    assert direct_check(undone)[0] == 0.3 and not [e for e in undone.events if e.kind == "failsafe"]
    with pytest.raises(NotFoundError):
        service.control.undo_raise(CONTROL, "retrieval_direct")


def test_the_failsafe_leaves_a_route_the_judge_agrees_with(
    service_with: Callable[[FakeLlm], AskService],
) -> None:
    service = service_with(FakeLlm("YES, it gives the Tokyo limit."))
    trusted_judge(service)
    for n in range(8):
        service.ask(AskInput(HOTEL, conversation_id=f"c-{n}"))
    wait_for(lambda: len(service.control_store.verdicts()) == 8)
    assert service.failsafe.check() == [] and service.control.state().raises == {}


def test_the_verdicts_of_an_unchecked_or_near_chance_judge_raise_nothing(
    service_with: Callable[[FakeLlm], AskService],
) -> None:
    """A judge that says "does not answer" to everything (as the local 1.5B did) would raise
    every route's threshold; its verdicts are kept and shown, but only a checked judge's count."""
    service = service_with(FakeLlm("NO, the passage is about meals."))
    for n in range(5):
        service.ask(AskInput(HOTEL, conversation_id=f"c-{n}"))
    wait_for(lambda: len(service.control_store.verdicts()) == 5)
    assert service.failsafe.check() == []  # never checked
    service.control.record_judge_check(
        JudgeCheck(
            model=service.settings.llm.model,
            right_answers=15,
            right_judged_right=0,
            wrong_answers=15,
            wrong_judged_wrong=15,
        )
    )
    assert service.failsafe.check() == [] and service.control.state().raises == {}
    (compared,) = service.compare_variants()
    assert compared.misrouting.value == 1.0 and compared.misrouting_corrected is None
    trusted_judge(service)
    (trip,) = service.failsafe.check()
    assert (trip.variant, trip.route, trip.raised) == (CONTROL, "retrieval_direct", True)
    (compared,) = service.compare_variants()
    assert compared.misrouting_corrected == compared.misrouting


@pytest.mark.parametrize("rated_down", ["looser", CONTROL])
def test_a_variant_worse_than_control_on_a_route_is_raised_before_the_absolute_limit(
    service_with: Callable[[FakeLlm], AskService], rated_down: str
) -> None:
    """The A/B guardrail: a variant's route rated down where control's same route is rated up
    is raised, though no absolute limit is crossed (here none can be); control is held to the
    absolute limits only, so the reverse raises nothing."""
    service = service_with(FakeLlm("YES"))
    failsafe = service.failsafe
    failsafe.settings = failsafe.settings.model_copy(
        update={"min_rated": 8, "max_negative_feedback": 1.0}
    )
    service.control.put_variant("looser", VariantSettings(share=0.5))
    rated: Counter[str] = Counter()
    for n in range(60):
        trace = service.ask(AskInput(HOTEL, conversation_id=f"c-{n}"))
        assert trace.route == "retrieval_direct"
        if rated[trace.variant] < 8:
            rating = 1 if trace.variant == rated_down else 5
            assert service.traces.add_feedback(trace.trace_id, rating, "", max_per_trace=1)
            rated[trace.variant] += 1
    assert rated == {CONTROL: 8, "looser": 8}
    failsafe.check()  # the shadow verdicts may have run it already, on their own thread
    wait_for(lambda: service.shadow.pending() == 0)
    raises = service.control.state().raises
    if rated_down == CONTROL:
        assert raises == {}
        return
    assert list(raises) == ["looser"]
    raised = raises["looser"]["retrieval_direct"]
    assert raised.by == 0.05
    assert raised.reason.startswith(
        "negative feedback 1.00 of 8 against control's 0.00 of 8 on the same route: +1.00 ["
    )


def test_a_rating_queues_the_check_and_does_not_wait_for_it(
    service_with: Callable[[FakeLlm], AskService], monkeypatch: pytest.MonkeyPatch
) -> None:
    failsafe = service_with(FakeLlm("YES")).failsafe
    release, checks = threading.Event(), []

    def slow_check() -> list[Trip]:
        checks.append(1)
        release.wait(10)  # a trace writer that takes its time, a long evidence scan
        return []

    monkeypatch.setattr(failsafe, "maybe_check", slow_check)
    started = time.monotonic()
    for _ in range(5):  # the first runs (and blocks), the second waits, the rest add nothing
        failsafe.check_soon()
        wait_for(lambda: bool(checks))
    assert time.monotonic() - started < 5
    release.set()
    wait_for(lambda: len(checks) == 2)
    failsafe.close()
    assert len(checks) == 2


# -- a variant's LLM model ----------------------------------------------------------------------
def test_a_variant_asks_the_endpoint_for_its_model_and_a_promotion_makes_it_everyones(
    service_with: Callable[[FakeLlm], AskService],
) -> None:
    llm = FakeLlm("The limit is 15000 yen [1].")
    service = service_with(llm)
    bigger = VariantSettings(
        share=1.0, thresholds={"direct_threshold": 0.99}, llm_model="bigger-llm"
    )
    service.control.put_variant("bigger", bigger)
    trace = service.ask(AskInput(HOTEL, conversation_id="c-2"))
    assert trace.route == "llm_synthesis" and llm.models == ["bigger-llm"]
    (call,) = [c for c in trace.model_calls if c.role == "llm_synthesis"]
    assert call.model == "bigger-llm"
    assert "variant bigger: LLM model bigger-llm" in [e.detail for e in trace.events]
    service.control.promote("bigger")
    assert service.control.plan(CONTROL).llm_model == "bigger-llm"
    service.control.rollback()
    assert service.control.plan(CONTROL).llm_model is None
