"""Latency budgets: an ask may say how long it can wait (``max_latency_ms``, or a ``tier`` that
``routing.tiers`` maps to one), and the router never picks a route expected to take longer than
what is left of it.

A route's expected latency is the p90 of this process's last ``routing.latency_window`` answers
on that route (one-question messages, not degraded), or ``routing.expected_latency_ms`` until
``routing.latency_min_samples`` of them were seen. A route that does not fit steps down to the
next cheaper one: ``llm_synthesis`` → ``slm_answer`` → ``retrieval_direct`` (when a passage may
be quoted) → ``no_answer`` (the hand-off, which is always affordable). Each route tried is a check
in the trace (expected ms against the ms left) and a change of route an event. A model call that
is still made gets what is left of the budget as its timeout.

A streamed answer must start within the budget, not end: for a route whose answer is streamed as
it is written (``STREAMED_ROUTES``), a streamed ask compares the expected time to its first text
(the p90 of the model call's start plus its first token, over the same window; the whole answer's
expectation until enough were seen), so a budget too short for the LLM's whole answer may still
get the LLM's answer, streamed, instead of a cheaper one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from ragsvc.settings import RoutingSettings
from ragsvc.traces.schema import PartTrace, Route, Trace

STEP_DOWN: dict[Route, Route] = {
    "llm_synthesis": "slm_answer",
    "slm_answer": "retrieval_direct",
    "retrieval_direct": "no_answer",
}
"""Where a route that does not fit the budget goes instead."""
STREAMED_ROUTES: frozenset[Route] = frozenset({"llm_synthesis"})
"""Routes whose answer text is streamed as the model writes it (the others: once checked)."""


class RouteLatencies:
    """Expected latency per route, from this process's recent answers (thread-safe)."""

    def __init__(self, routing: RoutingSettings) -> None:
        self.routing = routing
        self._seen: dict[str, deque[float]] = {}
        self._first_text: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def observe(self, trace: Trace) -> None:
        """A finished message: a one-question, undegraded answer adds its latency to its route's
        window (a joined message's time is its parts' together: no route's own)."""
        if trace.parts or trace.degraded:
            return
        first_text = _first_text_ms(trace)
        with self._lock:
            self._window(self._seen, trace.route).append(trace.latency_ms)
            if first_text is not None:
                self._window(self._first_text, trace.route).append(first_text)

    def _window(self, windows: dict[str, deque[float]], route: str) -> deque[float]:
        return windows.setdefault(route, deque(maxlen=self.routing.latency_window))

    def expected_ms(self, route: Route) -> tuple[float, str]:
        """The latency ``route`` is expected to take, and where the figure comes from."""
        with self._lock:
            seen = list(self._seen.get(route, ()))
        if len(seen) >= self.routing.latency_min_samples:
            return float(np.percentile(seen, 90)), f"p90 of the last {len(seen)} answers"
        return self.routing.expected_latency_ms[route], "configured (routing.expected_latency_ms)"

    def expected_first_text_ms(self, route: Route) -> tuple[float, str]:
        """When ``route``'s first text is expected, streamed; the whole answer's expectation for
        a route not streamed, or until enough first texts were measured."""
        with self._lock:
            seen = list(self._first_text.get(route, ()))
        if route in STREAMED_ROUTES and len(seen) >= self.routing.latency_min_samples:
            return float(np.percentile(seen, 90)), f"p90 of the last {len(seen)} first texts"
        return self.expected_ms(route)


def _first_text_ms(trace: Trace) -> float | None:
    """When a streamed route's answering call wrote its first token, in ms after the message's
    start (None: not that route, or not recorded)."""
    if trace.route not in STREAMED_ROUTES:
        return None
    calls = [c for c in trace.model_calls if c.role == trace.route and not c.error]
    if not calls or calls[-1].started_ms is None or calls[-1].first_token_ms is None:
        return None
    return calls[-1].started_ms + calls[-1].first_token_ms


@dataclass(frozen=True, slots=True)
class Deadline:
    """When the answer is due (``time.perf_counter()``), and the budget it came from."""

    at: float
    budget_ms: float

    @classmethod
    def after(cls, budget_ms: float, started: float) -> Deadline:
        return cls(started + budget_ms / 1000, budget_ms)

    def left_ms(self) -> float:
        return max(0.0, 1000 * (self.at - time.perf_counter()))

    def left_s(self) -> float:
        return self.left_ms() / 1000


def fits(
    record: PartTrace,
    route: Route,
    deadline: Deadline,
    latencies: RouteLatencies,
    *,
    streamed: bool = False,
) -> bool:
    """Whether ``route`` is expected to answer (``streamed``: to start answering) within what is
    left; traced as a check."""
    first_text = streamed and route in STREAMED_ROUTES
    expected, source = (
        latencies.expected_first_text_ms(route) if first_text else latencies.expected_ms(route)
    )
    left = deadline.left_ms()
    what = "expected ms to the first streamed text" if first_text else "expected ms"
    return record.check(
        "latency_budget",
        round(expected, 1),
        round(left, 1),
        expected <= left,
        f"{route}: {what} ({source}) against the ms left of {deadline.budget_ms:.0f}",
    )


def within_budget(
    record: PartTrace,
    route: Route,
    deadline: Deadline | None,
    latencies: RouteLatencies,
    *,
    quotable: bool,
    streamed: bool = False,
) -> Route:
    """``route``, or the first cheaper route expected to fit ``deadline`` (None: no budget)."""
    if deadline is None or route not in STEP_DOWN:
        return route
    chosen = route
    while chosen in STEP_DOWN and not fits(record, chosen, deadline, latencies, streamed=streamed):
        chosen = STEP_DOWN[chosen]
        if chosen == "retrieval_direct" and not quotable:
            chosen = "no_answer"
    if chosen != route:
        record.event(
            "latency",
            f"{route} is not expected to answer within the {deadline.budget_ms:.0f} ms budget: "
            f"{chosen} instead",
        )
    return chosen
