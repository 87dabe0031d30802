"""The router replayed offline: what ``routed`` would have answered under other thresholds.

An evaluation run that includes the ``all_llm``, ``all_slm`` and ``retrieval_only`` policies holds,
for every question, the outcome of every route the router could pick (the FAQ shortcut's outcome is
recorded separately), plus the signals the router compares with its thresholds. Replaying the
router's rules (:func:`ragsvc.pipeline.router.choose_route`, with the budget not low and the SLM
loaded) over those signals gives each question's route, and its recorded outcome, under any
thresholds, in microseconds. Approximations, stated: a multi-part question on the LLM route uses the
``routed`` run's answer when that run took the LLM route too (decomposed retrieval) and the
``all_llm`` answer (whole-question retrieval) otherwise; an escalated SLM answer costs the SLM's and
the LLM's latency and tokens; the analysis is the one the ``routed`` run made (its cascade
thresholds are not replayed).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Literal, get_args

from ragsvc.evaluation.records import Outcome, QuestionResult
from ragsvc.settings import RoutingSettings

REQUIRED_POLICIES = ("all_llm", "all_slm", "retrieval_only")


@dataclass(frozen=True, slots=True)
class Thresholds:
    faq_threshold: float
    relevance_threshold: float
    direct_threshold: float
    escalate_confidence: float
    escalate_completeness: float

    @classmethod
    def of(cls, routing: RoutingSettings | dict[str, float]) -> Thresholds:
        values = routing if isinstance(routing, dict) else routing.model_dump()
        return cls(**{name: float(values[name]) for name in cls.__slots__})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def replayable(results: Sequence[QuestionResult]) -> bool:
    return bool(results) and all(all(p in r.outcomes for p in REQUIRED_POLICIES) for r in results)


Choice = Literal["faq_top", "no_answer", "retrieval_only", "llm", "all_slm", "escalated"]
"""Which recorded outcome a replayed question gets."""
CHOICES: tuple[Choice, ...] = get_args(Choice)


def decide(result: QuestionResult, t: Thresholds) -> Choice:
    """The router's rules over ``result``'s signals (mirrors ``choose_route``)."""
    s = result.signals
    if result.faq_top is not None and (s.faq_confidence or 0.0) >= t.faq_threshold:
        return "faq_top"
    relevant = s.relevance >= t.relevance_threshold if s.swept else bool(s.relevant)
    if s.analysis_kind in ("out_of_scope", "chitchat") or not relevant:
        return "no_answer"
    simple = s.analysis_kind == "simple_factual" and s.analysis_complexity == "simple"
    direct = s.relevance >= t.direct_threshold if s.swept else bool(s.direct)
    if simple and direct:
        return "retrieval_only"
    if s.analysis_kind in ("multi_part", "complex") or s.analysis_complexity == "complex":
        return "llm"
    passed = (
        not s.slm_declined
        and (s.slm_grounding or 0.0) >= t.escalate_confidence
        and (s.slm_completeness or 0.0) >= t.escalate_completeness
    )
    if passed or result.outcomes["all_slm"].route != "slm_answer":
        return "all_slm"
    return "escalated"


def outcome_for(result: QuestionResult, choice: Choice) -> Outcome:
    """The recorded outcome behind ``choice``, its latency including the steps before it."""
    outcomes = result.outcomes
    if choice == "faq_top":
        assert result.faq_top is not None
        return result.faq_top
    before = result.faq_top.latency_ms if result.faq_top else 0.0
    before += result.signals.analysis_latency_ms
    if choice == "no_answer":
        in_scope = bool(result.question.parts)
        return Outcome(
            route="no_answer",
            answer="",
            quality=0.0 if in_scope else 1.0,
            declined=True,
            latency_ms=before,
        )
    if choice == "llm":
        routed = outcomes.get("routed")
        llm = routed if routed and routed.route == "llm_synthesis" else outcomes["all_llm"]
        return _after(llm, before)
    if choice == "escalated":
        slm, llm = outcomes["all_slm"], outcomes["all_llm"]
        return llm.model_copy(
            update={
                "latency_ms": before + slm.latency_ms + llm.latency_ms,
                "slm_tokens": _add(slm.slm_tokens, llm.slm_tokens),
            }
        )
    return _after(outcomes[choice], before)


def replay(result: QuestionResult, t: Thresholds) -> Outcome:
    """The outcome ``result``'s question would get from the router under ``t``."""
    return outcome_for(result, decide(result, t))


def _after(outcome: Outcome, before_ms: float) -> Outcome:
    return outcome.model_copy(update={"latency_ms": before_ms + outcome.latency_ms})


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    return a[0] + b[0], a[1] + b[1]


def grid() -> Iterator[Thresholds]:
    """The settings ``ragsvc calibrate`` and the eval plot explore (22,750 points)."""
    faq = [round(0.70 + 0.025 * i, 3) for i in range(13)]
    relevance = [round(0.20 + 0.05 * i, 2) for i in range(7)]
    direct = [round(0.40 + 0.05 * i, 2) for i in range(10)]
    escalate = [0.5, 0.6, 0.7, 0.8, 0.9]
    completeness = [0.4, 0.5, 0.6, 0.7, 0.8]
    for values in itertools.product(faq, relevance, direct, escalate, completeness):
        yield Thresholds(*values)
