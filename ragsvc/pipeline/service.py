"""The answer pipeline: one message in, one answer and its trace out. Never raises for a model or
endpoint failure: the answer degrades (``degraded=True``) and the trace says why.

Steps: embed the message once -> FAQ match (a confident match of a one-question message answers
at once, no analysis) -> analysis -> a joined message: each part decided on its own (FAQ match,
analysis, retrieval, route) and the answers composed, cheap parts first -> else retrieval and the
route -> the route's executor answers (FAQ text, extracted passage, SLM, LLM or hand-off) -> the
trace is queued off the critical path.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from datetime import datetime

from ragsvc.analysis.schema import QueryAnalysis
from ragsvc.analysis.split import QuestionSplitter, Split
from ragsvc.control.compare import VariantComparison, compare_live
from ragsvc.control.control import RoutingControl
from ragsvc.control.failsafe import Failsafe
from ragsvc.control.judge_check import corrected, distrust
from ragsvc.control.shadow import ShadowSampler
from ragsvc.control.store import ControlStore, ShadowVerdict
from ragsvc.cost.ledger import CostLedger
from ragsvc.embedding.spaces import PRIMARY
from ragsvc.errors import InvalidRequestError, ServiceUnavailableError
from ragsvc.index import Index
from ragsvc.llm.client import ChatModel
from ragsvc.observe.logs import note_trace
from ragsvc.pipeline.admission import AdmittedSlm, CpuSlots, ModelSlots, SlotLoad
from ragsvc.pipeline.answering import (
    Answering,
    AskInput,
    ClientGoneError,
    Decision,
    EventSink,
    ignore_events,
    needed,
    timed,
)
from ragsvc.pipeline.compose import Composition, PartStream, answer_order
from ragsvc.pipeline.context import context_tags
from ragsvc.pipeline.executors import Executors
from ragsvc.pipeline.followup import standalone
from ragsvc.pipeline.latency import Deadline, RouteLatencies, within_budget
from ragsvc.pipeline.ports import LocalChat, QuestionAnalyzer
from ragsvc.pipeline.router import (
    choose_passages,
    choose_route,
    faq_is_confident,
    is_exact_phrasing,
    is_in_question_language,
    is_one_question,
)
from ragsvc.privacy.pii import redact
from ragsvc.privacy.traces import redact_trace
from ragsvc.retrieval.faq import FaqMatch
from ragsvc.retrieval.fusion import Hit
from ragsvc.settings import Settings
from ragsvc.store.schema import SearchFilters
from ragsvc.text.language import detect_language
from ragsvc.traces.schema import FollowUp, ModelCall, PartTrace, Retrieval, RetrievedHit, Trace
from ragsvc.traces.store import TraceStore

log = logging.getLogger(__name__)

Answerer = Callable[[Answering], None]
"""Answers a question into its record: the router (the product), or an evaluation baseline."""


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
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="part")
        self.observers: list[Callable[[Trace], None]] = []
        """Called with each finished trace as it is stored (the metrics, the OTLP export); a
        failing one is logged."""
        cpu = CpuSlots(settings.server.cpu_slots or os.cpu_count() or 1)
        self.cpu = cpu
        llm_settings = settings.llm
        self.llm_slots = ModelSlots(
            "llm", llm_settings.concurrency, llm_settings.queue, llm_settings.queue_wait_s
        )
        self.latencies = RouteLatencies(settings.routing)
        """What each route is expected to take, learned from this process's answers."""
        self.executors = Executors(
            settings, index, ledger, slm, llm, self.llm_slots, cpu, self.latencies
        )
        store = ControlStore(traces.database, settings.traces.retention_days)
        self.control_store = store
        """The routing state and the shadow verdicts, beside the traces."""
        self.control = RoutingControl(settings, store)
        """The routing variants, promotions and fail-safe raises (``ragsvc/control/``)."""
        self.shadow = ShadowSampler(settings, llm, self.llm_slots, ledger, store, self.retrieve)
        self.failsafe = Failsafe(
            settings.failsafe, self.control, store, traces, settings.shadow, settings.llm.model
        )
        self.shadow.on_verdict.append(self._check_failsafe)

    def compare_variants(self, since: datetime | None = None) -> list[VariantComparison]:
        """Each routing variant's figures since ``since``, with their intervals; the shadow
        misrouting also corrected for the judge's errors while the judge is trusted."""
        state = self.control.state()
        found = compare_live(state.names(), self.traces, self.control_store, since)
        check = state.judge
        if check is None or distrust(check, self.settings.llm.model, self.settings.shadow):
            return found
        return [
            dataclasses.replace(
                c,
                misrouting_corrected=corrected(c.misrouting, check),
                misrouting_corrected_by_route={
                    route: corrected(e, check) for route, e in c.misrouting_by_route.items()
                },
            )
            for c in found
        ]

    def _check_failsafe(self, _verdict: ShadowVerdict) -> None:
        self.failsafe.maybe_check()

    def close(self) -> None:
        self.shadow.close()
        self.failsafe.close()
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
        self.latency_budget_ms(request)
        self.context_tags(request)
        return question

    def context_tags(self, request: AskInput) -> tuple[tuple[str, ...], ...]:
        """The tag groups the ask's caller context narrows retrieval to."""
        return context_tags(request.context, self.routing.context_filters)

    def latency_budget_ms(self, request: AskInput) -> float | None:
        """The ask's latency budget: ``max_latency_ms``, its tier's, the smaller of both."""
        budgets = [request.max_latency_ms]
        if request.tier is not None:
            tiers = self.routing.tiers
            if request.tier not in tiers:
                raise InvalidRequestError(
                    f"unknown tier {request.tier[:64]!r}; the tiers are {', '.join(sorted(tiers))} "
                    "(routing.tiers)"
                )
            budgets.append(tiers[request.tier])
        return min((b for b in budgets if b is not None), default=None)

    def ask(
        self, request: AskInput, sink: EventSink | None = None, answer: Answerer | None = None
    ) -> Trace:
        """``answer``: the router unless an evaluation baseline is given."""
        asked = self.validate(request)
        started = time.perf_counter()
        rewrite = standalone(asked, request.history)
        question = rewrite.question if rewrite else asked
        language = request.language or detect_language(question)
        trace = Trace(
            trace_id=uuid.uuid4().hex,
            question=question,
            language=language,
            conversation_id=request.conversation_id,
            follow_up=FollowUp(asked=asked, previous=request.history[-1], rule=rewrite.rule)
            if rewrite
            else None,
            filters={
                "kind": request.kind,
                "language": request.language,
                "tags": request.tags,
                **(
                    {
                        "context": dict(request.context),
                        "context_tags": [list(g) for g in self.context_tags(request)],
                    }
                    if request.context
                    else {}
                ),
            },
        )
        trace.latency_budget_ms = self.latency_budget_ms(request)
        plan = self.control.plan_for(request.conversation_id or trace.trace_id)
        trace.variant = plan.variant
        for kind, note in plan.notes:
            trace.event(kind, note)
        trace.start_clock(started)
        deadline = (
            Deadline.after(trace.latency_budget_ms, started) if trace.latency_budget_ms else None
        )
        note_trace(trace.trace_id)
        log.debug("question %s: %s", trace.trace_id, self._loggable(question))
        unavailable: ServiceUnavailableError | None = None
        ctx: Answering | None = None
        try:
            with timed(trace, "embed"), needed("the embedder"):
                vector = self.index.retriever.embed(question)
            ctx = Answering(
                request,
                trace,
                trace.trace_id,
                vector,
                language,
                sink or ignore_events,
                plan,
                deadline=deadline,
            )
            (answer or self.answer_routed)(ctx)
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
                ctx.sink = ignore_events
                self.executors.run(ctx, Decision("no_answer", "internal error while answering"))
        trace.latency_ms = round(1000 * (time.perf_counter() - started), 2)
        for record in (*trace.parts, trace):
            record.cost_usd = sum(call.cost_usd for call in record.model_calls)
        trace.cost_usd = sum(call.cost_usd for call in trace.all_model_calls())
        self.latencies.observe(trace)
        stored = self._stored(trace)
        self.traces.submit(stored)
        for observer in self.observers:  # they see what is stored: redacted as configured
            try:
                observer(stored)
            except Exception:  # an observer never costs the user the answer
                log.exception("an observer of question %s failed", trace.trace_id)
        if unavailable is not None:
            raise ServiceUnavailableError(str(unavailable), trace.trace_id)
        if ctx is not None and answer is None:  # the router's answers only
            self.shadow.offer(trace, stored, ctx)
        return trace

    def answer_routed(self, ctx: Answering) -> None:
        """The product: a confident FAQ match of a one-question message, else analysis; a joined
        message's parts each routed on their own, else the question's route."""
        decision = self._faq_decision(ctx, whole_message=True)
        if decision is None:
            analysis = self._analyse(ctx)
            parts = self._parts(ctx.record, analysis)
            if len(parts) >= 2:
                self._answer_parts(ctx, parts)
                return
            decision = self._route(ctx, analysis)
        self.executors.run(ctx, decision)

    def _decide_part(self, ctx: Answering) -> Decision:
        """A part's route, by the same rules as a question's (it is not split again)."""
        return self._faq_decision(ctx, whole_message=False) or self._route(ctx, self._analyse(ctx))

    def _faq_decision(self, ctx: Answering, *, whole_message: bool) -> Decision | None:
        record = ctx.record
        with timed(record, "faq"):
            faq = self._faq_match(ctx)
        exact = faq is not None and is_exact_phrasing(faq, ctx.question)
        if not (
            faq_is_confident(
                record,
                faq,
                self._faq_threshold(ctx, faq),
                ctx.question,
                ctx.plan.settings.routing.faq_min_similarity,
            )
            and faq is not None
            and is_in_question_language(record, faq, ctx.language)
            and (not whole_message or exact or is_one_question(record, self._split(ctx)))
        ):
            return None
        written = " (the entry's phrasing as written: not split)" if exact else ""
        record.route_reason = f"confident FAQ match{written}; analysis skipped"
        return Decision("faq_direct", record.route_reason, faq=faq)

    def _faq_threshold(self, ctx: Answering, faq: FaqMatch | None) -> float:
        """The matcher's threshold for ``faq``, or the variant's, raised by the fail-safe."""
        return ctx.plan.faq_threshold_for(self.index.faq.threshold_for(faq))

    def _analyse(self, ctx: Answering) -> QueryAnalysis:
        with self.cpu.held(ctx.record), timed(ctx.record, "analysis"):
            analysis = self.analyzer.analyze(
                ctx.question,
                query_vector=ctx.vector.vector if ctx.vector.space == PRIMARY else None,
                language=ctx.request.language,
            )
        self._record_analysis(ctx.record, analysis)
        return analysis

    def _route(self, ctx: Answering, analysis: QueryAnalysis) -> Decision:
        record = ctx.record
        if analysis.kind not in ("out_of_scope", "chitchat"):
            with self.cpu.held(record), timed(record, "retrieval"):
                ctx.hits = self.retrieve(ctx)
        passages = choose_passages(ctx.hits, ctx.language, ctx.plan.settings)
        choice = choose_route(
            record,
            analysis,
            passages,
            budget_low=self._budget_low(record),
            slm_available=self.slm is not None,
        )
        quotable = passages.quotable is not None
        route = within_budget(
            record,
            choice.route,
            ctx.deadline,
            self.latencies,
            quotable=quotable,
            streamed=ctx.streams,
        )
        reason = choice.reason
        if route != choice.route:
            reason = f"{reason}; {choice.route} would not answer within the latency budget"
        record.route_reason = reason
        record.all_llm_cost_usd = self.executors.llm_synthesis.estimate_cost(ctx)
        quoted = passages.quotable[0] if passages.quotable else None
        return Decision(route, reason, quoted=quoted)

    def _answer_parts(self, ctx: Answering, parts: list[str]) -> None:
        """Each part decided concurrently, then answered quickest route first (so a stream sends
        the cheap parts first), the answers composed into the message's."""
        trace = ctx.record
        assert isinstance(trace, Trace)
        languages = [ctx.request.language or detect_language(part) for part in parts]
        with timed(trace, "parts_embed"), needed("the embedder"):
            vectors = self.index.retriever.spaces.embed_queries(parts, languages)
        contexts = [
            ctx.part(part, language, vector)
            for part, language, vector in zip(parts, languages, vectors, strict=True)
        ]
        trace.parts = [part.record for part in contexts]
        with timed(trace, "parts_routing"):
            futures = [  # each in a copy of this context: its logs keep the request's ids
                self._pool.submit(copy_context().run, self._decide_part, c) for c in contexts
            ]
            decisions = [future.result() for future in futures]
        composition = Composition()
        for n, i in enumerate(answer_order([d.route for d in decisions]), start=1):
            part = contexts[i]
            stream = PartStream(ctx.sink, composition, n, part.question)
            part.sink = stream
            self.executors.run(part, decisions[i])
            text = composition.add(part.record)
            if stream.pending(part.record):
                ctx.sink("delta", {"text": text})
        composition.finish(trace)
        ctx.hits = _best_of([hit for part in contexts for hit in part.hits], self.routing.passages)
        trace.all_llm_cost_usd = self.executors.llm_synthesis.estimate_cost(ctx)

    # -- steps ----------------------------------------------------------------------------------
    def _faq_match(self, ctx: Answering) -> FaqMatch | None:
        started = time.perf_counter()
        with needed("the store"):
            matches = self.index.faq.match(
                ctx.question,
                language=ctx.request.language,
                tags=ctx.request.tags,
                query_vector=ctx.vector,
                context_tags=self.context_tags(ctx.request),
            )
        ctx.record.retrievals.append(
            Retrieval(
                query=ctx.question,
                purpose="faq",
                latency_ms=round(1000 * (time.perf_counter() - started), 2),
                hits=[RetrievedHit.of(m.hit) for m in matches[:3]],
                started_ms=ctx.record.since_start(started),
            )
        )
        return matches[0] if matches else None

    def _split(self, ctx: Answering) -> Split:
        with timed(ctx.record, "split"):
            split = self.splitter.split(ctx.question, ctx.language)
        if split.merged:
            ctx.record.event("split", "kept together: " + "; ".join(split.merged))
        return split

    def _parts(self, record: PartTrace, analysis: QueryAnalysis) -> list[str]:
        parts = [p.strip() for p in analysis.sub_queries if p.strip()]
        cap = self.routing.max_sub_queries
        if len(parts) > cap:
            record.event(
                "limit", f"{len(parts)} sub-queries, the first {cap} kept (routing.max_sub_queries)"
            )
            parts = parts[:cap]
            analysis.sub_queries = analysis.sub_queries[:cap]
        return parts

    def retrieve(self, ctx: Answering) -> list[Hit]:
        """The question's passages, best first; the search goes into its record."""
        filters = SearchFilters(
            kind=ctx.request.kind,
            language=ctx.request.language,
            tags=ctx.request.tags,
            context_tags=self.context_tags(ctx.request),
        )
        started = time.perf_counter()
        with needed("the store"):
            hits = self.index.retriever.search(
                ctx.question, filters, top_k=self.routing.passages, query_vector=ctx.vector
            )
        ctx.record.retrievals.append(
            Retrieval(
                query=ctx.question,
                purpose="passages",
                latency_ms=round(1000 * (time.perf_counter() - started), 2),
                hits=[RetrievedHit.of(h) for h in hits],
                started_ms=ctx.record.since_start(started),
            )
        )
        return hits

    def _budget_low(self, record: PartTrace) -> bool:
        share = self.ledger.remaining_share()
        low = share < self.settings.cost.low_budget_share
        record.check(
            "budget_remaining", round(share, 4), self.settings.cost.low_budget_share, not low
        )
        return low

    # -- privacy --------------------------------------------------------------------------------
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
    def _record_analysis(self, record: PartTrace, analysis: QueryAnalysis) -> None:
        record.analysis = analysis
        for stage in analysis.stages:
            if stage.stage == "slm":
                failed = stage.confidence is None  # ran and answered, settled or not, else failed
                record.model_calls.append(
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
            record.event("fallback", f"analysis: {analysis.fallback_reason}")


def _best_of(hits: list[Hit], limit: int) -> list[Hit]:
    """``hits`` de-duplicated (best score kept), best first, at most ``limit``."""
    best: dict[str, Hit] = {}
    for hit in hits:
        if hit.id not in best or best[hit.id].score < hit.score:
            best[hit.id] = hit
    return sorted(best.values(), key=lambda h: h.score, reverse=True)[:limit]
