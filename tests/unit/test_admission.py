"""Model slots: bounded concurrency, a bounded queue, a deadline, and the pipeline's answer
when the LLM has no slot for a question."""

from __future__ import annotations

import threading
import time

import pytest

from ragsvc.index import Index
from ragsvc.pipeline.admission import ModelSlots, OverloadedError
from ragsvc.pipeline.answering import AskInput
from ragsvc.settings import Settings
from ragsvc.traces.schema import PartTrace
from tests.fakes import FakeLlm, llm_service


def _hold(slots: ModelSlots, release: threading.Event, entered: threading.Event) -> None:
    with slots.slot():
        entered.set()
        release.wait(5)


def test_beyond_concurrency_and_queue_a_call_is_refused_at_once() -> None:
    slots = ModelSlots("llm", concurrency=1, queue=0, wait_s=5)
    release, entered = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold, args=(slots, release, entered))
    holder.start()
    entered.wait(5)
    started = time.perf_counter()
    with pytest.raises(OverloadedError, match="1 calls running and 0 waiting"), slots.slot():
        pass
    assert time.perf_counter() - started < 0.5
    release.set()
    holder.join()
    assert slots.load().refused == 1
    with slots.slot() as waited_ms:
        assert waited_ms < 100


def test_a_queued_call_gives_up_at_its_deadline() -> None:
    slots = ModelSlots("slm", concurrency=1, queue=1, wait_s=0.2)
    release, entered = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold, args=(slots, release, entered))
    holder.start()
    entered.wait(5)
    started = time.perf_counter()
    with pytest.raises(OverloadedError, match=r"within 0\.2 s"), slots.slot():
        pass
    assert 0.15 < time.perf_counter() - started < 1.0
    assert slots.load().running == 1 and slots.load().waiting == 0
    release.set()
    holder.join()


def test_invalid_slot_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="concurrency must be greater than 0"):
        ModelSlots("llm", concurrency=0, queue=0, wait_s=1)


def test_an_ask_with_no_llm_slot_degrades_to_a_cheaper_route(
    settings: Settings, memory_index: Index
) -> None:
    llm_settings = settings.llm.model_copy(update={"concurrency": 1, "queue": 0})
    llm = FakeLlm()
    ask = llm_service(settings.model_copy(update={"llm": llm_settings}), memory_index, llm)
    release, entered = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold, args=(ask.llm_slots, release, entered))
    holder.start()
    entered.wait(5)
    trace = ask.ask(AskInput("hotel limit in Tokyo and meal allowance per day"))
    release.set()
    holder.join()
    assert trace.route == "retrieval_direct" and trace.degraded and llm.calls == []
    assert any(e.kind == "admission" and "running" in e.detail for e in trace.events)


def test_faq_answers_never_wait_for_the_cpu_slots_of_other_questions(
    settings: Settings, memory_index: Index
) -> None:
    server = settings.server.model_copy(update={"cpu_slots": 1})
    ask = llm_service(settings.model_copy(update={"server": server}), memory_index, FakeLlm())
    trace = ask.ask(AskInput("What is the meal allowance per day?"))
    assert "cpu_queue" not in trace.timings_ms  # nobody else held the slot
    release, entered = threading.Event(), threading.Event()

    def hold_the_cpu_slot() -> None:
        with ask.cpu.held(PartTrace(question="another question")):
            entered.set()
            release.wait(5)

    holder = threading.Thread(target=hold_the_cpu_slot)
    holder.start()
    entered.wait(5)
    threading.Timer(0.3, release.set).start()
    faq = ask.ask(AskInput("How do I reset my password?"))
    assert faq.route == "faq_direct" and "cpu_queue" not in faq.timings_ms
    waited = ask.ask(AskInput("What is the meal allowance per day?"))
    holder.join()
    assert waited.timings_ms["cpu_queue"] >= 100
