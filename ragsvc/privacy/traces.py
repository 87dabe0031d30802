"""A trace as it may be stored: the user's words replaced, or only the PII in them redacted."""

from __future__ import annotations

from ragsvc.privacy.pii import redact
from ragsvc.traces.schema import PartTrace, Trace

REDACTED = "[redacted]"


def redact_trace(trace: Trace, *, questions: bool, pii: bool) -> Trace:
    """A copy of ``trace`` for storage; ``trace`` itself, and so the live answer, is unchanged.

    ``questions``: the question (a follow-up's words and previous question too), every retrieval
    query, the analysis's sub-queries and the answer become "[redacted]". ``pii``: PII is redacted
    from every field that may hold user text or an echo of it: those, the analysis stages' details
    and fallback reason, the route reason, check notes, event details, model call errors and
    feedback comments. Source snippets are corpus text and are kept. A joined message's parts are
    redacted alike.
    """
    stored = trace.model_copy(deep=True)
    for record in (stored, *stored.parts):
        if pii:
            _redact_pii(record)
        if questions:
            _redact_questions(record)
    if stored.follow_up is not None:
        follow_up = stored.follow_up
        if questions:
            follow_up.asked = follow_up.previous = REDACTED
        elif pii:
            follow_up.asked, follow_up.previous = _text(follow_up.asked), _text(follow_up.previous)
    if pii:
        for feedback in stored.feedback:
            feedback.comment = _text(feedback.comment)
    stored.question_redacted = stored.question_redacted or questions
    return stored


def _redact_questions(record: PartTrace) -> None:
    record.question = REDACTED
    record.answer = REDACTED
    for retrieval in record.retrievals:
        retrieval.query = REDACTED
    if record.analysis is not None:
        record.analysis.sub_queries = [REDACTED for _ in record.analysis.sub_queries]


def _text(text: str) -> str:
    return redact(text).text


def _redact_pii(trace: PartTrace) -> None:
    trace.question = _text(trace.question)
    trace.answer = _text(trace.answer)
    trace.route_reason = _text(trace.route_reason)
    for retrieval in trace.retrievals:
        retrieval.query = _text(retrieval.query)
    if trace.analysis is not None:
        analysis = trace.analysis
        analysis.sub_queries = [_text(q) for q in analysis.sub_queries]
        if analysis.fallback_reason is not None:
            analysis.fallback_reason = _text(analysis.fallback_reason)
        for stage in analysis.stages:
            stage.detail = _text(stage.detail)
    for check in trace.checks:
        check.note = _text(check.note)
    for event in trace.events:
        event.detail = _text(event.detail)
    for call in trace.model_calls:
        if call.error is not None:
            call.error = _text(call.error)
