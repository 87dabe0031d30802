"""The trace of one question, as stored and as served by ``GET /v1/traces/{id}``.

Bump ``TRACE_SCHEMA_VERSION`` when a stored trace could no longer be read by this model.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr

from ragsvc.analysis.schema import QueryAnalysis
from ragsvc.embedding.spaces import PRIMARY
from ragsvc.retrieval.fusion import Hit
from ragsvc.routes import ROUTES as ROUTES  # re-exported: imported from here elsewhere
from ragsvc.routes import Route as Route

TRACE_SCHEMA_VERSION = 1

EventKind = Literal[
    "escalation",
    "fallback",
    "budget",
    "error",
    "policy",
    "admission",  # a model call refused for lack of a slot: the answer came a cheaper way
    "limit",  # a request cap applied (e.g. sub-queries kept)
    "cancelled",  # the client went away; the work stopped
    "guard",  # the model's answer was checked and changed or refused
    "privacy",  # PII redacted before a call to a non-local model
    "split",  # boundaries of a joined message the splitter did not keep, and why
    "latency",  # a route not expected to answer within the ask's latency budget was not taken
    "variant",  # routed with other thresholds than configured: a variant's, a promotion's
    "failsafe",  # routed with a threshold the fail-safe raised
]


class Check(BaseModel):
    """One routing check: a score compared with its threshold, and what followed."""

    name: str
    score: float | None = None
    threshold: float | None = None
    passed: bool
    note: str = ""
    details: dict[str, float] = Field(default_factory=dict)
    """What the score was computed from (e.g. the FAQ confidence's features)."""


class RetrievedHit(BaseModel):
    id: str
    score: float
    dense_score: float
    lexical_score: float
    kind: str
    source: str
    title: str
    section: list[str] = Field(default_factory=list)
    page: int | None = None
    space: str = PRIMARY
    """The dense space ``dense_score`` is a cosine in (``dense_multilingual``: multilingual-e5)."""
    dense_offset: float = 0.0
    """Added to the cosine of a passage in another language (``dense_score`` includes it)."""
    language: str = ""

    @classmethod
    def of(cls, hit: Hit) -> RetrievedHit:
        p = hit.payload
        return cls(
            id=hit.id,
            score=round(hit.score, 4),
            dense_score=round(hit.dense_score, 4),
            lexical_score=round(hit.lexical_score, 4),
            kind=str(p.get("kind", "")),
            source=str(p.get("source", "")),
            title=str(p.get("title", "")),
            section=list(p.get("section") or []),
            page=p.get("page"),
            space=hit.space,
            dense_offset=hit.dense_offset,
            language=str(p.get("language") or ""),
        )


class Retrieval(BaseModel):
    query: str
    purpose: str
    latency_ms: float
    hits: list[RetrievedHit]
    started_ms: float | None = None
    """When it began, in ms after the message's start (None in traces written before)."""


class ModelCall(BaseModel):
    role: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    first_token_ms: float | None = None
    """Time to the first streamed token (a streamed LLM call)."""
    cost_usd: float = 0.0
    error: str | None = None
    started_ms: float | None = None
    """When it began, in ms after the message's start (None: not known, e.g. an analysis stage)."""


class Event(BaseModel):
    kind: EventKind
    detail: str


class Source(BaseModel):
    """A passage the answer rests on; ``n`` is its citation number in the answer text."""

    n: int
    id: str
    kind: str
    source: str
    title: str
    section: list[str] = Field(default_factory=list)
    page: int | None = None
    faq_id: str | None = None
    snippet: str = ""
    url: str | None = None

    @classmethod
    def of(cls, n: int, hit: Hit, snippet_chars: int = 300) -> Source:
        p = hit.payload
        return cls(
            n=n,
            id=hit.id,
            kind=str(p.get("kind", "")),
            source=str(p.get("source", "")),
            title=str(p.get("title", "")),
            section=list(p.get("section") or []),
            page=p.get("page"),
            faq_id=str(p["faq"]["faq_id"]) if p.get("faq") else None,
            snippet=hit.text[:snippet_chars],
            url=p.get("url"),
        )


class Feedback(BaseModel):
    rating: int
    comment: str = ""
    created_at: datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


class PartTrace(BaseModel):
    """The decisions and the answer for one question: a whole message, or one part of a joined
    message (``Trace.parts``), each part with its own analysis, route, checks, hits and calls."""

    question: str
    language: str = "en"
    analysis: QueryAnalysis | None = None
    route: Route = "no_answer"
    route_reason: str = ""
    checks: list[Check] = Field(default_factory=list)
    retrievals: list[Retrieval] = Field(default_factory=list)
    model_calls: list[ModelCall] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    answer: str = ""
    sources: list[Source] = Field(default_factory=list)
    confidence: float = 0.0
    degraded: bool = False
    timings_ms: dict[str, float] = Field(default_factory=dict)
    cost_usd: float = 0.0
    all_llm_cost_usd: float = Field(
        default=0.0, description="estimated cost had the LLM synthesised this answer"
    )
    started_ms: dict[str, float] = Field(default_factory=dict)
    """When each step of ``timings_ms`` began, in ms after the message's start."""
    offset_ms: float = 0.0
    """When this record began, in ms after the message's start (a part's; 0 for the message)."""
    _origin: float | None = PrivateAttr(default=None)

    def start_clock(self, origin: float | None = None) -> None:
        """Times in this record count from ``origin`` (``time.perf_counter()``), by default now:
        the message's start, which a part shares."""
        now = time.perf_counter()
        self._origin = now if origin is None else origin
        self.offset_ms = round(1000 * (now - self._origin), 2)

    @property
    def origin(self) -> float | None:
        return self._origin

    def since_start(self, moment: float) -> float | None:
        """``moment`` (``time.perf_counter()``) in ms after the message's start."""
        return None if self._origin is None else round(1000 * (moment - self._origin), 2)

    def check(
        self,
        name: str,
        score: float | None,
        threshold: float | None,
        passed: bool,
        note: str = "",
        details: dict[str, float] | None = None,
    ) -> bool:
        self.checks.append(
            Check(
                name=name,
                score=score,
                threshold=threshold,
                passed=passed,
                note=note,
                details=details or {},
            )
        )
        return passed

    def event(self, kind: EventKind, detail: str) -> None:
        self.events.append(Event(kind=kind, detail=detail))


class FollowUp(BaseModel):
    """A follow-up made self-contained (``ragsvc/pipeline/followup.py``): ``question`` holds what
    was routed."""

    asked: str
    """The message as the user wrote it."""
    previous: str
    """The conversation's previous question it was completed from."""
    rule: str


class Trace(PartTrace):
    """One message's trace. For a joined message, ``parts`` holds each part's own trace, the
    message's ``route`` is the costliest of the parts' routes, its ``answer`` and ``sources`` are
    the parts' answers composed, and ``cost_usd`` counts every part's model calls."""

    trace_id: str
    schema_version: int = TRACE_SCHEMA_VERSION
    created_at: datetime = Field(default_factory=utc_now)
    question_redacted: bool = False
    conversation_id: str | None = None
    follow_up: FollowUp | None = None
    filters: dict[str, Any] = Field(default_factory=dict)
    parts: list[PartTrace] = Field(default_factory=list)
    latency_ms: float = 0.0
    latency_budget_ms: float | None = None
    """The ask's latency budget (``max_latency_ms`` or its ``tier``'s); None: none given."""
    variant: str | None = None
    """The routing variant that answered (``control``: the routing as configured or promoted)."""
    feedback: list[Feedback] = Field(default_factory=list)

    def all_model_calls(self) -> list[ModelCall]:
        """The message's own calls (e.g. its analysis) and every part's."""
        return [*self.model_calls, *(call for part in self.parts for call in part.model_calls)]

    def escalated(self) -> bool:
        """Whether an SLM answer (the message's or a part's) was escalated to the LLM."""
        records = [self, *self.parts]
        return any(e.kind == "escalation" for record in records for e in record.events)
