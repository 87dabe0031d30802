"""The routes that answer without a model: the FAQ entry as written, the best passage's closest
sentences, and the hand-off."""

from __future__ import annotations

from ragsvc.cost.ledger import CostLedger, estimate_tokens
from ragsvc.index import Index
from ragsvc.pipeline.admission import CpuSlots
from ragsvc.pipeline.answering import Answering, Decision, finish, timed
from ragsvc.pipeline.extract import extract_answer
from ragsvc.retrieval.fusion import Hit
from ragsvc.settings import Settings
from ragsvc.traces.schema import Route

ESTIMATED_ANSWER_TOKENS = 250
"""Output tokens assumed when estimating what the LLM would have cost for a question."""


class FaqDirect:
    route: Route = "faq_direct"

    def __init__(self, ledger: CostLedger, llm_model: str) -> None:
        self.ledger = ledger
        self.llm_model = llm_model

    def answer(self, ctx: Answering, decision: Decision) -> None:
        faq = decision.faq
        assert faq is not None, "an FAQ-direct decision carries its match"
        ctx.announce("faq_direct")
        finish(ctx, "faq_direct", faq.answer, [faq.hit], faq.confidence)
        ctx.record.all_llm_cost_usd = self.ledger.cost(
            self.llm_model, estimate_tokens(faq.hit.text) + 200, ESTIMATED_ANSWER_TOKENS
        )
        ctx.sink("delta", {"text": faq.answer})


class RetrievalDirect:
    route: Route = "retrieval_direct"

    def __init__(self, index: Index, cpu: CpuSlots) -> None:
        self.index = index
        self.cpu = cpu

    def answer(self, ctx: Answering, decision: Decision) -> None:
        """Quotes ``decision.quoted`` (by the router's rule, the passage that cleared the direct
        threshold), else the top hit (the retrieval-only baseline, a fallback)."""
        self.quote(ctx, decision.quoted or ctx.hits[0])

    def quote(self, ctx: Answering, best: Hit) -> None:
        ctx.announce("retrieval_direct")
        with self.cpu.held(ctx.record), timed(ctx.record, "extract"):
            answer = extract_answer(
                ctx.question,
                best.answer_text,
                ctx.vector.vector,
                self.index.retriever.spaces.embedder(ctx.vector.space),
            )
        finish(ctx, "retrieval_direct", f"{answer} [1]", [best], best.dense_score)
        ctx.sink("delta", {"text": ctx.record.answer})


class NoAnswer:
    route: Route = "no_answer"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def answer(self, ctx: Answering, decision: Decision) -> None:
        ctx.announce("no_answer")
        finish(ctx, "no_answer", self.settings.routing.handoff_for(ctx.language), [], 0.0)
        ctx.record.route_reason = ctx.record.route_reason or decision.reason
        ctx.sink("delta", {"text": ctx.record.answer})
