"""The console's timeline: bars where the work began, on the message's scale."""

from __future__ import annotations

from ragsvc.console.timeline import bars
from ragsvc.traces.schema import ModelCall, PartTrace, Retrieval


def test_bars_are_placed_where_the_work_began_earliest_first() -> None:
    record = PartTrace(question="q", timings_ms={"embed": 20.0, "analysis": 50.0})
    record.started_ms = {"embed": 0.0, "analysis": 40.0}
    record.retrievals = [
        Retrieval(query="q", purpose="faq", latency_ms=10.0, hits=[], started_ms=22.0)
    ]
    record.model_calls = [
        ModelCall(role="llm_synthesis", model="m", latency_ms=100.0, started_ms=100.0)
    ]
    placed = bars(record, scale_ms=200.0)
    assert [(b.label, b.left_pct, b.width_pct) for b in placed] == [
        ("embed", 0.0, 10.0),
        ("retrieve faq", 11.0, 5.0),
        ("analysis", 20.0, 25.0),
        ("llm_synthesis: m", 50.0, 50.0),
    ]


def test_a_trace_without_start_times_has_no_bars() -> None:
    record = PartTrace(question="q", timings_ms={"embed": 20.0})
    assert bars(record, scale_ms=20.0) == []
