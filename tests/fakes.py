"""Fakes for unit tests of logic: deterministic, instant, no model weights."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ragsvc.analysis.schema import QueryAnalysis, QueryKind, StageRecord
from ragsvc.cost.ledger import CostLedger, open_ledger
from ragsvc.db import SqliteDatabase
from ragsvc.embedding.base import Vectors, normalise
from ragsvc.index import Index
from ragsvc.ingest_jobs import IngestRunner
from ragsvc.keys import AccessKeys
from ragsvc.llm.client import ChatModel, Completion, LlmError, Messages, OnDelta
from ragsvc.pipeline.service import AskService
from ragsvc.runtime import Runtime
from ragsvc.settings import Settings
from ragsvc.text.lexical import tokenize
from ragsvc.traces.store import TraceStore

DIMENSION = 64


class FakeEmbedder:
    """Bag of lexical tokens hashed into 64 dimensions: same words, same direction."""

    name = "fake-embedder"
    dimension = DIMENSION

    def warm_up(self) -> None:
        return None

    def _one(self, text: str) -> Vectors:
        vector = np.zeros(DIMENSION, dtype=np.float32)
        for token in tokenize(text):
            vector[int(hashlib.md5(token.encode()).hexdigest(), 16) % DIMENSION] += 1.0
        return vector

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        return normalise(np.vstack([self._one(t) for t in texts]))

    embed_passages = embed_queries


def analysis(
    kind: QueryKind, sub_queries: Sequence[str] = (), language: str = "en"
) -> QueryAnalysis:
    complexity = {"simple_factual": "simple", "multi_part": "complex", "complex": "complex"}
    return QueryAnalysis(
        kind=kind,
        complexity=complexity.get(kind, "medium"),  # type: ignore[arg-type]
        complexity_score=0.5,
        language=language,
        sub_queries=list(sub_queries),
        confidence=0.9,
        stage="fast",
        stages=[StageRecord(stage="fast", latency_ms=1.0, settled=True, confidence=0.9)],
    )


@dataclass
class FakeAnalyzer:
    """Answers with ``result(question)``; by default every question is simple and factual."""

    result: Callable[[str], QueryAnalysis] = lambda _: analysis("simple_factual")
    calls: list[str] = field(default_factory=list)

    def analyze(
        self, question: str, *, query_vector: Vectors | None = None, language: str | None = None
    ) -> QueryAnalysis:
        self.calls.append(question)
        return self.result(question)


@dataclass
class ChatResult:
    text: str
    prompt_tokens: int = 50
    completion_tokens: int = 20
    latency_ms: float = 5.0


@dataclass
class FakeSlm:
    reply: str | Exception = "I don't know."
    calls: list[list[dict[str, str]]] = field(default_factory=list)

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> ChatResult:
        self.calls.append(messages)
        if isinstance(self.reply, Exception):
            raise self.reply
        return ChatResult(self.reply)


@dataclass
class FakeLlm:
    reply: str | Exception = "The answer is in the policy [1]."
    model: str = "fake-llm"
    up: bool = True
    calls: list[Messages] = field(default_factory=list)
    on_call: Callable[[], object] | None = None
    """Run before answering (e.g. wait on an event, to hold the call open)."""
    timeouts: list[float | None] = field(default_factory=list)
    """The ``timeout_s`` of each call (what was left of an ask's latency budget)."""
    models: list[str] = field(default_factory=list)
    """The model each call asked for."""

    def complete(
        self,
        messages: Messages,
        *,
        max_tokens: int | None = None,
        on_delta: OnDelta | None = None,
        timeout_s: float | None = None,
        model: str | None = None,
    ) -> Completion:
        self.calls.append(messages)
        self.timeouts.append(timeout_s)
        self.models.append(model or self.model)
        if self.on_call is not None:
            self.on_call()
        if isinstance(self.reply, Exception):
            raise self.reply
        if on_delta:
            for word in self.reply.split(" "):
                on_delta(word + " ")
        return Completion(self.reply, model or self.model, 1000, 100, 12.0)

    def ping(self) -> bool:
        return self.up


def failing_llm() -> FakeLlm:
    return FakeLlm(reply=LlmError("APIConnectionError: Connection refused"), up=False)


ADMIN_KEY = "admin-key-for-tests-0001"
OPERATOR_KEY = "operator-key-for-tests-01"
ADMIN = {"X-API-Key": ADMIN_KEY}
OPERATOR = {"X-API-Key": OPERATOR_KEY}


def fake_runtime(
    settings: Settings,
    index: Index,
    analyzer: FakeAnalyzer | None = None,
    slm: FakeSlm | None = None,
    llm: ChatModel | None = None,
) -> Runtime:
    """The service's runtime over ``index`` with fake models and the test keys above."""
    traces = TraceStore(settings.traces)
    ledger = open_ledger(settings)
    analyzer = analyzer or FakeAnalyzer()
    slm = slm or FakeSlm()
    llm = llm or FakeLlm()
    ask = AskService(settings, index, analyzer, traces, ledger, slm=slm, llm=llm)
    ingest = IngestRunner(index.store, settings)
    keys = AccessKeys.of(ADMIN_KEY, OPERATOR_KEY, settings.api)
    return Runtime(settings, index, traces, ledger, slm, llm, analyzer, ask, ingest, keys)


def complex_on_and(question: str) -> QueryAnalysis:
    """Complex (the LLM answers it, whole) when the question has an "and", else simple."""
    return analysis("complex" if " and " in question else "simple_factual")


def llm_service(settings: Settings, index: Index, llm: ChatModel) -> AskService:
    """An AskService that sends questions with an "and" to ``llm``, with thresholds low enough
    for the fake embedder's scores to reach the answering routes."""
    routing = settings.routing.model_copy(
        update={"relevance_threshold": 0.1, "direct_threshold": 0.2}
    )
    settings = settings.model_copy(update={"routing": routing})
    return AskService(
        settings,
        index,
        FakeAnalyzer(complex_on_and),
        TraceStore(settings.traces),
        CostLedger(settings.cost, SqliteDatabase(settings.traces.path.with_name("cost.sqlite"))),
        llm=llm,
    )
