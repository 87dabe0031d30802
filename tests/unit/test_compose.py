"""A joined message's answer composed from its parts': order, numbering, shared sources."""

from __future__ import annotations

from typing import Any

from ragsvc.pipeline.compose import Composition, PartStream, answer_order, costliest
from ragsvc.traces.schema import PartTrace, Source, Trace


def source(n: int, id_: str) -> Source:
    return Source(n=n, id=id_, kind="doc", source=f"{id_}.md", title=id_)


def part(question: str, route: str, answer: str, *ids: str) -> PartTrace:
    sources = [source(n, i) for n, i in enumerate(ids, start=1)]
    return PartTrace(question=question, route=route, answer=answer, sources=sources)  # type: ignore[arg-type]


def test_model_free_parts_are_answered_first_then_the_slm_then_the_llm():
    routes = ["llm_synthesis", "faq_direct", "slm_answer", "no_answer"]
    assert answer_order(routes) == [1, 3, 2, 0]  # type: ignore[arg-type]
    assert costliest(routes) == "llm_synthesis"  # type: ignore[arg-type]
    assert costliest(["no_answer", "faq_direct"]) == "faq_direct"


def test_citations_are_renumbered_into_one_list_and_a_shared_passage_is_one_source():
    composition = Composition()
    first = composition.add(part("A?", "retrieval_direct", "Quote [1]", "hotels"))
    second = composition.add(part("B?", "llm_synthesis", "X [2]. Y [1].", "hotels", "meals"))
    faq = composition.add(part("C?", "faq_direct", "Open the portal.", "pw"))
    assert (first, second, faq) == ("Quote [1]", "X [2]. Y [1].", "Open the portal. [3]")
    assert [(s.n, s.id) for s in composition.sources] == [(1, "hotels"), (2, "meals"), (3, "pw")]
    message = Trace(trace_id="t", question="A? B? C?")
    message.parts = [
        part("A?", "retrieval_direct", "", "hotels"),
        part("B?", "llm_synthesis", ""),
        part("C?", "faq_direct", ""),
    ]
    composition.finish(message)
    assert (
        message.answer == "1. A?\nQuote [1]\n\n2. B?\nX [2]. Y [1].\n\n3. C?\nOpen the portal. [3]"
    )
    assert message.route == "llm_synthesis" and "3 parts" in message.route_reason


def test_a_part_stream_sends_the_llms_text_as_written_and_holds_the_others():
    sent: list[tuple[str, dict[str, Any]]] = []
    composition = Composition()
    cheap = PartStream(lambda k, b: sent.append((k, b)), composition, 1, "A?")
    cheap("route", {"route": "faq_direct", "trace_id": "t"})
    cheap("delta", {"text": "held back"})
    answered = part("A?", "faq_direct", "Entry.")
    assert cheap.pending(answered)
    composition.add(answered)
    llm = PartStream(lambda k, b: sent.append((k, b)), composition, 2, "B?")
    llm("route", {"route": "llm_synthesis", "trace_id": "t"})
    llm("delta", {"text": "Stre"})
    assert not llm.pending(part("B?", "llm_synthesis", "Stre"))
    assert sent == [
        ("part", {"route": "faq_direct", "trace_id": "t", "n": 1, "question": "A?"}),
        ("delta", {"text": "1. A?\n"}),
        ("part", {"route": "llm_synthesis", "trace_id": "t", "n": 2, "question": "B?"}),
        ("delta", {"text": "\n\n2. B?\n"}),
        ("delta", {"text": "Stre"}),
    ]
