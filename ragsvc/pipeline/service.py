"""The answer pipeline: one question in, one answer and its trace out. Never raises for a model
or endpoint failure: the answer degrades (``degraded=True``) and the trace says why.

Steps: embed the question once -> FAQ match (a confident match answers at once, no analysis) ->
analysis cascade -> retrieval of the question or of each sub-query (concurrently) -> route ->
answer (FAQ text, extracted passage, SLM, LLM or hand-off) -> trace queued off the critical path.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from ragsvc.analysis.schema import QueryAnalysis
from ragsvc.cost.ledger import CostLedger, estimate_tokens
from ragsvc.embedding.base import Vectors
from ragsvc.errors import InvalidRequestError
from ragsvc.index import Index
from ragsvc.llm.client import ChatModel, LlmError
from ragsvc.pipeline import prompts
from ragsvc.pipeline.extract import extract_answer
from ragsvc.pipeline.ports import LocalChat, QuestionAnalyzer
from ragsvc.pipeline.quality import assess
from ragsvc.pipeline.router import choose_route, faq_is_confident
from ragsvc.retrieval.faq import FaqMatch
from ragsvc.retrieval.fusion import Hit
from ragsvc.settings import Settings
from ragsvc.store.schema import SearchFilters
from ragsvc.text.language import detect_language
from ragsvc.traces.schema import ModelCall, Retrieval, RetrievedHit, Source, Trace
from ragsvc.traces.store import TraceStore

log = logging.getLogger(__name__)

EventSink = Callable[[str, dict[str, Any]], None]
"""Receives ("route", {...}), ("delta", {"text": ...}) while a question is answered."""

ESTIMATED_ANSWER_TOKENS = 250
"""Output tokens assumed when estimating what the LLM would have cost for a question."""

Policy = Literal["routed", "all_llm", "all_slm", "retrieval_only"]
"""``routed`` is the product. The others are the baselines ``ragsvc eval`` compares it with, on the
same index and models: ``all_llm`` retrieves the question and has the LLM synthesise every answer
(no FAQ shortcut, no analysis), ``all_slm`` has the SLM answer every question from the same
passages (its quality check is recorded, never acted on), ``retrieval_only`` answers every question
with the best retrieved passage (no models, no thresholds)."""
POLICIES: tuple[Policy, ...] = ("routed", "all_llm", "all_slm", "retrieval_only")


@dataclass(frozen=True, slots=True)
class AskInput:
    question: str
    language: str | None = None
    kind: str | None = None
    tags: tuple[str, ...] = ()
    conversation_id: str | None = None
    policy: Policy = "routed"


@dataclass(slots=True)
class _Context:
    """What one question accumulates on its way through the pipeline."""

    request: AskInput
    trace: Trace
    vector: Vectors
    language: str
    sink: EventSink
    parts: list[str] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)


def _ignore(_: str, __: dict[str, Any]) -> None:
    return None


class AskService:
    def __init__(
        self,
        settings: Settings,
        index: Index,
        analyzer: QuestionAnalyzer,
        traces: TraceStore,
        ledger: CostLedger,
        slm: LocalChat | None = None,
        llm: ChatModel | None = None,
    ) -> None:
        self.settings = settings
        self.routing = settings.routing
        self.index = index
        self.analyzer = analyzer
        self.traces = traces
        self.ledger = ledger
        self.slm = slm
        self.llm = llm
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="retrieve")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # -- the pipeline ---------------------------------------------------------------------------
    def validate(self, request: AskInput) -> str:
        question = " ".join(request.question.split())
        if not question:
            raise InvalidRequestError("question must not be empty")
        limit = self.routing.max_question_chars
        if len(question) > limit:
            raise InvalidRequestError(
                f"question is {len(question)} characters long, the limit is {limit} "
                "(routing.max_question_chars)"
            )
        return question

    def ask(self, request: AskInput, sink: EventSink | None = None) -> Trace:
        question = self.validate(request)
        started = time.perf_counter()
        language = request.language or detect_language(question)
        trace = Trace(
            trace_id=uuid.uuid4().hex,
            question="[redacted]" if self.settings.traces.redact_questions else question,
            question_redacted=self.settings.traces.redact_questions,
            language=language,
            conversation_id=request.conversation_id,
            filters={"kind": request.kind, "language": request.language, "tags": request.tags},
        )
        log.debug("question %s: %s", trace.trace_id, question)
        with _timed(trace, "embed"):
            vector = self.index.retriever.embed(question)
        ctx = _Context(request, trace, vector, language, sink or _ignore)
        try:
            self._answer(ctx, question)
        except Exception as exc:  # a bug or a store failure: answer honestly, keep the trace
            log.exception("question %s failed", trace.trace_id)
            trace.event("error", f"{type(exc).__name__}: {exc}")
            trace.degraded = True
            self._no_answer(ctx, "internal error while answering")
        trace.latency_ms = round(1000 * (time.perf_counter() - started), 2)
        trace.cost_usd = sum(call.cost_usd for call in trace.model_calls)
        self.ledger.record(trace.cost_usd)
        self.traces.submit(trace)
        return trace

    def _answer(self, ctx: _Context, question: str) -> None:
        if ctx.request.policy != "routed":
            self._answer_by_policy(ctx, question, ctx.request.policy)
            return
        trace = ctx.trace
        with _timed(trace, "faq"):
            faq = self._faq_match(ctx, question)
        if faq_is_confident(trace, faq.confidence if faq else None, self.routing):
            assert faq is not None
            trace.route_reason = "confident FAQ match; analysis skipped"
            self._faq_direct(ctx, faq)
            return
        with _timed(trace, "analysis"):
            analysis = self.analyzer.analyze(
                question, query_vector=ctx.vector, language=ctx.request.language
            )
        self._record_analysis(trace, analysis)
        if analysis.kind in ("out_of_scope", "chitchat"):
            ctx.parts = [question]
        else:
            ctx.parts = self._parts(question, analysis)
            with _timed(trace, "retrieval"):
                ctx.hits = self._retrieve(ctx)
        relevance = max((h.dense_score for h in ctx.hits), default=0.0)
        choice = choose_route(
            trace,
            analysis,
            relevance,
            self.routing,
            budget_low=self._budget_low(trace),
            slm_available=self.slm is not None,
        )
        trace.route_reason = choice.reason
        self._estimate_llm_cost(ctx, question)
        if choice.route == "no_answer":
            self._no_answer(ctx, choice.reason)
        elif choice.route == "retrieval_direct":
            self._retrieval_direct(ctx)
        elif choice.route == "slm_answer":
            self._slm_then_escalate(ctx, question)
        else:
            self._llm_or_degrade(ctx, question)

    def _answer_by_policy(self, ctx: _Context, question: str, policy: Policy) -> None:
        """A baseline: the whole question retrieved, then one fixed route whatever the scores."""
        ctx.trace.route_reason = f"evaluation policy {policy}"
        ctx.trace.event("policy", f"{policy}: routing disabled for this question")
        ctx.parts = [question]
        with _timed(ctx.trace, "retrieval"):
            ctx.hits = self._retrieve(ctx)
        self._estimate_llm_cost(ctx, question)
        if not ctx.hits:
            self._no_answer(ctx, "nothing was retrieved")
        elif policy == "retrieval_only":
            self._retrieval_direct(ctx)
        elif policy == "all_slm":
            self._slm_only(ctx, question)
        else:
            self._llm_or_degrade(ctx, question)

    # -- steps ----------------------------------------------------------------------------------
    def _faq_match(self, ctx: _Context, question: str) -> FaqMatch | None:
        started = time.perf_counter()
        matches = self.index.faq.match(
            question,
            language=ctx.request.language,
            tags=ctx.request.tags,
            query_vector=ctx.vector,
        )
        ctx.trace.retrievals.append(
            Retrieval(
                query=ctx.trace.question,
                purpose="faq",
                latency_ms=round(1000 * (time.perf_counter() - started), 2),
                hits=[RetrievedHit.of(m.hit) for m in matches[:3]],
            )
        )
        return matches[0] if matches else None

    def _parts(self, question: str, analysis: QueryAnalysis) -> list[str]:
        parts = [p.strip() for p in analysis.sub_queries if p.strip()]
        return parts if len(parts) >= 2 else [question]

    def _retrieve(self, ctx: _Context) -> list[Hit]:
        """Each part retrieved concurrently; hits de-duplicated, best score kept, best first."""
        filters = SearchFilters(
            kind=ctx.request.kind, language=ctx.request.language, tags=ctx.request.tags
        )
        vectors = (
            [ctx.vector]
            if ctx.parts == [ctx.trace.question] or len(ctx.parts) == 1
            else list(self.index.embedder.embed_queries(ctx.parts))
        )
        top_k = self.routing.passages

        def one(part: str, vector: Vectors) -> tuple[list[Hit], float]:
            started = time.perf_counter()
            hits = self.index.retriever.search(part, filters, top_k=top_k, query_vector=vector)
            return hits, 1000 * (time.perf_counter() - started)

        merged: dict[str, Hit] = {}
        results = self._pool.map(one, ctx.parts, vectors)
        for part, (hits, latency) in zip(ctx.parts, results, strict=True):
            ctx.trace.retrievals.append(
                Retrieval(
                    query=part if not ctx.trace.question_redacted else "[redacted]",
                    purpose="passages",
                    latency_ms=round(latency, 2),
                    hits=[RetrievedHit.of(h) for h in hits],
                )
            )
            for hit in hits:
                if hit.id not in merged or merged[hit.id].score < hit.score:
                    merged[hit.id] = hit
        limit = top_k * max(1, min(len(ctx.parts), 3))
        return sorted(merged.values(), key=lambda h: h.score, reverse=True)[:limit]

    def _budget_low(self, trace: Trace) -> bool:
        share = self.ledger.remaining_share()
        low = share < self.settings.cost.low_budget_share
        trace.check(
            "budget_remaining", round(share, 4), self.settings.cost.low_budget_share, not low
        )
        return low

    def _estimate_llm_cost(self, ctx: _Context, question: str) -> None:
        model = self.llm.model if self.llm else self.settings.llm.model
        prompt = prompts.llm_messages(question, ctx.parts, ctx.hits, ctx.language)
        tokens = sum(estimate_tokens(m["content"]) for m in prompt)
        ctx.trace.all_llm_cost_usd = self.ledger.cost(model, tokens, ESTIMATED_ANSWER_TOKENS)

    # -- answers --------------------------------------------------------------------------------
    def _finish(
        self, ctx: _Context, route: str, answer: str, hits: Sequence[Hit], confidence: float
    ) -> None:
        trace = ctx.trace
        trace.route = route  # type: ignore[assignment]
        trace.answer = answer
        trace.sources = [Source.of(n, hit) for n, hit in enumerate(hits, start=1)]
        trace.confidence = round(max(0.0, min(1.0, confidence)), 4)

    def _faq_direct(self, ctx: _Context, faq: FaqMatch) -> None:
        ctx.sink("route", {"route": "faq_direct", "trace_id": ctx.trace.trace_id})
        self._finish(ctx, "faq_direct", faq.answer, [faq.hit], faq.confidence)
        ctx.trace.all_llm_cost_usd = self.ledger.cost(
            self.llm.model if self.llm else self.settings.llm.model,
            estimate_tokens(faq.hit.text) + 200,
            ESTIMATED_ANSWER_TOKENS,
        )
        ctx.sink("delta", {"text": faq.answer})

    def _retrieval_direct(self, ctx: _Context) -> None:
        ctx.sink("route", {"route": "retrieval_direct", "trace_id": ctx.trace.trace_id})
        best = ctx.hits[0]
        with _timed(ctx.trace, "extract"):
            answer = extract_answer(
                ctx.request.question, best.answer_text, ctx.vector, self.index.embedder
            )
        self._finish(ctx, "retrieval_direct", f"{answer} [1]", [best], best.dense_score)
        ctx.sink("delta", {"text": ctx.trace.answer})

    def _no_answer(self, ctx: _Context, reason: str) -> None:
        ctx.sink("route", {"route": "no_answer", "trace_id": ctx.trace.trace_id})
        self._finish(ctx, "no_answer", self.routing.handoff_for(ctx.language), [], 0.0)
        ctx.trace.route_reason = ctx.trace.route_reason or reason
        ctx.sink("delta", {"text": ctx.trace.answer})

    def _slm_then_escalate(self, ctx: _Context, question: str) -> None:
        trace = ctx.trace
        hits = ctx.hits[: self.routing.passages]
        answer = self._slm_answer(ctx, question, hits)
        if answer is not None:
            passed, grounding = self._check_slm_answer(ctx, question, answer, hits)
            if passed:
                ctx.sink("route", {"route": "slm_answer", "trace_id": trace.trace_id})
                self._finish_generated(ctx, "slm_answer", answer, hits, grounding)
                return
            if self.llm is None or self._budget_exhausted_for_escalation(trace):
                ctx.sink("route", {"route": "slm_answer", "trace_id": trace.trace_id})
                self._finish_generated(ctx, "slm_answer", answer, hits, grounding * 0.5)
                return
            trace.event("escalation", "the SLM answer failed the quality check: asking the LLM")
        self._llm_or_degrade(ctx, question, slm_tried=True)

    def _slm_only(self, ctx: _Context, question: str) -> None:
        hits = ctx.hits[: self.routing.passages]
        answer = self._slm_answer(ctx, question, hits)
        if answer is None:
            self._retrieval_direct(ctx)
            return
        passed, grounding = self._check_slm_answer(ctx, question, answer, hits)
        ctx.sink("route", {"route": "slm_answer", "trace_id": ctx.trace.trace_id})
        self._finish_generated(
            ctx, "slm_answer", answer, hits, grounding if passed else grounding / 2
        )
        ctx.sink("delta", {"text": ctx.trace.answer})

    def _check_slm_answer(
        self, ctx: _Context, question: str, answer: str, hits: Sequence[Hit]
    ) -> tuple[bool, float]:
        """The articles' escalation rule (grounding and completeness thresholds), traced."""
        quality = assess(question, answer, [h.text for h in hits])
        confident = not quality.declined and quality.grounding >= self.routing.escalate_confidence
        ctx.trace.check(
            "slm_grounding",
            round(quality.grounding, 4),
            self.routing.escalate_confidence,
            confident,
            "declined" if quality.declined else "",
        )
        complete = ctx.trace.check(
            "slm_completeness",
            round(quality.completeness, 4),
            self.routing.escalate_completeness,
            quality.completeness >= self.routing.escalate_completeness,
        )
        return confident and complete, quality.grounding

    def _budget_exhausted_for_escalation(self, trace: Trace) -> bool:
        low = any(c.name == "budget_remaining" and not c.passed for c in trace.checks)
        if low:
            trace.event("budget", "escalation skipped: the monthly budget is nearly spent")
        return low

    def _slm_answer(self, ctx: _Context, question: str, hits: Sequence[Hit]) -> str | None:
        if self.slm is None:
            return None
        messages = prompts.slm_messages(question, hits, ctx.language)
        started = time.perf_counter()
        try:
            result = self.slm.chat(messages, max_tokens=self.settings.slm.max_answer_tokens)
        except Exception as exc:  # llama.cpp errors have no common base class
            self._record_call(ctx.trace, "slm_answer", self.settings.slm.name, started, error=exc)
            ctx.trace.event("fallback", f"the SLM failed: {exc}")
            ctx.trace.degraded = True
            return None
        self._record_call(
            ctx.trace,
            "slm_answer",
            self.settings.slm.name,
            started,
            result.prompt_tokens,
            result.completion_tokens,
        )
        return result.text.strip()

    def _llm_or_degrade(self, ctx: _Context, question: str, slm_tried: bool = False) -> None:
        trace = ctx.trace
        hits = ctx.hits
        if self.llm is not None:
            ctx.sink("route", {"route": "llm_synthesis", "trace_id": trace.trace_id})
            messages = prompts.llm_messages(question, ctx.parts, hits, ctx.language)
            started = time.perf_counter()
            try:
                result = self.llm.complete(
                    messages, on_delta=lambda text: ctx.sink("delta", {"text": text})
                )
            except LlmError as exc:
                self._record_call(trace, "llm_synthesis", self.llm.model, started, error=exc)
                trace.event("fallback", f"the LLM failed ({exc}); answering from cheaper routes")
            else:
                call = self._record_call(
                    trace,
                    "llm_synthesis",
                    self.llm.model,
                    started,
                    result.prompt_tokens,
                    result.completion_tokens,
                )
                trace.all_llm_cost_usd = call.cost_usd
                used = prompts.cited(result.text, len(hits))
                cited_hits = [hits[n - 1] for n in used] or list(hits)
                answer = _renumber(result.text, used) if used else result.text
                best = max((h.dense_score for h in hits), default=0.0)
                self._finish(ctx, "llm_synthesis", answer, cited_hits, best)
                return
        else:
            trace.event("fallback", "no LLM is configured; answering from cheaper routes")
        trace.degraded = True
        passages = hits[: self.routing.passages]
        fallback = None if slm_tried else self._slm_answer(ctx, question, passages)
        if fallback and not assess(question, fallback, [h.text for h in passages]).declined:
            ctx.sink("route", {"route": "slm_answer", "trace_id": trace.trace_id})
            self._finish_generated(ctx, "slm_answer", fallback, passages, 0.5)
            return
        self._retrieval_direct(ctx)

    def _finish_generated(
        self, ctx: _Context, route: str, answer: str, hits: Sequence[Hit], confidence: float
    ) -> None:
        used = prompts.cited(answer, len(hits))
        cited_hits = [hits[n - 1] for n in used] or list(hits[:1])
        text = _renumber(answer, used) if used else f"{answer} [1]"
        self._finish(ctx, route, text, cited_hits, confidence)
        ctx.sink("delta", {"text": text})

    # -- trace helpers --------------------------------------------------------------------------
    def _record_analysis(self, trace: Trace, analysis: QueryAnalysis) -> None:
        trace.analysis = analysis
        for stage in analysis.stages:
            if stage.stage == "slm":
                failed = stage.confidence is None  # ran and answered, settled or not, else failed
                trace.model_calls.append(
                    ModelCall(
                        role="slm_analysis",
                        model=self.settings.slm.name,
                        prompt_tokens=stage.prompt_tokens,
                        completion_tokens=stage.completion_tokens,
                        latency_ms=round(stage.latency_ms, 2),
                        error=(stage.detail or "failed") if failed else None,
                    )
                )
        if analysis.fallback_reason:
            trace.event("fallback", f"analysis: {analysis.fallback_reason}")

    def _record_call(
        self,
        trace: Trace,
        role: str,
        model: str,
        started: float,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        error: Exception | None = None,
    ) -> ModelCall:
        call = ModelCall(
            role=role,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=round(1000 * (time.perf_counter() - started), 2),
            cost_usd=self.ledger.cost(model, prompt_tokens, completion_tokens),
            error=f"{type(error).__name__}: {error}" if error else None,
        )
        trace.model_calls.append(call)
        return call


@contextmanager
def _timed(trace: Trace, step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        trace.timings_ms[step] = round(1000 * (time.perf_counter() - started), 2)


def _renumber(answer: str, used: list[int]) -> str:
    """Citation numbers follow the order of ``sources``: the first passage cited becomes [1]."""
    mapping = {old: new for new, old in enumerate(used, start=1)}
    return prompts.renumber_citations(answer, mapping)
