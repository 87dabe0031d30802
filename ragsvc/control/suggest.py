"""Thresholds suggested by the shadow verdicts: how far to raise a cheap route's threshold so that
what it still answers is judged right often enough (``ragsvc calibrate --from-shadow``).

Each verdict's trace holds the score its route compared with its threshold (``ROUTE_CHECK``), so
the margin by which the answer passed is known. Raising the threshold by ``r`` keeps the answers
whose margin was at least ``r``; the misrouting among those is their share of disagreements. The
suggested raise is the smallest (on the margins seen) whose 95% Wilson upper bound is within the
limit (``failsafe.max_misrouting``), so that the claim holds beyond chance. Only a raise can be
judged: an answer the route did not give was never sampled. The suggestion is meant for a variant
(``PUT /v1/routing/variants/{name}``) that the A/B comparison then confirms or not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ragsvc.control.compare import Estimate, wilson
from ragsvc.control.state import RAISED
from ragsvc.control.store import ShadowVerdict
from ragsvc.traces.schema import Trace

ROUTE_CHECK: dict[str, str] = {
    "faq_direct": "faq_confidence",
    "retrieval_direct": "direct_passage",
    "slm_answer": "slm_grounding",
}
"""The check whose score each cheap route's threshold (``RAISED``) is compared with."""


@dataclass(frozen=True, slots=True)
class Suggestion:
    variant: str
    route: str
    threshold: str
    judged: int
    now: Estimate
    """The misrouting of every judged answer."""
    raise_by: float | None
    """None: no raise on the margins seen brings the upper bound within the limit."""
    then: Estimate | None
    """The misrouting of the answers the raise keeps."""
    kept_share: float
    """The share of the judged answers the raise keeps (1.0 without a raise)."""
    threshold_now: float
    """The threshold the newest judged answer was compared with (the variant's, raises included)."""

    @property
    def suggested(self) -> float | None:
        """The threshold to try (as a variant's), or None."""
        return None if self.raise_by is None else round(self.threshold_now + self.raise_by, 4)


Judged = tuple[float, bool, float]
"""A judged answer: the margin it passed its threshold by, whether the judge disagreed, and the
threshold."""


def margins(
    verdicts: Sequence[ShadowVerdict], trace_of: Callable[[str], Trace | None]
) -> dict[tuple[str, str], list[Judged]]:
    """(variant, route) -> the judged answers whose trace records the route's check, newest
    first (as ``verdicts`` come); unclear verdicts left out."""
    found: dict[tuple[str, str], list[Judged]] = {}
    for verdict in verdicts:
        name = ROUTE_CHECK.get(verdict.route)
        trace = trace_of(verdict.trace_id) if name and verdict.verdict != "unclear" else None
        if trace is None:
            continue
        scored = [
            (c.score, c.threshold)
            for c in trace.checks
            if c.name == name and c.passed and c.score is not None and c.threshold is not None
        ]
        if not scored:
            continue
        score, threshold = scored[-1]
        found.setdefault((verdict.variant, verdict.route), []).append(
            (score - threshold, verdict.verdict == "disagree", threshold)
        )
    return found


def suggest(found: dict[tuple[str, str], list[Judged]], max_misrouting: float) -> list[Suggestion]:
    """Per variant and route, the smallest raise whose misrouting is within ``max_misrouting``."""
    suggestions = []
    for (variant, route), seen in sorted(found.items()):
        now = wilson(sum(d for _, d, _ in seen), len(seen))
        raise_by, then, kept_share = None, None, 0.0
        for candidate in sorted({0.0, *(m for m, _, _ in seen)}):
            kept = [d for m, d, _ in seen if m >= candidate]
            estimate = wilson(sum(kept), len(kept))
            if kept and estimate.high <= max_misrouting:
                raise_by, then, kept_share = round(candidate, 4), estimate, len(kept) / len(seen)
                break
        threshold = RAISED[route]
        suggestions.append(
            Suggestion(
                variant, route, threshold, len(seen), now, raise_by, then, kept_share, seen[0][2]
            )
        )
    return suggestions
