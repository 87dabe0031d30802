"""Route choice: concrete threshold rules over the question's signals, each check traced.

The order follows the source articles: a confident FAQ match first (no analysis, no model); out of
scope or nothing relevant -> an honest hand-off; a simple factual question with a strong passage ->
the passage itself; multi-part or complex -> the LLM; the rest (medium) -> the SLM, which escalates
to the LLM when its answer fails the quality check. With the monthly budget nearly spent, the SLM
replaces the LLM.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from ragsvc.analysis.schema import QueryAnalysis
from ragsvc.analysis.split import Split
from ragsvc.embedding.spaces import MULTILINGUAL
from ragsvc.retrieval.faq import FaqMatch
from ragsvc.retrieval.faq_confidence import under_floor
from ragsvc.retrieval.fusion import Hit
from ragsvc.settings import Settings
from ragsvc.traces.schema import PartTrace, Route


@dataclass(frozen=True, slots=True)
class RouteChoice:
    route: Route
    reason: str


@dataclass(frozen=True, slots=True)
class PassageThresholds:
    """The cosines a retrieved passage is compared with. Each dense space has its own (the
    cosines of multilingual-e5 sit in a narrower, higher band than MiniLM's), and a passage in
    another language than the question's its own again: it is never quoted as the answer
    (``direct`` None), a model answers in the question's language from it."""

    relevance: float
    direct: float | None
    note: str


def passage_thresholds(settings: Settings, hit: Hit, language: str) -> PassageThresholds:
    written_in = hit.written_in(language)
    other = written_in != language
    if hit.space == MULTILINGUAL:
        m = settings.multilingual
        if other:
            note = (
                f"multilingual space, a {written_in} passage for a {language} question "
                f"(cosine + {hit.dense_offset:g})"
            )
            return PassageThresholds(m.relevance_threshold, None, note)
        return PassageThresholds(m.relevance_threshold, m.direct_threshold, "multilingual space")
    r = settings.routing
    if other:
        note = f"a {written_in} passage for a {language} question"
        return PassageThresholds(r.relevance_threshold, None, note)
    return PassageThresholds(r.relevance_threshold, r.direct_threshold, "")


Judged = tuple[Hit, PassageThresholds]


@dataclass(frozen=True, slots=True)
class PassageChoice:
    """``relevant``: the hit that clears its relevance threshold by most; ``quotable``: of the
    hits that may be quoted (in the question's language), the best ranked that clears its direct
    threshold, else the one nearest to it. None: no such hit."""

    relevant: Judged | None
    quotable: Judged | None


def choose_passages(hits: Sequence[Hit], language: str, settings: Settings) -> PassageChoice:
    """``hits`` best first: the quote follows the fused ranking (BM25 and dense together), the
    thresholds read the cosine."""
    judged = [(h, passage_thresholds(settings, h, language)) for h in hits]
    quotable = [pair for pair in judged if pair[1].direct is not None]
    clearing = [pair for pair in quotable if _over_direct(pair) >= 0]
    return PassageChoice(
        max(judged, key=_over_relevance, default=None),
        clearing[0] if clearing else max(quotable, key=_over_direct, default=None),
    )


def _over_relevance(pair: Judged) -> float:
    return pair[0].dense_score - pair[1].relevance


def _over_direct(pair: Judged) -> float:
    return pair[0].dense_score - (pair[1].direct or 0.0)


def as_written(text: str) -> str:
    """A question as written, without case, width, spacing or closing punctuation."""
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return folded.rstrip("?.!。 ")


def is_exact_phrasing(match: FaqMatch, question: str) -> bool:
    """``question`` is one of the entry's phrasings as written, and no other entry's (the entry
    leads the runner-up on the dense side)."""
    exact = as_written(question) == as_written(match.matched_phrasing)
    return exact and match.features.get("dense_margin", 1.0) > 0


def faq_is_confident(
    trace: PartTrace,
    match: FaqMatch | None,
    threshold: float,
    question: str,
    floor: float | None = None,
) -> bool:
    """The FAQ-direct check: the top entry's confidence against ``threshold``, with the features
    the confidence was computed from, and its similarity against ``floor`` (None: the floor of
    the match's calibration). A question that is one of the entry's phrasings as written
    (and no other entry's: its dense lead over the runner-up is positive) passes whatever the
    calibrated confidence says: the model was fitted on reworded questions, and an exact
    phrasing near a similar entry scored below the threshold (the demo's "I lost my office
    access card. What should I do?": 0.919 against 0.944)."""
    if match is None:
        return trace.check("faq_confidence", None, threshold, False, "no FAQ entry indexed")
    note = (
        f"calibrated: probability that {match.faq_id} is right"
        if match.calibrated
        else f"raw cosine to the closest phrasing of {match.faq_id} "
        f"({match.uncalibrated_because or 'not calibrated'})"
    )
    details = {name: round(value, 4) for name, value in match.features.items()}
    if match.centroid_cos is not None:
        details["centroid_cos"] = round(match.centroid_cos, 4)
        details["centroid_weight"] = match.centroid_weight
    passed = match.confidence >= threshold
    floor = match.similarity_floor if floor is None else floor
    if floor > 0:
        details["min_similarity"] = floor
        if passed and under_floor(match.features, floor):
            note += (
                f"; under the similarity floor {floor:.3f}: the question is "
                "not close to any of the entry's phrasings or its answer"
            )
            passed = False
    if is_exact_phrasing(match, question):
        details["exact_phrasing"] = 1.0
        if not passed:
            note += "; passed: the question is the entry's phrasing as written"
        passed = True
    return trace.check("faq_confidence", match.confidence, threshold, passed, note, details)


def is_in_question_language(trace: PartTrace, match: FaqMatch, language: str) -> bool:
    """An FAQ answer goes out as written: only to a question in its language. An entry in
    another language goes on as a passage, and a model answers in the question's language."""
    written_in = match.hit.written_in(language)
    same = written_in == language
    note = "" if same else f"a {written_in} entry for a {language} question: a model answers"
    return trace.check("faq_language", None, None, same, note)


def is_one_question(trace: PartTrace, split: Split) -> bool:
    """A confident FAQ match answers one question: a message the splitter splits into parts goes
    on to analysis instead, or the FAQ would answer its first part and drop the rest."""
    parts = len(split.parts)
    note = (
        ""
        if parts == 1
        else f"joined questions ({', '.join(split.cues)}): the FAQ would answer one part only"
    )
    return trace.check("single_question", parts, 1, parts == 1, note)


def _is_quotable(trace: PartTrace, quotable: Judged | None) -> bool:
    if quotable is None:
        note = "no passage in the question's language was retrieved"
        return trace.check("direct_passage", None, None, False, note)
    hit, thresholds = quotable
    assert thresholds.direct is not None
    score = round(hit.dense_score, 4)
    strong = score >= thresholds.direct
    return trace.check("direct_passage", score, thresholds.direct, strong, thresholds.note)


def choose_route(
    trace: PartTrace,
    analysis: QueryAnalysis,
    passages: PassageChoice,
    *,
    budget_low: bool,
    slm_available: bool,
) -> RouteChoice:
    """The route for a question the FAQ did not settle; every comparison goes into ``trace``."""
    in_scope = analysis.kind not in ("out_of_scope", "chitchat")
    trace.check("in_scope", analysis.confidence, None, in_scope, f"analysis: {analysis.kind}")
    if not in_scope:
        return RouteChoice("no_answer", f"the question is {analysis.kind.replace('_', ' ')}")
    if passages.relevant is None:
        trace.check("relevance", 0.0, None, False, "nothing was retrieved")
        return RouteChoice("no_answer", "nothing relevant was retrieved")
    hit, thresholds = passages.relevant
    relevance = round(hit.dense_score, 4)
    relevant = relevance >= thresholds.relevance
    if not trace.check("relevance", relevance, thresholds.relevance, relevant, thresholds.note):
        return RouteChoice("no_answer", "nothing relevant was retrieved")
    simple = analysis.kind == "simple_factual" and analysis.complexity == "simple"
    if simple and _is_quotable(trace, passages.quotable):
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
