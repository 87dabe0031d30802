"""The routes that answer with a model: the SLM (escalating to the LLM when its answer fails the
quality check) and LLM synthesis (degrading to the SLM, then to the best passage, when the LLM
is unavailable, over budget or refuses). Both answers are guarded before they go out."""

from __future__ import annotations

import time
from collections.abc import Sequence

from ragsvc.cost.ledger import CostLedger, estimate_tokens
from ragsvc.llm.client import ChatModel, LlmError
from ragsvc.pipeline import prompts
from ragsvc.pipeline.admission import ModelSlots, OverloadedError
from ragsvc.pipeline.answering import (
    Answering,
    ClientGoneError,
    Decision,
    finish,
    finish_cited,
    record_call,
    renumber,
)
from ragsvc.pipeline.direct import ESTIMATED_ANSWER_TOKENS, RetrievalDirect
from ragsvc.pipeline.latency import RouteLatencies, fits
from ragsvc.pipeline.ports import LocalChat
from ragsvc.pipeline.quality import assess
from ragsvc.privacy.pii import is_local_endpoint, redact
from ragsvc.retrieval.fusion import Hit
from ragsvc.settings import Settings
from ragsvc.traces.schema import PartTrace, Route


def guarded(record: PartTrace, answer: str, hits: Sequence[Hit]) -> str | None:
    """The model's answer with links no passage contains removed; None (refused) when it
    repeats our instructions."""
    if prompts.repeats_instructions(answer):
        record.event("guard", "the answer repeated the instructions; refused")
        return None
    answer, removed = prompts.strip_foreign_links(answer, hits)
    if removed:
        record.event("guard", f"removed {len(removed)} link(s) no passage contains")
    return answer


def budget_was_low(record: PartTrace) -> bool:
    """Whether the router found the monthly budget nearly spent for this question."""
    return any(c.name == "budget_remaining" and not c.passed for c in record.checks)


class SlmAnswer:
    route: Route = "slm_answer"

    def __init__(
        self,
        settings: Settings,
        ledger: CostLedger,
        slm: LocalChat | None,
        latencies: RouteLatencies,
    ) -> None:
        self.settings = settings
        self.routing = settings.routing
        self.ledger = ledger
        self.slm = slm
        self.latencies = latencies
        self.escalate_to: LlmSynthesis | None = None
        """Set by the executors' registry (the two routes call each other)."""

    def answer(self, ctx: Answering, decision: Decision) -> None:
        record = ctx.record
        hits = self.passages(ctx)
        answer = self.generate(ctx, hits)
        if answer is not None:
            passed, grounding = self.check(ctx, answer, hits)
            escalation = self.escalate_to if self.escalate_to and self.escalate_to.llm else None
            if passed or escalation is None or budget_was_low(record) or not self.in_time(ctx):
                if not passed and escalation is not None and budget_was_low(record):
                    record.event("budget", "escalation skipped: the monthly budget is nearly spent")
                self.finish(ctx, answer, hits, grounding if passed else grounding * 0.5)
                return
            record.event("escalation", "the SLM answer failed the quality check: asking the LLM")
        assert self.escalate_to is not None
        self.escalate_to.answer_or_degrade(ctx, slm_tried=True)

    def in_time(self, ctx: Answering, route: Route = "llm_synthesis") -> bool:
        """Whether ``route`` may still be taken within the ask's latency budget (traced)."""
        deadline = ctx.deadline
        if deadline is None or fits(
            ctx.record, route, deadline, self.latencies, streamed=ctx.streams
        ):
            return True
        ctx.record.event("latency", f"{route} skipped: not expected to answer within the budget")
        return False

    def passages(self, ctx: Answering) -> list[Hit]:
        return ctx.hits[: self.routing.passages]

    def generate(self, ctx: Answering, hits: Sequence[Hit]) -> str | None:
        """The SLM's guarded answer from ``hits``; None when there is no SLM or it failed."""
        if self.slm is None:
            return None
        record = ctx.record
        messages = prompts.slm_messages(ctx.question, hits, ctx.language)
        started = time.perf_counter()
        name = self.settings.slm.name
        try:
            result = self.slm.chat(messages, max_tokens=self.settings.slm.max_answer_tokens)
        except OverloadedError as exc:
            record.event("admission", f"{exc}; answering without the SLM")
            record.degraded = True
            return None
        except Exception as exc:  # llama.cpp errors have no common base class
            record_call(record, self.ledger, "slm_answer", name, started, error=exc)
            record.event("fallback", f"the SLM failed: {exc}")
            record.degraded = True
            return None
        record_call(
            record,
            self.ledger,
            "slm_answer",
            name,
            started,
            result.prompt_tokens,
            result.completion_tokens,
        )
        return guarded(record, result.text.strip(), hits)

    def check(self, ctx: Answering, answer: str, hits: Sequence[Hit]) -> tuple[bool, float]:
        """The articles' escalation rule (grounding and completeness thresholds), traced."""
        routing = ctx.plan.settings.routing
        quality = assess(ctx.question, answer, [h.text for h in hits])
        confident = not quality.declined and quality.grounding >= routing.escalate_confidence
        ctx.record.check(
            "slm_grounding",
            round(quality.grounding, 4),
            routing.escalate_confidence,
            confident,
            "declined" if quality.declined else "",
        )
        complete = ctx.record.check(
            "slm_completeness",
            round(quality.completeness, 4),
            routing.escalate_completeness,
            quality.completeness >= routing.escalate_completeness,
        )
        return confident and complete, quality.grounding

    def finish(self, ctx: Answering, answer: str, hits: Sequence[Hit], confidence: float) -> None:
        """The SLM's answer goes out; one that cites nothing is said to rest on the first
        passage, which it was told to use first."""
        ctx.announce("slm_answer")
        used = prompts.cited(answer, len(hits))
        text = renumber(answer, used) if used else f"{answer} [1]"
        finish(ctx, "slm_answer", text, [hits[n - 1] for n in used] or list(hits[:1]), confidence)
        ctx.sink("delta", {"text": text})


class LlmSynthesis:
    route: Route = "llm_synthesis"

    def __init__(
        self,
        settings: Settings,
        ledger: CostLedger,
        llm: ChatModel | None,
        slots: ModelSlots,
        slm: SlmAnswer,
        quote: RetrievalDirect,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.llm = llm
        self.slots = slots
        self.slm = slm
        self.quote = quote

    @property
    def model(self) -> str:
        return self.llm.model if self.llm else self.settings.llm.model

    def answer(self, ctx: Answering, decision: Decision) -> None:
        self.answer_or_degrade(ctx)

    def answer_or_degrade(self, ctx: Answering, slm_tried: bool = False) -> None:
        record = ctx.record
        if self.llm is None:
            record.event("fallback", "no LLM is configured; answering from cheaper routes")
        elif self._synthesise(ctx, self.llm):
            return
        record.degraded = True
        passages = self.slm.passages(ctx)
        try_slm = not slm_tried and self.slm.in_time(ctx, "slm_answer")
        fallback = self.slm.generate(ctx, passages) if try_slm else None
        if fallback and not assess(ctx.question, fallback, [h.text for h in passages]).declined:
            self.slm.finish(ctx, fallback, passages, 0.5)
            return
        self.quote.quote(ctx, ctx.hits[0])

    def estimate_cost(self, ctx: Answering) -> float:
        """What synthesising this question's answer from its hits would cost."""
        tokens = sum(estimate_tokens(m["content"]) for m in self._messages(ctx, ctx.question))
        return self.ledger.cost(self.model, tokens, ESTIMATED_ANSWER_TOKENS)

    def _messages(self, ctx: Answering, question: str) -> list[dict[str, str]]:
        return prompts.llm_messages(
            question, ctx.hits, ctx.language, self.settings.llm.passage_chars
        )

    def _synthesise(self, ctx: Answering, llm: ChatModel) -> bool:
        """LLM synthesis within a model slot and a budget reservation; False when the answer
        must come from a cheaper route (overloaded, over budget, failed, or refused)."""
        record, hits = ctx.record, ctx.hits
        messages = self._messages(ctx, self._outbound(record, ctx.question))
        prompt_tokens = sum(estimate_tokens(m["content"]) for m in messages)
        model = ctx.plan.llm_model or llm.model
        estimate = self.ledger.cost(model, prompt_tokens, self.settings.llm.max_tokens)
        reservation = self.ledger.reserve(estimate)
        if reservation is None:
            record.event("budget", f"no budget left for the LLM call (estimated ${estimate:.4f})")
            return False
        started = time.perf_counter()
        streamed: list[str] = []
        first_token_ms: list[float] = []

        def on_delta(text: str) -> None:
            if not first_token_ms:
                first_token_ms.append(round(1000 * (time.perf_counter() - started), 2))
            streamed.append(text)
            ctx.sink("delta", {"text": text})

        def call(prompt: int, completion: int, error: Exception | None = None) -> float:
            first = first_token_ms[0] if first_token_ms else None
            role = "llm_synthesis"
            made = record_call(
                record, self.ledger, role, model, started, prompt, completion, error, first
            )
            return made.cost_usd

        try:
            with self.slots.slot() as waited_ms:
                if waited_ms >= 1:
                    record.timings_ms["llm_queue"] = round(waited_ms, 2)
                ctx.announce("llm_synthesis")
                started = time.perf_counter()
                timeout_s = ctx.deadline.left_s() if ctx.deadline else None
                result = llm.complete(
                    messages, on_delta=on_delta, timeout_s=timeout_s, model=ctx.plan.llm_model
                )
        except OverloadedError as exc:
            self.ledger.release(reservation)
            record.event("admission", f"{exc}; answering from cheaper routes")
            return False
        except ClientGoneError:
            cost = call(prompt_tokens, estimate_tokens("".join(streamed)))
            record.model_calls[-1].error = "cancelled: the client disconnected"
            self.ledger.settle(reservation, cost)
            raise
        except LlmError as exc:
            self.ledger.release(reservation)
            call(0, 0, exc)
            record.event("fallback", f"the LLM failed ({exc}); answering from cheaper routes")
            return False
        cost = call(result.prompt_tokens, result.completion_tokens)
        self.ledger.settle(reservation, cost)
        record.all_llm_cost_usd = cost
        answer = guarded(record, result.text, hits)
        if answer is None:
            return False
        best = max((h.dense_score for h in hits), default=0.0)
        finish_cited(ctx, "llm_synthesis", answer, hits, best)
        return True

    def _outbound(self, record: PartTrace, question: str) -> str:
        """The user's text as sent to the LLM: PII redacted first unless the endpoint is local
        (``llm.redact_pii``). Passages are the organisation's documents and go as they are."""
        mode = self.settings.llm.redact_pii
        if mode == "never" or (mode == "auto" and is_local_endpoint(self.settings.llm.base_url)):
            return question
        redaction = redact(question)
        if redaction.counts:
            found = ", ".join(f"{n} {kind}" for kind, n in sorted(redaction.counts.items()))
            record.event("privacy", f"redacted before the LLM call: {found}")
        return redaction.text
