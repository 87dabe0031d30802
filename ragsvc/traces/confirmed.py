"""Questions that users confirmed an FAQ entry answers: the supply of phrasings learned from use.

A question qualifies when it reached an FAQ entry's answer through a costlier route (the FAQ match
was not confident enough for ``faq_direct``), every rating it got is positive, and the answer rests
on that one entry (the first source, and no other FAQ entry cited). Added to the entry as a new
phrasing (``ragsvc faq suggest --apply``), the next question written that way gets the answer
directly. Questions stored redacted are skipped: their stored text is not what was asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragsvc.errors import InvalidRequestError, NotFoundError
from ragsvc.traces.schema import Trace
from ragsvc.traces.store import FeedbackQuery, TraceStore


@dataclass(frozen=True, slots=True)
class ConfirmedPhrasing:
    faq_id: str
    question: str
    trace_id: str
    route: str
    rating: int


def confirmed_faq(trace: Trace, min_rating: int) -> str | None:
    """The FAQ id ``trace``'s positive feedback confirms for its question, or None."""
    ratings = [f.rating for f in trace.feedback]
    if not ratings or min(ratings) < min_rating:
        return None
    if trace.route == "faq_direct" or trace.question_redacted or not trace.sources:
        return None
    faq_ids = {s.faq_id for s in trace.sources if s.faq_id}
    first = trace.sources[0].faq_id
    return first if first is not None and faq_ids == {first} else None


def confirmed_phrasings(
    store: TraceStore, min_rating: int = 4, limit: int = 500
) -> list[ConfirmedPhrasing]:
    """The newest ``limit`` positively rated traces, reduced to distinct (entry, question) pairs."""
    found: dict[tuple[str, str], ConfirmedPhrasing] = {}
    for entry in store.feedback(FeedbackQuery(min_rating=min_rating, limit=limit)):
        trace = store.get(entry.trace_id)
        faq_id = confirmed_faq(trace, min_rating) if trace is not None else None
        if trace is None or faq_id is None:
            continue
        key = (faq_id, " ".join(trace.question.casefold().split()))
        confirmed = ConfirmedPhrasing(
            faq_id, trace.question, trace.trace_id, trace.route, entry.rating
        )
        found.setdefault(key, confirmed)
    return list(found.values())


def asked_questions(store: TraceStore, trace_ids: list[str]) -> list[str]:
    """The questions of ``trace_ids`` as asked, for an operator confirming them as phrasings; a
    trace stored redacted cannot give its own."""
    questions = []
    for trace_id in trace_ids:
        trace = store.get(trace_id)
        if trace is None:
            raise NotFoundError(f"no trace {trace_id!r}")
        if trace.question_redacted:
            raise InvalidRequestError(
                f"trace {trace_id} stores its question redacted (traces.redact_questions); "
                "give the phrasing as text instead"
            )
        questions.append(trace.question)
    return questions
