"""The answer pipeline: one question in, one answer and its trace out. Never raises for a model
or endpoint failure: the answer degrades (``degraded=True``) and the trace says why.

Steps: embed the question once -> FAQ match (a confident match answers at once, no analysis) ->
analysis cascade -> retrieval of the question or of each sub-query (concurrently) -> route ->
answer (FAQ text, extracted passage, SLM, LLM or hand-off) -> trace queued off the critical path.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from ragsvc.analysis.schema import QueryAnalysis
from ragsvc.analysis.split import QuestionSplitter, Split
from ragsvc.cost.ledger import CostLedger, estimate_tokens
from ragsvc.embedding.spaces import PRIMARY, QueryVector
from ragsvc.errors import InvalidRequestError, RagsvcError, ServiceUnavailableError
from ragsvc.index import Index
from ragsvc.llm.client import ChatModel, LlmError
from ragsvc.pipeline import prompts
from ragsvc.pipeline.admission import AdmittedSlm, ModelSlots, OverloadedError, SlotLoad
from ragsvc.pipeline.extract import extract_answer
from ragsvc.pipeline.ports import LocalChat, QuestionAnalyzer
from ragsvc.pipeline.quality import assess
from ragsvc.pipeline.router import (
    choose_passages,
    choose_route,
    faq_is_confident,
    is_in_question_language,
    is_one_question,
)
from ragsvc.privacy.pii import is_local_endpoint, redact, redact_all
from ragsvc.privacy.traces import redact_trace
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

CPU_WAIT_S = 10.0
"""Longest wait for a CPU slot before a step runs regardless."""

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
    vector: QueryVector
    """The question in the dense space of its language."""
    language: str
    sink: EventSink
    parts: list[str] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)


class ClientGoneError(RagsvcError):
    """Raised by a stream's event sink once its client has disconnected: the work stops."""


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
        splitter: QuestionSplitter | None = None,
    ) -> None:
        self.settings = settings
        self.splitter = splitter or QuestionSplitter()
        self.routing = settings.routing
        self.index = index
        self.analyzer = analyzer
        self.traces = traces
        self.ledger = ledger
        self.slm = slm
        self.llm = llm
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="retrieve")
        self._cpu = threading.BoundedSemaphore(settings.server.cpu_slots or os.cpu_count() or 1)
        llm_settings = settings.llm
        self.llm_slots = ModelSlots(
            "llm", llm_settings.concurrency, llm_settings.queue, llm_settings.queue_wait_s
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def load(self) -> list[SlotLoad]:
        """The model slots' load: the LLM's, and the SLM's when it runs behind slots."""
        loads = [self.llm_slots.load()]
        if isinstance(self.slm, AdmittedSlm):
            loads.append(self.slm.slots.load())
        return loads

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
        api = self.settings.api
        if len(request.tags) > api.max_tags:
            raise InvalidRequestError(
                f"{len(request.tags)} tags given, the limit is {api.max_tags} (api.max_tags)"
            )
        if too_long := [t for t in request.tags if len(t) > api.max_tag_chars]:
            raise InvalidRequestError(
                f"tag {too_long[0][:40]!r}... is {len(too_long[0])} characters long, the limit is "
                f"{api.max_tag_chars} (api.max_tag_chars)"
            )
        return question

    def ask(self, request: AskInput, sink: EventSink | None = None) -> Trace:
        question = self.validate(request)
        started = time.perf_counter()
        language = request.language or detect_language(question)
        trace = Trace(
            trace_id=uuid.uuid4().hex,
            question=question,
            language=language,
            conversation_id=request.conversation_id,
            filters={"kind": request.kind, "language": request.language, "tags": request.tags},
        )
        log.debug("question %s: %s", trace.trace_id, self._loggable(question))
        unavailable: ServiceUnavailableError | None = None
        ctx: _Context | None = None
        try:
            with _timed(trace, "embed"), _needed("the embedder"):
                vector = self.index.retriever.embed(question)
            ctx = _Context(request, trace, vector, language, sink or _ignore)
            self._answer(ctx, question)
        except ServiceUnavailableError as exc:  # no answer is possible without it: 503
            log.error("question %s: %s", trace.trace_id, exc)
            trace.event("error", str(exc))
            trace.degraded, trace.route_reason = True, str(exc)
            unavailable = exc
        except ClientGoneError:
            trace.event("cancelled", "the client disconnected; the work stopped")
        except Exception as exc:  # a bug: answer honestly, keep the trace
            log.exception("question %s failed", trace.trace_id)
            trace.event("error", f"{type(exc).__name__}: {exc}")
            trace.degraded = True
            if ctx is not None:
                self._no_answer(ctx, "internal error while answering")
        trace.latency_ms = round(1000 * (time.perf_counter() - started), 2)
        trace.cost_usd = sum(call.cost_usd for call in trace.model_calls)
        self.traces.submit(self._stored(trace))
        if unavailable is not None:
            raise ServiceUnavailableError(str(unavailable), trace.trace_id)
        return trace

    def _answer(self, ctx: _Context, question: str) -> None:
        if ctx.request.policy != "routed":
            self._answer_by_policy(ctx, question, ctx.request.policy)
            return
        trace = ctx.trace
        with _timed(trace, "faq"):
            faq = self._faq_match(ctx, question)
        confident = faq_is_confident(trace, faq, self.index.faq.threshold_for(faq))
        if (
            confident
            and faq is not None
            and is_in_question_language(trace, faq, ctx.language)
            and is_one_question(trace, self._split(ctx, question))
        ):
            assert faq is not None
            trace.route_reason = "confident FAQ match; analysis skipped"
            self._faq_direct(ctx, faq)
            return
        with self._cpu_slot(trace):
            with _timed(trace, "analysis"):
                analysis = self.analyzer.analyze(
                    question,
                    query_vector=ctx.vector.vector if ctx.vector.space == PRIMARY else None,
                    language=ctx.request.language,
                )
            self._record_analysis(trace, analysis)
            if analysis.kind in ("out_of_scope", "chitchat"):
                ctx.parts = [question]
            else:
                ctx.parts = self._parts(trace, question, analysis)
                with _timed(trace, "retrieval"):
                    ctx.hits = self._retrieve(ctx)
        passages = choose_passages(ctx.hits, ctx.language, self.settings)
        choice = choose_route(
            trace,
            analysis,
            passages,
            budget_low=self._budget_low(trace),
            slm_available=self.slm is not None,
        )
        trace.route_reason = choice.reason
        self._estimate_llm_cost(ctx, question)
        if choice.route == "no_answer":
            self._no_answer(ctx, choice.reason)
        elif choice.route == "retrieval_direct":
            quoted = passages.quotable
            self._retrieval_direct(ctx, quoted[0] if quoted else ctx.hits[0])
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
            self._retrieval_direct(ctx, ctx.hits[0])
        elif policy == "all_slm":
            self._slm_only(ctx, question)
        else:
            self._llm_or_degrade(ctx, question)

    # -- steps ----------------------------------------------------------------------------------
    def _faq_match(self, ctx: _Context, question: str) -> FaqMatch | None:
        started = time.perf_counter()
        with _needed("the store"):
            matches = self.index.faq.match(
                question,
                language=ctx.request.language,
                tags=ctx.request.tags,
                query_vector=ctx.vector,
            )
        ctx.trace.retrievals.append(
            Retrieval(
                query=question,
                purpose="faq",
                latency_ms=round(1000 * (time.perf_counter() - started), 2),
                hits=[RetrievedHit.of(m.hit) for m in matches[:3]],
            )
        )
        return matches[0] if matches else None

    def _split(self, ctx: _Context, question: str) -> Split:
        with _timed(ctx.trace, "split"):
            split = self.splitter.split(question, ctx.language)
        if split.merged:
            ctx.trace.event("split", "kept together: " + "; ".join(split.merged))
        return split

    def _parts(self, trace: Trace, question: str, analysis: QueryAnalysis) -> list[str]:
        parts = [p.strip() for p in analysis.sub_queries if p.strip()]
        cap = self.routing.max_sub_queries
        if len(parts) > cap:
            trace.event(
                "limit", f"{len(parts)} sub-queries, the first {cap} kept (routing.max_sub_queries)"
            )
            parts = parts[:cap]
            analysis.sub_queries = analysis.sub_queries[:cap]
        return parts if len(parts) >= 2 else [question]

    def _retrieve(self, ctx: _Context) -> list[Hit]:
        """Each part retrieved concurrently; hits de-duplicated, best score kept, best first."""
        filters = SearchFilters(
            kind=ctx.request.kind, language=ctx.request.language, tags=ctx.request.tags
        )
        vectors = (
            [ctx.vector]
            if ctx.parts == [ctx.trace.question] or len(ctx.parts) == 1
            else self.index.retriever.spaces.embed_queries(
                ctx.parts, [detect_language(p) for p in ctx.parts]
            )
        )
        top_k = self.routing.passages

        def one(part: str, vector: QueryVector) -> tuple[list[Hit], float]:
            started = time.perf_counter()
            hits = self.index.retriever.search(part, filters, top_k=top_k, query_vector=vector)
            return hits, 1000 * (time.perf_counter() - started)

        merged: dict[str, Hit] = {}
        with _needed("the store"):
            results = list(self._pool.map(one, ctx.parts, vectors))
        for part, (hits, latency) in zip(ctx.parts, results, strict=True):
            ctx.trace.retrievals.append(
                Retrieval(
                    query=part,
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

    def _retrieval_direct(self, ctx: _Context, best: Hit) -> None:
        """``best``: the passage quoted (by the router's rule, the one that cleared the direct
        threshold; the top hit for the retrieval-only baseline)."""
        ctx.sink("route", {"route": "retrieval_direct", "trace_id": ctx.trace.trace_id})
        with self._cpu_slot(ctx.trace), _timed(ctx.trace, "extract"):
            answer = extract_answer(
                ctx.request.question,
                best.answer_text,
                ctx.vector.vector,
                self.index.retriever.spaces.embedder(ctx.vector.space),
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
            self._retrieval_direct(ctx, ctx.hits[0])
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
        except OverloadedError as exc:
            ctx.trace.event("admission", f"{exc}; answering without the SLM")
            ctx.trace.degraded = True
            return None
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
        return self._guarded(ctx.trace, result.text.strip(), hits)

    def _llm_or_degrade(self, ctx: _Context, question: str, slm_tried: bool = False) -> None:
        trace = ctx.trace
        if self.llm is None:
            trace.event("fallback", "no LLM is configured; answering from cheaper routes")
        elif self._llm_answer(ctx, self.llm, question):
            return
        trace.degraded = True
        passages = ctx.hits[: self.routing.passages]
        fallback = None if slm_tried else self._slm_answer(ctx, question, passages)
        if fallback and not assess(question, fallback, [h.text for h in passages]).declined:
            ctx.sink("route", {"route": "slm_answer", "trace_id": trace.trace_id})
            self._finish_generated(ctx, "slm_answer", fallback, passages, 0.5)
            return
        self._retrieval_direct(ctx, ctx.hits[0])

    def _llm_answer(self, ctx: _Context, llm: ChatModel, question: str) -> bool:
        """LLM synthesis within a model slot and a budget reservation; False when the answer
        must come from a cheaper route (overloaded, over budget, failed, or refused)."""
        trace, hits = ctx.trace, ctx.hits
        sent_question, sent_parts = self._outbound(trace, question, ctx.parts)
        messages = prompts.llm_messages(sent_question, sent_parts, hits, ctx.language)
        prompt_tokens = sum(estimate_tokens(m["content"]) for m in messages)
        estimate = self.ledger.cost(llm.model, prompt_tokens, self.settings.llm.max_tokens)
        reservation = self.ledger.reserve(estimate)
        if reservation is None:
            trace.event("budget", f"no budget left for the LLM call (estimated ${estimate:.4f})")
            return False
        started = time.perf_counter()
        streamed: list[str] = []

        def on_delta(text: str) -> None:
            streamed.append(text)
            ctx.sink("delta", {"text": text})

        try:
            with self.llm_slots.slot() as waited_ms:
                if waited_ms >= 1:
                    trace.timings_ms["llm_queue"] = round(waited_ms, 2)
                ctx.sink("route", {"route": "llm_synthesis", "trace_id": trace.trace_id})
                started = time.perf_counter()
                result = llm.complete(messages, on_delta=on_delta)
        except OverloadedError as exc:
            self.ledger.release(reservation)
            trace.event("admission", f"{exc}; answering from cheaper routes")
            return False
        except ClientGoneError:
            used = estimate_tokens("".join(streamed))
            call = self._record_call(
                trace, "llm_synthesis", llm.model, started, prompt_tokens, used
            )
            call.error = "cancelled: the client disconnected"
            self.ledger.settle(reservation, call.cost_usd)
            raise
        except LlmError as exc:
            self.ledger.release(reservation)
            self._record_call(trace, "llm_synthesis", llm.model, started, error=exc)
            trace.event("fallback", f"the LLM failed ({exc}); answering from cheaper routes")
            return False
        call = self._record_call(
            trace,
            "llm_synthesis",
            llm.model,
            started,
            result.prompt_tokens,
            result.completion_tokens,
        )
        self.ledger.settle(reservation, call.cost_usd)
        trace.all_llm_cost_usd = call.cost_usd
        answer = self._guarded(trace, result.text, hits)
        if answer is None:
            return False
        numbers = prompts.cited(answer, len(hits))
        cited_hits = [hits[n - 1] for n in numbers] or list(hits)
        text = _renumber(answer, numbers) if numbers else answer
        best = max((h.dense_score for h in hits), default=0.0)
        self._finish(ctx, "llm_synthesis", text, cited_hits, best)
        return True

    def _guarded(self, trace: Trace, answer: str, hits: Sequence[Hit]) -> str | None:
        """The model's answer with links no passage contains removed; None (refused) when it
        repeats our instructions."""
        if prompts.repeats_instructions(answer):
            trace.event("guard", "the answer repeated the instructions; refused")
            return None
        answer, removed = prompts.strip_foreign_links(answer, hits)
        if removed:
            trace.event("guard", f"removed {len(removed)} link(s) no passage contains")
        return answer

    def _finish_generated(
        self, ctx: _Context, route: str, answer: str, hits: Sequence[Hit], confidence: float
    ) -> None:
        used = prompts.cited(answer, len(hits))
        cited_hits = [hits[n - 1] for n in used] or list(hits[:1])
        text = _renumber(answer, used) if used else f"{answer} [1]"
        self._finish(ctx, route, text, cited_hits, confidence)
        ctx.sink("delta", {"text": text})

    @contextmanager
    def _cpu_slot(self, trace: Trace) -> Iterator[None]:
        """The CPU-heavy steps of a question that missed the FAQ (analysis, retrieval,
        extraction) run at most ``server.cpu_slots`` at once, so under a burst the FAQ path and
        the probes share the cores with a few busy threads instead of every waiting one. A step
        that waited ``CPU_WAIT_S`` goes ahead anyway: this orders work, it never refuses it."""
        started = time.perf_counter()
        acquired = self._cpu.acquire(timeout=CPU_WAIT_S)
        waited_ms = 1000 * (time.perf_counter() - started)
        if waited_ms >= 1:
            trace.timings_ms["cpu_queue"] = round(
                trace.timings_ms.get("cpu_queue", 0) + waited_ms, 2
            )
        try:
            yield
        finally:
            if acquired:
                self._cpu.release()

    # -- privacy --------------------------------------------------------------------------------
    def _outbound(self, trace: Trace, question: str, parts: list[str]) -> tuple[str, list[str]]:
        """The user's text as sent to the LLM: PII redacted first unless the endpoint is local
        (``llm.redact_pii``). Passages are the organisation's documents and go as they are."""
        mode = self.settings.llm.redact_pii
        if mode == "never" or (mode == "auto" and is_local_endpoint(self.settings.llm.base_url)):
            return question, parts
        (question, *parts), counts = redact_all([question, *parts])
        if counts:
            found = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
            trace.event("privacy", f"redacted before the LLM call: {found}")
        return question, parts

    def _stored(self, trace: Trace) -> Trace:
        settings = self.settings.traces
        if not (settings.redact_questions or settings.redact_pii):
            return trace
        return redact_trace(trace, questions=settings.redact_questions, pii=settings.redact_pii)

    def _loggable(self, text: str) -> str:
        settings = self.settings.traces
        if settings.redact_questions:
            return "[redacted]"
        return redact(text).text if settings.redact_pii else text

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
def _needed(part: str) -> Iterator[None]:
    """A failure of ``part`` (the embedder, the store) leaves nothing to answer from: 503."""
    try:
        yield
    except (ServiceUnavailableError, ClientGoneError):
        raise
    except Exception as exc:
        raise ServiceUnavailableError(f"{part} failed: {type(exc).__name__}: {exc}") from exc


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
