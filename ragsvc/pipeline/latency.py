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


class RouteLatencies:
    """Expected latency per route, from this process's recent answers (thread-safe)."""

    def __init__(self, routing: RoutingSettings) -> None:
        self.routing = routing
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def observe(self, trace: Trace) -> None:
        """A finished message: a one-question, undegraded answer adds its latency to its route's
        window (a joined message's time is its parts' together: no route's own)."""
        if trace.parts or trace.degraded:
            return
        with self._lock:
            window = self._seen.setdefault(trace.route, deque(maxlen=self.routing.latency_window))
            window.append(trace.latency_ms)

    def expected_ms(self, route: Route) -> tuple[float, str]:
        """The latency ``route`` is expected to take, and where the figure comes from."""
        with self._lock:
            seen = list(self._seen.get(route, ()))
        if len(seen) >= self.routing.latency_min_samples:
            return float(np.percentile(seen, 90)), f"p90 of the last {len(seen)} answers"
        return self.routing.expected_latency_ms[route], "configured (routing.expected_latency_ms)"


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


def fits(record: PartTrace, route: Route, deadline: Deadline, latencies: RouteLatencies) -> bool:
    """Whether ``route`` is expected to answer within what is left; traced as a check."""
    expected, source = latencies.expected_ms(route)
    left = deadline.left_ms()
    return record.check(
        "latency_budget",
        round(expected, 1),
        round(left, 1),
        expected <= left,
        f"{route}: expected ms ({source}) against the ms left of {deadline.budget_ms:.0f}",
    )


def within_budget(
    record: PartTrace,
    route: Route,
    deadline: Deadline | None,
    latencies: RouteLatencies,
    *,
    quotable: bool,
) -> Route:
    """``route``, or the first cheaper route expected to fit ``deadline`` (None: no budget)."""
    if deadline is None or route not in STEP_DOWN:
        return route
    chosen = route
    while chosen in STEP_DOWN and not fits(record, chosen, deadline, latencies):
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
