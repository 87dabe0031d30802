"""What the route executors share: the question on its way through the pipeline, the router's
decision, and how an answer, a model call or a timed step is written into the trace."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ragsvc.control.state import RoutingPlan
from ragsvc.cost.ledger import CostLedger
from ragsvc.embedding.spaces import QueryVector
from ragsvc.errors import RagsvcError, ServiceUnavailableError
from ragsvc.pipeline import prompts
from ragsvc.pipeline.latency import Deadline
from ragsvc.retrieval.faq import FaqMatch
from ragsvc.retrieval.fusion import Hit
from ragsvc.traces.schema import ModelCall, PartTrace, Route, Source

EventSink = Callable[[str, dict[str, Any]], None]
"""Receives ("route", {...}), ("delta", {"text": ...}) and, for a joined message, ("part", {...})
while a question is answered."""


def ignore_events(_: str, __: dict[str, Any]) -> None:
    return None


class ClientGoneError(RagsvcError):
    """Raised by a stream's event sink once its client has disconnected: the work stops."""


@dataclass(frozen=True, slots=True)
class AskInput:
    question: str
    language: str | None = None
    kind: str | None = None
    tags: tuple[str, ...] = ()
    conversation_id: str | None = None
    history: tuple[str, ...] = ()
    """The conversation's earlier questions, oldest first (a follow-up is completed from them)."""
    max_latency_ms: float | None = None
    """The latency budget: no route expected to take longer is chosen (``pipeline/latency.py``)."""
    tier: str | None = None
    """A name for a latency budget (``routing.tiers``); the smaller of the two applies."""
    context: tuple[tuple[str, str], ...] = ()
    """The caller's context (field, value), e.g. ("department", "hr"): narrows retrieval to the
    tags ``routing.context_filters`` maps it to (``pipeline/context.py``)."""


@dataclass(slots=True)
class Answering:
    """One question, or one part of a joined message, on its way through the pipeline."""

    request: AskInput
    record: PartTrace
    """Where its decisions and answer are written: the message's trace, or the part's."""
    trace_id: str
    vector: QueryVector
    """The question in the dense space of its language."""
    language: str
    sink: EventSink
    plan: RoutingPlan
    """The routing variant's thresholds (and the fail-safe's raises) this question is routed by."""
    hits: list[Hit] = field(default_factory=list)
    deadline: Deadline | None = None
    """When the answer is due, from the ask's latency budget; None: no budget."""

    @property
    def question(self) -> str:
        return self.record.question

    @property
    def streams(self) -> bool:
        """Whether the answer goes out as it is written (a stream's sink), not once finished."""
        return self.sink is not ignore_events

    def part(self, question: str, language: str, vector: QueryVector) -> Answering:
        """One part of this joined message, with a record of its own."""
        record = PartTrace(question=question, language=language)
        record.start_clock(self.record.origin)
        return Answering(
            self.request,
            record,
            self.trace_id,
            vector,
            language,
            self.sink,
            self.plan,
            deadline=self.deadline,
        )

    def announce(self, route: Route) -> None:
        self.sink("route", {"route": route, "trace_id": self.trace_id})


@dataclass(frozen=True, slots=True)
class Decision:
    """The router's decision for one question, with what its route answers from."""

    route: Route
    reason: str
    faq: FaqMatch | None = None
    quoted: Hit | None = None
    """The passage a retrieval-direct answer quotes."""


def finish(
    ctx: Answering, route: Route, answer: str, hits: Sequence[Hit], confidence: float
) -> None:
    record = ctx.record
    record.route = route
    record.answer = answer
    record.sources = [Source.of(n, hit) for n, hit in enumerate(hits, start=1)]
    record.confidence = round(max(0.0, min(1.0, confidence)), 4)


def finish_cited(
    ctx: Answering, route: Route, answer: str, hits: Sequence[Hit], confidence: float
) -> None:
    """A generated answer: its sources are the passages it cites, renumbered in citing order
    (all of ``hits`` when it cites none)."""
    used = prompts.cited(answer, len(hits))
    text = renumber(answer, used) if used else answer
    finish(ctx, route, text, [hits[n - 1] for n in used] or list(hits), confidence)


def renumber(answer: str, used: list[int]) -> str:
    """Citation numbers follow the order of ``sources``: the first passage cited becomes [1]."""
    mapping = {old: new for new, old in enumerate(used, start=1)}
    return prompts.renumber_citations(answer, mapping)


def record_call(
    record: PartTrace,
    ledger: CostLedger,
    role: str,
    model: str,
    started: float,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    error: Exception | None = None,
    first_token_ms: float | None = None,
) -> ModelCall:
    call = ModelCall(
        role=role,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_ms=round(1000 * (time.perf_counter() - started), 2),
        first_token_ms=first_token_ms,
        cost_usd=ledger.cost(model, prompt_tokens, completion_tokens),
        error=f"{type(error).__name__}: {error}" if error else None,
        started_ms=record.since_start(started),
    )
    record.model_calls.append(call)
    return call


@contextmanager
def needed(part: str) -> Iterator[None]:
    """A failure of ``part`` (the embedder, the store) leaves nothing to answer from: 503."""
    try:
        yield
    except (ServiceUnavailableError, ClientGoneError):
        raise
    except Exception as exc:
        raise ServiceUnavailableError(f"{part} failed: {type(exc).__name__}: {exc}") from exc


@contextmanager
def timed(record: PartTrace, step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        record.timings_ms[step] = round(1000 * (time.perf_counter() - started), 2)
        if (began := record.since_start(started)) is not None:
            record.started_ms[step] = began
