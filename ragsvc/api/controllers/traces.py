"""Traces, stats and feedback: what engineers read to see why a question went where it went."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import Provide
from litestar.params import Parameter

from ragsvc.api.access import access
from ragsvc.api.deps import provide_runtime
from ragsvc.api.schemas import (
    FeedbackItem,
    FeedbackRequest,
    FeedbackResponse,
    StatsResponse,
    TraceSummary,
)
from ragsvc.errors import NotFoundError
from ragsvc.privacy.pii import redact
from ragsvc.runtime import Runtime
from ragsvc.traces.schema import Route, Trace
from ragsvc.traces.store import FeedbackQuery, Rating, TraceQuery


def _trace(runtime: Runtime, trace_id: str) -> Trace:
    trace = runtime.traces.get(trace_id)
    if trace is None:
        raise NotFoundError(f"no trace {trace_id!r} (unknown, or removed by retention)")
    return trace


class TraceController(Controller):
    path = "/v1"
    tags = ["traces"]  # noqa: RUF012 - litestar reads these class attributes
    dependencies = {"runtime": Provide(provide_runtime, sync_to_thread=False)}  # noqa: RUF012

    @get(
        "/traces/{trace_id:str}",
        sync_to_thread=False,
        **access("operator", errors={404: "no such trace"}),
    )
    def get_trace(self, runtime: Runtime, trace_id: str) -> Trace:
        """The whole trace of one question."""
        return _trace(runtime, trace_id)

    @get("/traces", sync_to_thread=True, **access("operator"))
    def list_traces(
        self,
        runtime: Runtime,
        route: Route | None = None,
        degraded: bool | None = None,
        language: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        min_cost_usd: Annotated[float | None, Parameter(ge=0, le=1_000_000)] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000_000)] = 0,
        text: Annotated[str | None, Parameter(min_length=1, max_length=200)] = None,
        rating: Rating | None = None,
    ) -> list[TraceSummary]:
        """Recent traces, newest first, filtered by route, time range, degraded, language, cost,
        words of the question, and feedback (``up``: rated 4-5, ``down``: 1-2, ``none``)."""
        query = TraceQuery(
            route, degraded, language, since, until, min_cost_usd, limit, offset, text, rating
        )
        return [TraceSummary.of(t) for t in runtime.traces.find(query)]

    @get("/stats", sync_to_thread=True, **access("operator"))
    def stats(self, runtime: Runtime, since: datetime | None = None) -> StatsResponse:
        """Route mix, latency per route, spend, the estimated cost of an all-LLM service, and the
        routing variants compared (as ``GET /v1/routing/compare``)."""
        return StatsResponse.of(
            runtime.traces.stats(since),
            runtime.settings.cost.monthly_budget_usd,
            runtime.ledger.spent_this_month(),
            runtime.ask.compare_variants(since),
        )

    @post(
        "/feedback",
        status_code=201,
        sync_to_thread=True,
        **access(
            "ask",
            public=True,
            errors={404: "no such trace", 409: "feedback cap reached", 413: "body too large"},
        ),
    )
    def feedback(self, runtime: Runtime, data: FeedbackRequest) -> FeedbackResponse:
        """Store a rating (and comment) with the trace it is about."""
        cap = runtime.settings.api.max_feedback_per_trace
        comment = redact(data.comment).text if runtime.settings.traces.redact_pii else data.comment
        if not runtime.traces.add_feedback(data.trace_id, data.rating, comment, max_per_trace=cap):
            raise NotFoundError(f"no trace {data.trace_id!r} to attach feedback to")
        runtime.ask.failsafe.check_soon()
        return FeedbackResponse(trace_id=data.trace_id, stored=True)

    @get("/feedback", sync_to_thread=True, **access("operator"))
    def list_feedback(
        self,
        runtime: Runtime,
        min_rating: Annotated[int | None, Parameter(ge=1, le=5)] = None,
        max_rating: Annotated[int | None, Parameter(ge=1, le=5)] = None,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000_000)] = 0,
    ) -> list[FeedbackItem]:
        """Recent feedback, newest first, optionally within a rating range."""
        query = FeedbackQuery(min_rating, max_rating, limit, offset)
        return [FeedbackItem.model_validate(e) for e in runtime.traces.feedback(query)]
