"""Routing control: the variants (A/B) compared, changed, promoted and rolled back without a
restart; the shadow verdicts the LLM disagreed with; the fail-safe's raises and their undo."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.di import Provide
from litestar.params import Parameter
from pydantic import BaseModel, Field

from ragsvc.api.access import access
from ragsvc.api.deps import provide_runtime
from ragsvc.control.compare import VariantComparison
from ragsvc.control.judge_check import distrust
from ragsvc.control.judge_cli import judge_check
from ragsvc.control.judge_job import JudgeCheckRun
from ragsvc.control.state import JudgeCheck, RoutingState
from ragsvc.runtime import Runtime
from ragsvc.settings import VARIED_THRESHOLDS, VariantSettings


class VariantThresholds(BaseModel):
    """The thresholds a variant's questions are routed by now, the fail-safe's raises included
    (``faq_threshold`` None: the FAQ matcher's calibrated one, plus ``faq_raise``)."""

    faq_threshold: float | None
    faq_raise: float
    relevance_threshold: float
    direct_threshold: float
    escalate_confidence: float
    escalate_completeness: float
    llm_model: str | None = Field(description="the model LLM calls ask for; None: llm.model")


class ShadowStatus(BaseModel):
    share: float
    judged: int = Field(description="verdicts this process stored since it started")
    pending: int
    skipped: dict[str, int] = Field(description="samples not judged, per reason")
    judge_trusted: bool = Field(
        description="whether the judge's verdicts count as the fail-safe's evidence (its last "
        "check, state.judge, is of the model now configured and good enough)"
    )
    judge_distrusted_because: str | None = Field(description="why not; None when trusted")


class RoutingStateResponse(BaseModel):
    state: RoutingState
    effective: dict[str, VariantThresholds]
    shadow: ShadowStatus


class Disagreement(BaseModel):
    trace_id: str
    variant: str
    route: str
    question: str
    answer: str
    reason: str
    created_at: datetime


def _response(runtime: Runtime, state: RoutingState) -> RoutingStateResponse:
    control, shadow = runtime.ask.control, runtime.ask.shadow
    doubt = distrust(state.judge, runtime.settings.llm.model, runtime.settings.shadow)
    effective = {}
    for name in state.names():
        plan = control.plan(name)
        routing = plan.settings.routing
        effective[name] = VariantThresholds(
            faq_threshold=plan.faq_threshold,
            faq_raise=plan.faq_raise,
            llm_model=plan.llm_model,
            **{t: getattr(routing, t) for t in VARIED_THRESHOLDS if t != "faq_threshold"},
        )
    return RoutingStateResponse(
        state=state,
        effective=effective,
        shadow=ShadowStatus(
            share=runtime.settings.shadow.share,
            judged=shadow.judged,
            pending=shadow.pending(),
            skipped=dict(shadow.skipped),
            judge_trusted=doubt is None,
            judge_distrusted_because=doubt,
        ),
    )


class JudgeCheckRequest(BaseModel):
    pairs: int = Field(
        default=30, ge=1, le=500, description="FAQ entries asked, each twice (right, wrong)"
    )
    seed: int = Field(default=13, description="which entries")


_VARIANT = Annotated[str, Parameter(min_length=1, max_length=64)]


class RoutingController(Controller):
    path = "/v1/routing"
    tags = ["routing"]  # noqa: RUF012 - litestar reads these class attributes
    dependencies = {"runtime": Provide(provide_runtime, sync_to_thread=False)}  # noqa: RUF012

    @get("/", sync_to_thread=True, **access("operator"))
    def state(self, runtime: Runtime) -> RoutingStateResponse:
        """The variants and their shares, the promoted thresholds (and the promotions a rollback
        would undo), the fail-safe's raises, and each variant's thresholds in effect."""
        return _response(runtime, runtime.ask.control.state())

    @get("/compare", sync_to_thread=True, **access("operator"))
    def compare(self, runtime: Runtime, since: datetime | None = None) -> list[VariantComparison]:
        """Each variant's route mix, cost per question, latency, escalation rate, negative
        feedback and shadow misrouting (per route too), with 95% intervals."""
        return runtime.ask.compare_variants(since)

    @put(
        "/variants/{name:str}",
        sync_to_thread=True,
        **access("admin", errors={400: "a bad name, threshold or share"}),
    )
    def put_variant(
        self, runtime: Runtime, name: _VARIANT, data: VariantSettings
    ) -> RoutingStateResponse:
        """Create or change a variant: its share of the conversations and its thresholds."""
        return _response(runtime, runtime.ask.control.put_variant(name, data))

    @delete(
        "/variants/{name:str}",
        status_code=200,
        sync_to_thread=True,
        **access("admin", errors={404: "no such variant"}),
    )
    def delete_variant(self, runtime: Runtime, name: _VARIANT) -> RoutingStateResponse:
        """End a variant: its conversations go back to control."""
        return _response(runtime, runtime.ask.control.delete_variant(name))

    @post(
        "/variants/{name:str}/promote",
        status_code=200,
        sync_to_thread=True,
        **access("admin", errors={404: "no such variant"}),
    )
    def promote(self, runtime: Runtime, name: _VARIANT) -> RoutingStateResponse:
        """The variant's thresholds become everyone's; the variant ends."""
        return _response(runtime, runtime.ask.control.promote(name))

    @post(
        "/rollback",
        status_code=200,
        sync_to_thread=True,
        **access("admin", errors={409: "nothing was promoted"}),
    )
    def rollback(self, runtime: Runtime) -> RoutingStateResponse:
        """Undo the last promotion: its thresholds and the variants as they were before it."""
        return _response(runtime, runtime.ask.control.rollback())

    @delete(
        "/raises/{variant:str}/{route:str}",
        status_code=200,
        sync_to_thread=True,
        **access("admin", errors={404: "the fail-safe has not raised that route"}),
    )
    def undo_raise(
        self, runtime: Runtime, variant: _VARIANT, route: _VARIANT
    ) -> RoutingStateResponse:
        """Undo the fail-safe's raise of a route's threshold for a variant; only evidence from
        now on can raise it again."""
        return _response(runtime, runtime.ask.control.undo_raise(variant, route))

    @post(
        "/judge-check",
        status_code=202,
        sync_to_thread=True,
        **access("admin", errors={400: "bad pairs", 409: "a judge check is running already"}),
    )
    def start_judge_check(self, runtime: Runtime, data: JudgeCheckRequest) -> JudgeCheckRun:
        """Put the shadow judge (the configured LLM) to the test on the index's FAQ in the
        background, as ``ragsvc routing check-judge`` does; poll ``GET /v1/routing/judge-check``.
        Its result replaces ``state.judge``; until it passes, the fail-safe ignores the judge."""

        def check(stop: threading.Event) -> JudgeCheck:
            return judge_check(runtime, data.pairs, data.seed, stop)

        return runtime.judge_job.start(check, runtime.ask.control.record_judge_check, data.pairs)

    @get("/judge-check", sync_to_thread=True, **access("operator"))
    def judge_check_status(self, runtime: Runtime) -> JudgeCheckRun:
        """The judge check this process ran last: running, done (its result in ``state.judge``)
        or failed (why; nothing stored)."""
        return runtime.judge_job.status()

    @get("/disagreements", sync_to_thread=True, **access("operator"))
    def disagreements(
        self, runtime: Runtime, limit: Annotated[int, Parameter(ge=1, le=1000)] = 100
    ) -> list[Disagreement]:
        """Shadow verdicts where the LLM judged that a cheap answer does not answer the question,
        newest first: candidates for thresholds and FAQ phrasings."""
        verdicts = runtime.ask.control_store.verdicts(verdict="disagree", limit=limit)
        return [
            Disagreement(
                trace_id=v.trace_id,
                variant=v.variant,
                route=v.route,
                question=v.question,
                answer=v.answer,
                reason=v.reason,
                created_at=v.created_at,
            )
            for v in verdicts
        ]
