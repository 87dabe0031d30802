"""The baselines ``ragsvc eval`` compares the router with, on the same index and models.

``all_llm`` retrieves the question and has the LLM synthesise every answer (no FAQ shortcut, no
analysis, no split), ``all_slm`` has the SLM answer every question from the same passages (its
quality check is recorded, never acted on), ``retrieval_only`` answers every question with the
best retrieved passage (no models, no thresholds). ``routed`` is the product.
"""

from __future__ import annotations

from typing import Literal

from ragsvc.pipeline.answering import Answering, Decision, timed
from ragsvc.pipeline.service import Answerer, AskService

Policy = Literal["routed", "all_llm", "all_slm", "retrieval_only"]
POLICIES: tuple[Policy, ...] = ("routed", "all_llm", "all_slm", "retrieval_only")


def answerer(service: AskService, policy: Policy) -> Answerer:
    """How ``service`` answers under ``policy``."""
    if policy == "routed":
        return service.answer_routed

    def baseline(ctx: Answering) -> None:
        """The whole question retrieved, then one fixed route whatever the scores."""
        record, executors = ctx.record, service.executors
        record.route_reason = f"evaluation policy {policy}"
        record.event("policy", f"{policy}: routing disabled for this question")
        with timed(record, "retrieval"):
            ctx.hits = service.retrieve(ctx)
        record.all_llm_cost_usd = executors.llm_synthesis.estimate_cost(ctx)
        if not ctx.hits:
            executors.run(ctx, Decision("no_answer", "nothing was retrieved"))
        elif policy == "retrieval_only":
            executors.retrieval_direct.quote(ctx, ctx.hits[0])
        elif policy == "all_slm":
            _slm_only(service, ctx)
        else:
            executors.llm_synthesis.answer_or_degrade(ctx)

    return baseline


def _slm_only(service: AskService, ctx: Answering) -> None:
    slm = service.executors.slm_answer
    hits = slm.passages(ctx)
    answer = slm.generate(ctx, hits)
    if answer is None:
        service.executors.retrieval_direct.quote(ctx, ctx.hits[0])
        return
    passed, grounding = slm.check(ctx, answer, hits)
    slm.finish(ctx, answer, hits, grounding if passed else grounding / 2)
