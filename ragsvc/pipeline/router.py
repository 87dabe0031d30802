"""Route choice: concrete threshold rules over the question's signals, each check traced.

The order follows the source articles: a confident FAQ match first (no analysis, no model); out of
scope or nothing relevant -> an honest hand-off; a simple factual question with a strong passage ->
the passage itself; multi-part or complex -> the LLM; the rest (medium) -> the SLM, which escalates
to the LLM when its answer fails the quality check. With the monthly budget nearly spent, the SLM
replaces the LLM.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragsvc.analysis.cues import split_question
from ragsvc.analysis.schema import QueryAnalysis
from ragsvc.embedding.spaces import MULTILINGUAL
from ragsvc.retrieval.faq import FaqMatch
from ragsvc.settings import Settings
from ragsvc.traces.schema import Route, Trace


@dataclass(frozen=True, slots=True)
class RouteChoice:
    route: Route
    reason: str


@dataclass(frozen=True, slots=True)
class PassageThresholds:
    """The cosines a retrieved passage is compared with; each dense space has its own, since
    multilingual-e5's cosines sit in a narrower, higher band than MiniLM's."""

    relevance: float
    direct: float
    space: str


def passage_thresholds(settings: Settings, space: str) -> PassageThresholds:
    if space == MULTILINGUAL:
        m = settings.multilingual
        return PassageThresholds(m.relevance_threshold, m.direct_threshold, space)
    r = settings.routing
    return PassageThresholds(r.relevance_threshold, r.direct_threshold, space)


def faq_is_confident(trace: Trace, match: FaqMatch | None, threshold: float) -> bool:
    """The FAQ-direct check: the top entry's confidence against ``threshold``, with the features
    the confidence was computed from."""
    if match is None:
        return trace.check("faq_confidence", None, threshold, False, "no FAQ entry indexed")
    passed = match.confidence >= threshold
    note = (
        f"calibrated: probability that {match.faq_id} is right"
        if match.calibrated
        else f"raw cosine to the closest phrasing of {match.faq_id} "
        f"({match.uncalibrated_because or 'not calibrated'})"
    )
    rounded = {name: round(value, 4) for name, value in match.features.items()}
    return trace.check("faq_confidence", match.confidence, threshold, passed, note, rounded)


def is_one_question(trace: Trace, question: str, language: str) -> bool:
    """A confident FAQ match answers one question: a message the cues split into parts goes on to
    analysis instead, or the FAQ would answer its first part and drop the rest."""
    parts = len(split_question(question, language))
    note = "" if parts == 1 else "joined questions: the FAQ would answer one part only"
    return trace.check("single_question", parts, 1, parts == 1, note)


def choose_route(
    trace: Trace,
    analysis: QueryAnalysis,
    relevance: float,
    thresholds: PassageThresholds,
    *,
    budget_low: bool,
    slm_available: bool,
) -> RouteChoice:
    """The route for a question the FAQ did not settle; every comparison goes into ``trace``."""
    in_scope = analysis.kind not in ("out_of_scope", "chitchat")
    trace.check("in_scope", analysis.confidence, None, in_scope, f"analysis: {analysis.kind}")
    if not in_scope:
        return RouteChoice("no_answer", f"the question is {analysis.kind.replace('_', ' ')}")
    space = f"best cosine in the {thresholds.space} space"
    relevant = relevance >= thresholds.relevance
    if not trace.check("relevance", relevance, thresholds.relevance, relevant, space):
        return RouteChoice("no_answer", "nothing relevant was retrieved")
    simple = analysis.kind == "simple_factual" and analysis.complexity == "simple"
    strong = relevance >= thresholds.direct
    if simple and trace.check("direct_passage", relevance, thresholds.direct, strong, space):
        return RouteChoice("retrieval_direct", "simple factual question with a strong passage")
    needs_llm = analysis.kind in ("multi_part", "complex") or analysis.complexity == "complex"
    if budget_low:
        trace.event("budget", "monthly budget nearly spent: the SLM answers instead of the LLM")
    if needs_llm and not budget_low:
        return RouteChoice("llm_synthesis", f"{analysis.kind.replace('_', ' ')} question")
    if slm_available:
        return RouteChoice("slm_answer", "medium question: the SLM answers, the LLM backs it up")
    if budget_low:
        return RouteChoice("retrieval_direct", "no SLM available and the budget is nearly spent")
    return RouteChoice("llm_synthesis", "no SLM available")
