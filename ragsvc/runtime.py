"""Everything the service holds for its lifetime, opened together and closed in reverse order."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ragsvc.control.judge_job import JudgeCheckJob
from ragsvc.cost.ledger import CostLedger, open_ledger
from ragsvc.errors import ConfigError
from ragsvc.index import Index, open_index
from ragsvc.ingest_jobs import IngestRunner
from ragsvc.keys import AccessKeys, load_keys
from ragsvc.llm.client import ChatModel, OpenAiChatModel
from ragsvc.pipeline.admission import AdmittedSlm, ModelSlots
from ragsvc.pipeline.ports import LocalChat, QuestionAnalyzer
from ragsvc.pipeline.service import AskService
from ragsvc.settings import Settings
from ragsvc.traces.store import TraceStore, open_trace_store

if TYPE_CHECKING:
    from ragsvc.models.llama import LocalLlm

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Runtime:
    settings: Settings
    index: Index
    traces: TraceStore
    ledger: CostLedger
    slm: LocalChat | None
    llm: ChatModel
    analyzer: QuestionAnalyzer
    ask: AskService
    ingest: IngestRunner
    keys: AccessKeys
    owns_index: bool = True
    judge_job: JudgeCheckJob = field(default_factory=JudgeCheckJob)
    """``POST /v1/routing/judge-check``: the shadow judge's check, run in the service."""

    def close(self) -> None:
        self.judge_job.close()
        self.ingest.close()
        self.ask.close()
        self.traces.close()
        self.ledger.close()
        if self.owns_index:
            self.index.close()


def _open_slm(settings: Settings) -> LocalLlm | None:
    """The SLM, loaded now; a missing or broken model leaves the service running without it."""
    from ragsvc.models.llama import build_local_llm  # llama_cpp: loaded only by the service

    try:
        slm = build_local_llm(settings)
        if slm is not None:
            slm.warm_up()
    except (ConfigError, OSError, ValueError) as exc:
        log.error("the SLM is unavailable, routing falls back to rules and the LLM: %s", exc)
        return None
    return slm


def slm_slots(settings: Settings) -> ModelSlots:
    """llama.cpp runs one call at a time; ``slm.queue`` more may wait ``slm.queue_wait_s``."""
    return ModelSlots("slm", 1, settings.slm.queue, settings.slm.queue_wait_s)


def open_runtime(
    settings: Settings, index: Index | None = None, llm: ChatModel | None = None
) -> Runtime:
    from ragsvc.analysis.cascade import build_analyzer
    from ragsvc.analysis.scope import IndexScope
    from ragsvc.analysis.split import build_splitter

    owns_index = index is None
    index = index or open_index(settings)
    loaded = _open_slm(settings)
    slm = None if loaded is None else AdmittedSlm(loaded, slm_slots(settings))
    scope = IndexScope(index.retriever, settings.analysis.scope_neighbours)
    splitter = build_splitter(settings, index.retriever.spaces)
    analyzer = build_analyzer(settings, index.embedder, slm, scope, splitter)
    llm = llm or OpenAiChatModel(settings.llm)
    traces = open_trace_store(settings)
    ledger = open_ledger(settings)
    ask = AskService(settings, index, analyzer, traces, ledger, slm=slm, llm=llm, splitter=splitter)
    ingest = IngestRunner(index.store, settings)
    return Runtime(
        settings,
        index,
        traces,
        ledger,
        slm,
        llm,
        analyzer,
        ask,
        ingest,
        load_keys(settings.api),
        owns_index,
    )
