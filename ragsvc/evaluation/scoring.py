"""Scoring one answer against a labelled question.

A part of a question is *answered* when the answer cites a correct source for it:
- FAQ part: a cited source is the gold FAQ entry (its ``faq_id``);
- span part (PolicyQA, JSQuAD): a cited source is a gold passage, a passage of the gold document
  that contains one of the gold answer spans (normalised). The spans are fragments ("when you open
  e-mail"), so an answer that states the fact in its own words and cites the right passage is
  right; ``strict_quality`` keeps the earlier rule (gold document cited *and* a gold span inside
  the answer text) beside it, so the two can be compared in one run.
``quality`` is the share of parts answered (1 or 0 for single questions); an answer that declines
scores 0. Only a generated answer (SLM, LLM) can decline: an FAQ answer or an extracted passage is
the organisation's own text, which may well say "I don't know of a way to ..." (StackFAQ does).
An out-of-scope question has no parts: declining (the hand-off) scores 1, anything else 0, because
an invented answer to a question the documents do not cover is the worst outcome.
``f1`` (best token F1 against the gold spans, mean over span parts) and ``contains`` are reported
beside it, the usual SQuAD-style figures; generated answers are longer than spans, so their F1 is
low by construction: compare F1 between policies, not with published extractive figures.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from ragsvc.evaluation.metrics import Language, contains_answer, token_f1
from ragsvc.evaluation.mix import LabelledQuestion, PartGold
from ragsvc.evaluation.records import Outcome
from ragsvc.pipeline.quality import declines
from ragsvc.traces.schema import ModelCall, Source, Trace

GENERATED_ROUTES = ("slm_answer", "llm_synthesis")


def cites(part: PartGold, sources: Sequence[Source]) -> bool:
    if part.faq_id is not None:
        return any(s.faq_id == part.faq_id for s in sources)
    if part.document is not None:
        return any(_same_file(s.source, part.document) for s in sources)
    return False


def _same_file(source: str, document: str) -> bool:
    return source == document or source.endswith("/" + document)


def cites_gold_passage(
    part: PartGold, sources: Sequence[Source], passages: Mapping[str, str], language: Language
) -> bool:
    """A cited source is a passage of the gold document holding a gold span; ``passages``: the
    cited passages' text by id (a source missing there is judged on its snippet)."""
    return any(
        part.document is not None
        and _same_file(s.source, part.document)
        and contains_answer(passages.get(s.id, s.snippet), part.answers, language)
        for s in sources
    )


def score(
    question: LabelledQuestion,
    route: str,
    answer: str,
    sources: Sequence[Source],
    passages: Mapping[str, str] | None = None,
) -> Outcome:
    declined = route == "no_answer" or (route in GENERATED_ROUTES and declines(answer))
    if not question.parts:
        quality = float(declined)
        return Outcome(
            route=route,
            answer=answer,
            quality=quality,
            strict_quality=quality,
            declined=declined,
        )
    answered: list[bool] = []
    strict: list[bool] = []
    f1s: list[float] = []
    contained: list[bool] = []
    for part in question.parts:
        source_ok = cites(part, sources)
        if part.category == "faq":
            answered.append(source_ok and not declined)
            strict.append(answered[-1])
            continue
        language = question.language
        inside = contains_answer(answer, part.answers, language)
        f1s.append(token_f1(answer, part.answers, language))
        contained.append(inside)
        gold = cites_gold_passage(part, sources, passages or {}, language)
        answered.append(gold and not declined)
        strict.append(source_ok and inside and not declined)
    return Outcome(
        route=route,
        answer=answer,
        quality=statistics.fmean(answered),
        strict_quality=statistics.fmean(strict),
        f1=statistics.fmean(f1s) if f1s else None,
        contains=statistics.fmean(contained) if contained else None,
        sources_ok=statistics.fmean(cites(p, sources) for p in question.parts),
        declined=declined,
    )


def outcome_of(
    question: LabelledQuestion, trace: Trace, passages: Mapping[str, str] | None = None
) -> Outcome:
    """The scored answer of a pipeline run, with the latency, tokens and (for a joined message)
    the parts' routes its trace recorded; ``passages``: the cited passages' text by id."""
    outcome = score(question, trace.route, trace.answer, trace.sources, passages)
    calls = trace.all_model_calls()
    llm = [c for c in calls if c.role.startswith("llm")]
    slm = [c for c in calls if c.role.startswith("slm")]
    return outcome.model_copy(
        update={
            "part_routes": [part.route for part in trace.parts],
            "llm_calls": [(c.first_token_ms, c.latency_ms) for c in llm if not c.error],
            "degraded": trace.degraded,
            "latency_ms": trace.latency_ms,
            "llm_tokens": _tokens(llm),
            "slm_tokens": _tokens(slm),
            "trace_id": trace.trace_id,
        }
    )


def _tokens(calls: Sequence[ModelCall]) -> tuple[int, int]:
    return sum(c.prompt_tokens for c in calls), sum(c.completion_tokens for c in calls)
