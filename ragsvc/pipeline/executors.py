"""One executor per route behind one interface; the service asks the registry for a decision's."""

from __future__ import annotations

from typing import Protocol

from ragsvc.cost.ledger import CostLedger
from ragsvc.index import Index
from ragsvc.llm.client import ChatModel
from ragsvc.pipeline.admission import CpuSlots, ModelSlots
from ragsvc.pipeline.answering import Answering, Decision
from ragsvc.pipeline.direct import FaqDirect, NoAnswer, RetrievalDirect
from ragsvc.pipeline.generated import LlmSynthesis, SlmAnswer
from ragsvc.pipeline.latency import RouteLatencies
from ragsvc.pipeline.ports import LocalChat
from ragsvc.settings import Settings
from ragsvc.traces.schema import Route


class RouteExecutor(Protocol):
    route: Route

    def answer(self, ctx: Answering, decision: Decision) -> None:
        """Write the route's answer (or the one it falls back to) into ``ctx.record``."""


class Executors:
    def __init__(
        self,
        settings: Settings,
        index: Index,
        ledger: CostLedger,
        slm: LocalChat | None,
        llm: ChatModel | None,
        llm_slots: ModelSlots,
        cpu: CpuSlots,
        latencies: RouteLatencies,
    ) -> None:
        self.faq_direct = FaqDirect(ledger, llm.model if llm else settings.llm.model)
        self.retrieval_direct = RetrievalDirect(index, cpu)
        self.no_answer = NoAnswer(settings)
        self.slm_answer = SlmAnswer(settings, ledger, slm, latencies)
        self.llm_synthesis = LlmSynthesis(
            settings, ledger, llm, llm_slots, self.slm_answer, self.retrieval_direct
        )
        self.slm_answer.escalate_to = self.llm_synthesis
        executors: tuple[RouteExecutor, ...] = (
            self.faq_direct,
            self.retrieval_direct,
            self.no_answer,
            self.slm_answer,
            self.llm_synthesis,
        )
        self._by_route = {executor.route: executor for executor in executors}

    def run(self, ctx: Answering, decision: Decision) -> None:
        self._by_route[decision.route].answer(ctx, decision)
