"""A trace's timeline for the console: each step, retrieval and model call as a bar placed at
the time it began (``started_ms``) on the scale of the whole message."""

from __future__ import annotations

from dataclasses import dataclass

from ragsvc.traces.schema import PartTrace


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    kind: str
    """step, retrieval or model"""
    started_ms: float
    ms: float
    left_pct: float
    width_pct: float


def bars(record: PartTrace, scale_ms: float) -> list[Bar]:
    """The record's timed work, earliest first; empty for a trace written before ``started_ms``
    was recorded (the console then lists the durations only)."""
    spans = [
        (f"{step}", "step", record.started_ms[step], ms)
        for step, ms in record.timings_ms.items()
        if step in record.started_ms
    ]
    spans += [
        (f"retrieve {r.purpose}", "retrieval", r.started_ms, r.latency_ms)
        for r in record.retrievals
        if r.started_ms is not None
    ]
    spans += [
        (f"{c.role}: {c.model}", "model", c.started_ms, c.latency_ms)
        for c in record.model_calls
        if c.started_ms is not None
    ]
    scale = max(scale_ms, max((start + ms for _, _, start, ms in spans), default=0.0), 1e-9)
    return [
        Bar(
            label,
            kind,
            start,
            ms,
            round(100 * start / scale, 2),
            max(round(100 * ms / scale, 2), 0.3),
        )
        for label, kind, start, ms in sorted(spans, key=lambda s: s[2])
    ]
