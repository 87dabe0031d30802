"""Variants compared on live traffic, each figure with its 95% interval: rates by Wilson's score
interval (sound at small counts and near 0 or 1), means by the normal approximation."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from ragsvc.control.store import ControlStore, ShadowVerdict
from ragsvc.traces.store import RatedAnswer, TraceStore, VariantAnswer

Z95 = 1.959964
NEGATIVE_RATING = 2
"""Ratings at or below this are negative (1-2 of 5; the trace filter's ``down``)."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """A rate or a mean with its 95% interval; ``n`` observations (0: nothing to estimate)."""

    value: float
    low: float
    high: float
    n: int


def wilson(successes: int, n: int, z: float = Z95) -> Estimate:
    if n == 0:
        return Estimate(0.0, 0.0, 1.0, 0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), n)


def lead(rate: Estimate, baseline: Estimate) -> Estimate:
    """How far ``rate`` is above ``baseline`` (two independent shares), with Newcombe's 95%
    interval for a difference of proportions, built from the two Wilson intervals (his method
    10: sound at small counts, where the plain normal one is not); ``n`` is ``rate``'s."""
    d = rate.value - baseline.value
    low = d - math.hypot(rate.value - rate.low, baseline.high - baseline.value)
    high = d + math.hypot(rate.high - rate.value, baseline.value - baseline.low)
    return Estimate(d, max(-1.0, low), min(1.0, high), rate.n)


def mean_interval(values: Sequence[float], z: float = Z95) -> Estimate:
    if not values:
        return Estimate(0.0, 0.0, 0.0, 0)
    mean = float(np.mean(values))
    half = z * float(np.std(values, ddof=1)) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return Estimate(mean, mean - half, mean + half, len(values))


@dataclass(frozen=True, slots=True)
class VariantComparison:
    variant: str
    questions: int
    route_shares: dict[str, float]
    """Answers per route counted per part, as a share of all parts answered."""
    cost_per_question_usd: Estimate
    latency_ms: Estimate
    p95_ms: float
    escalation_rate: Estimate
    negative_feedback: Estimate
    """The share of rated answers rated 1-2."""
    misrouting: Estimate
    """Shadow verdicts on the cheap routes: the share the LLM judged not to answer."""
    misrouting_by_route: dict[str, Estimate] = field(default_factory=dict)
    misrouting_corrected: Estimate | None = None
    """``misrouting`` corrected for the judge's errors; None while the judge is not trusted
    (``ragsvc/control/judge_check.py``)."""
    misrouting_corrected_by_route: dict[str, Estimate] = field(default_factory=dict)


def misrouting(verdicts: Sequence[ShadowVerdict]) -> Estimate:
    judged = [v for v in verdicts if v.verdict in ("agree", "disagree")]
    return wilson(sum(v.verdict == "disagree" for v in judged), len(judged))


def negative_share(ratings: Sequence[RatedAnswer]) -> Estimate:
    return wilson(sum(r.rating <= NEGATIVE_RATING for r in ratings), len(ratings))


def compare(
    names: Sequence[str],
    answers: Sequence[VariantAnswer],
    ratings: Sequence[RatedAnswer],
    verdicts: Sequence[ShadowVerdict],
) -> list[VariantComparison]:
    """One comparison per variant in ``names`` and any other that answered in the window."""
    seen = list(dict.fromkeys([*names, *(a.variant for a in answers)]))
    return [
        _one(
            name,
            [a for a in answers if a.variant == name],
            [r for r in ratings if r.variant == name],
            [v for v in verdicts if v.variant == name],
        )
        for name in seen
    ]


def _one(
    name: str,
    answers: list[VariantAnswer],
    ratings: list[RatedAnswer],
    verdicts: list[ShadowVerdict],
) -> VariantComparison:
    parts = Counter(route for a in answers for route in a.part_routes)
    total = max(sum(parts.values()), 1)
    latencies = [a.latency_ms for a in answers]
    routes = sorted({v.route for v in verdicts})
    return VariantComparison(
        variant=name,
        questions=len(answers),
        route_shares={route: round(n / total, 4) for route, n in sorted(parts.items())},
        cost_per_question_usd=mean_interval([a.cost_usd for a in answers]),
        latency_ms=mean_interval(latencies),
        p95_ms=float(np.percentile(latencies, 95)) if latencies else 0.0,
        escalation_rate=wilson(sum(a.escalated for a in answers), len(answers)),
        negative_feedback=negative_share(ratings),
        misrouting=misrouting(verdicts),
        misrouting_by_route={r: misrouting([v for v in verdicts if v.route == r]) for r in routes},
    )


def compare_live(
    names: Sequence[str], traces: TraceStore, store: ControlStore, since: datetime | None = None
) -> list[VariantComparison]:
    """The variants compared on what the stores hold since ``since``."""
    return compare(
        names, traces.variant_answers(since), traces.ratings(since), store.verdicts(since)
    )
