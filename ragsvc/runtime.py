"""Everything the service holds for its lifetime, opened together and closed in reverse order."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ragsvc.cost.ledger import CostLedger
from ragsvc.errors import ConfigError
from ragsvc.index import Index, open_index
from ragsvc.ingest_jobs import IngestRunner
from ragsvc.llm.client import ChatModel, OpenAiChatModel
from ragsvc.pipeline.ports import LocalChat, QuestionAnalyzer
from ragsvc.pipeline.service import AskService
from ragsvc.settings import Settings
from ragsvc.traces.store import TraceStore

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
    admin_key: str
    owns_index: bool = True

    def close(self) -> None:
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


def admin_key(settings: Settings) -> str:
    """The configured admin key, else a random one kept in ``api.admin_key_file`` (mode 0600)
    so that ``ragsvc ingest`` on the same machine can hand its job to the service."""
    if settings.api.admin_api_key is not None:
        return settings.api.admin_api_key.get_secret_value()
    path = settings.api.admin_key_file
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(24)
    path.touch(mode=0o600)
    path.write_text(key)
    return key


def open_runtime(
    settings: Settings, index: Index | None = None, llm: ChatModel | None = None
) -> Runtime:
    from ragsvc.analysis.cascade import build_analyzer
    from ragsvc.analysis.scope import IndexScope

    owns_index = index is None
    index = index or open_index(settings)
    slm = _open_slm(settings)
    scope = IndexScope(index.retriever, settings.analysis.scope_neighbours)
    analyzer = build_analyzer(settings, index.embedder, slm, scope)
    llm = llm or OpenAiChatModel(settings.llm)
    traces = TraceStore(settings.traces)
    ledger = CostLedger(settings.cost, settings.cost.ledger_path)
    ask = AskService(settings, index, analyzer, traces, ledger, slm=slm, llm=llm)
    ingest = IngestRunner(index.store, index.embedder, settings)
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
        admin_key(settings),
        owns_index,
    )
