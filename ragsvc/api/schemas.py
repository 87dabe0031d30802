"""Request and response types of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from ragsvc.control.compare import VariantComparison
from ragsvc.ingest_jobs import IngestJobState
from ragsvc.pipeline.answering import AskInput
from ragsvc.retrieval.faq import FaqMatch
from ragsvc.retrieval.fusion import Hit
from ragsvc.traces.schema import PartTrace, Route, Source, Trace
from ragsvc.traces.store import Stats


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer: what is wrong and how to fix it."""

    status_code: int
    detail: str
    trace_id: str | None = Field(default=None, description="the trace of a failed ask, if any")
    extra: dict[str, Any] | list[Any] | None = None


Tag = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ContextField = Annotated[str, StringConstraints(min_length=1, max_length=32)]
ContextValue = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class SearchHit(BaseModel):
    id: str
    score: float
    dense_score: float
    lexical_score: float
    kind: str
    source: str
    title: str
    section: list[str]
    page: int | None
    language: str
    text: str

    @classmethod
    def of(cls, hit: Hit) -> SearchHit:
        p = hit.payload
        return cls(
            id=hit.id,
            score=hit.score,
            dense_score=hit.dense_score,
            lexical_score=hit.lexical_score,
            kind=p["kind"],
            source=p["source"],
            title=p["title"],
            section=list(p.get("section") or []),
            page=p.get("page"),
            language=p["language"],
            text=hit.text,
        )


class SearchResponse(BaseModel):
    query: str
    hits: list[SearchHit]


class FaqMatchResponse(BaseModel):
    faq_id: str
    question: str
    answer: str
    source: str
    confidence: float
    margin: float
    matched_phrasing: str

    @classmethod
    def of(cls, match: FaqMatch) -> FaqMatchResponse:
        return cls(
            faq_id=match.faq_id,
            question=match.question,
            answer=match.answer,
            source=match.source,
            confidence=match.confidence,
            margin=match.margin,
            matched_phrasing=match.matched_phrasing,
        )


class Health(BaseModel):
    status: str
    points: int | None = None


class AskFilters(BaseModel):
    kind: Literal["faq", "doc"] | None = None
    language: str | None = Field(default=None, max_length=8)
    tags: list[Tag] = Field(
        default_factory=list, max_length=50, description="at most api.max_tags tags"
    )


class AskRequest(BaseModel):
    question: str = Field(
        max_length=20_000,
        description="the user's question (routing.max_question_chars, 2,000 by default)",
    )
    language: str | None = Field(
        default=None, max_length=8, description="answer language; detected when omitted"
    )
    filters: AskFilters = Field(default_factory=AskFilters)
    conversation_id: str | None = Field(default=None, max_length=128)
    history: list[Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=list,
        max_length=10,
        description="the conversation's earlier questions, oldest first, each as the service "
        "routed it (AskResponse.question): a follow-up is made self-contained from the last one",
    )

    max_latency_ms: int | None = Field(
        default=None,
        ge=1,
        le=3_600_000,
        description="how long the asker can wait: no route expected to take longer is chosen "
        "(a cheaper answer, or the hand-off, instead; the trace says so); a streamed answer must "
        "start within it",
    )
    tier: str | None = Field(
        default=None,
        max_length=64,
        description="a latency budget by name (routing.tiers, e.g. interactive: 5000 ms, batch: "
        "none); with max_latency_ms the smaller applies",
    )

    context: dict[ContextField, ContextValue] = Field(
        default_factory=dict,
        max_length=8,
        description='who asks from where, e.g. {"department": "hr"}: narrows retrieval to '
        "the tags routing.context_filters maps each value to (an unknown field or value is 400)",
    )

    def to_input(self) -> AskInput:
        return AskInput(
            question=self.question,
            language=self.language or self.filters.language,
            kind=self.filters.kind,
            tags=tuple(self.filters.tags),
            conversation_id=self.conversation_id,
            history=tuple(self.history),
            max_latency_ms=self.max_latency_ms,
            tier=self.tier,
            context=tuple(sorted(self.context.items())),
        )


class AnsweredPart(BaseModel):
    question: str
    route: Route
    degraded: bool

    @classmethod
    def of(cls, part: PartTrace) -> AnsweredPart:
        return cls(question=part.question, route=part.route, degraded=part.degraded)


class AskResponse(BaseModel):
    question: str = Field(description="the question as routed: a follow-up made self-contained")
    answer: str
    route: Route = Field(description="for a joined message, the costliest of its parts' routes")
    sources: list[Source]
    confidence: float
    degraded: bool
    trace_id: str
    latency_ms: float
    cost_usd: float
    parts: list[AnsweredPart] = Field(
        default_factory=list,
        description="a joined message's parts, as asked, each with the route that answered it",
    )

    @classmethod
    def of(cls, trace: Trace) -> AskResponse:
        return cls(
            question=trace.question,
            answer=trace.answer,
            route=trace.route,
            sources=trace.sources,
            confidence=trace.confidence,
            degraded=trace.degraded,
            trace_id=trace.trace_id,
            latency_ms=trace.latency_ms,
            cost_usd=trace.cost_usd,
            parts=[AnsweredPart.of(part) for part in trace.parts],
        )


class TraceSummary(BaseModel):
    trace_id: str
    created_at: datetime
    question: str
    language: str
    route: Route
    degraded: bool
    latency_ms: float
    cost_usd: float

    @classmethod
    def of(cls, trace: Trace) -> TraceSummary:
        return cls(
            trace_id=trace.trace_id,
            created_at=trace.created_at,
            question=trace.question[:200],
            language=trace.language,
            route=trace.route,
            degraded=trace.degraded,
            latency_ms=trace.latency_ms,
            cost_usd=trace.cost_usd,
        )


class RouteStatsResponse(BaseModel):
    route: str
    count: int
    share: float
    p50_ms: float
    p95_ms: float
    cost_usd: float


class StatsResponse(BaseModel):
    questions: int
    degraded: int
    p50_ms: float
    p95_ms: float
    cost_usd: float
    all_llm_cost_usd: float = Field(
        description="estimated cost had the LLM synthesised every one of these answers"
    )
    budget_usd: float
    spent_this_month_usd: float
    routes: list[RouteStatsResponse]
    part_routes: dict[str, int] = Field(
        description="answers per route counted per part: a one-question message once, a joined "
        "message once per part (in routes it counts once, under its costliest part's route)"
    )
    variants: list[VariantComparison] = Field(
        default_factory=list, description="the routing variants compared, with 95% intervals"
    )

    @classmethod
    def of(
        cls, stats: Stats, budget: float, spent: float, variants: list[VariantComparison]
    ) -> StatsResponse:
        total = max(stats.questions, 1)
        return cls(
            questions=stats.questions,
            degraded=stats.degraded,
            p50_ms=round(stats.p50_ms, 2),
            p95_ms=round(stats.p95_ms, 2),
            cost_usd=stats.cost_usd,
            all_llm_cost_usd=stats.all_llm_cost_usd,
            budget_usd=budget,
            spent_this_month_usd=spent,
            routes=[
                RouteStatsResponse(
                    route=r.route,
                    count=r.count,
                    share=round(r.count / total, 4),
                    p50_ms=round(r.p50_ms, 2),
                    p95_ms=round(r.p95_ms, 2),
                    cost_usd=r.cost_usd,
                )
                for r in stats.routes
            ],
            part_routes=stats.part_routes,
            variants=variants,
        )


class FeedbackRequest(BaseModel):
    trace_id: str = Field(min_length=1, max_length=64)
    rating: int = Field(ge=1, le=5, description="1 = wrong or useless ... 5 = exactly right")
    comment: str = Field(default="", max_length=2000)


class PhrasingRequest(BaseModel):
    """New phrasings of one FAQ entry: given as text, or as the questions of traces (each an
    operator confirmed the entry answers), or both."""

    phrasings: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list, max_length=50
    )
    trace_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=50
    )
    doc_id: str | None = Field(
        default=None,
        max_length=4096,
        description="the FAQ file, needed only when several files use the same FAQ id",
    )


class PhrasingResult(BaseModel):
    model_config = {"from_attributes": True}

    phrasing: str
    added: bool = Field(description="false: the entry already had this phrasing")


class PhrasingResponse(BaseModel):
    faq_id: str
    doc_id: str
    added: int
    phrasings: list[PhrasingResult]


class PhrasingItem(BaseModel):
    phrasing: str
    field: Literal["question", "phrasing", "learned"] = Field(
        description="the entry's question, an alternative in the FAQ file, or learned from use"
    )


class PhrasingList(BaseModel):
    faq_id: str
    doc_id: str
    phrasings: list[PhrasingItem]


class PhrasingRemoved(BaseModel):
    faq_id: str
    doc_id: str
    phrasing: str


class FeedbackResponse(BaseModel):
    trace_id: str
    stored: bool


class FeedbackItem(BaseModel):
    """A stored feedback entry (from a ``ragsvc.traces.store.FeedbackEntry``)."""

    model_config = {"from_attributes": True}

    trace_id: str
    rating: int
    comment: str
    created_at: datetime


ServerPath = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]


class IngestRequest(BaseModel):
    paths: list[ServerPath] = Field(
        min_length=1,
        max_length=100,
        description="files or folders on the service's machine, under ingest.allowed_roots",
    )
    prune: bool = False


class IngestJobResponse(BaseModel):
    job_id: str
    kind: str = Field(description="ingest, or reindex (a new collection, then the alias switched)")
    status: str
    paths: list[str]
    prune: bool
    created_at: datetime
    finished_at: datetime | None
    files_done: int
    files_total: int
    current: str
    report: dict[str, Any] | None
    error: str | None

    @classmethod
    def of(cls, job: IngestJobState) -> IngestJobResponse:
        return cls(
            job_id=job.job_id,
            kind=job.kind,
            status=job.status,
            paths=job.paths,
            prune=job.prune,
            created_at=job.created_at,
            finished_at=job.finished_at,
            files_done=job.files_done,
            files_total=job.files_total,
            current=job.current,
            report=job.report,
            error=job.error,
        )


ReadyStatus = Literal["ready", "degraded", "unavailable"]


class ModelLoad(BaseModel):
    """A model's admission slots right now (see ``llm.concurrency``, ``slm.queue``)."""

    name: str
    running: int
    waiting: int
    concurrency: int
    queue: int
    refused: int


class Readiness(BaseModel):
    status: ReadyStatus
    qdrant: bool
    points: int | None
    embedder: bool
    slm: bool
    llm: bool
    traces: bool = Field(description="the trace writer is alive and its last write succeeded")
    models: list[ModelLoad] = Field(default_factory=list)
    asks_in_flight: int = 0
    streams_open: int = 0
    detail: list[str] = Field(default_factory=list)


class DocumentInfo(BaseModel):
    """An indexed document (from a ``ragsvc.store.qdrant_store.IndexedDocument``)."""

    model_config = {"from_attributes": True}

    doc_id: str = Field(description="the file's absolute path on the service's machine")
    source: str = Field(description="the path relative to source_root")
    source_root: str
    kind: str = Field(description="faq or doc")
    chunks: int
    language: str = ""
    ingested_at: str = ""
    url: str | None = Field(default=None, description="where it is published, if known")


class DocumentList(BaseModel):
    total: int
    limit: int
    offset: int
    documents: list[DocumentInfo]


class DocumentDeleted(BaseModel):
    doc_id: str
    points_removed: int
