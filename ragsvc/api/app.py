"""The app factory: all wiring in one place; long-lived parts opened in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.contrib.prometheus import PrometheusConfig, PrometheusController
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.template.config import TemplateConfig

from ragsvc import __version__
from ragsvc.api.access import role_guard, security_components
from ragsvc.api.allow import allow_header
from ragsvc.api.controllers.admin import (
    DocumentController,
    IngestController,
    ReindexController,
)
from ragsvc.api.controllers.ask import AskController
from ragsvc.api.controllers.faq import FaqController
from ragsvc.api.controllers.ops import healthz, readyz
from ragsvc.api.controllers.routing import RoutingController
from ragsvc.api.controllers.search import SearchController
from ragsvc.api.controllers.traces import TraceController
from ragsvc.api.controllers.widget import widget_demo, widget_js
from ragsvc.api.errors import domain_error, http_error
from ragsvc.api.limits import RequestLimits, rate_limit
from ragsvc.console.pages import CONSOLE_TEMPLATES, ConsoleController, ConsoleSignInController
from ragsvc.errors import RagsvcError
from ragsvc.observe import metrics
from ragsvc.observe.logs import request_ids_middleware
from ragsvc.runtime import Runtime, open_runtime
from ragsvc.settings import Settings

if TYPE_CHECKING:
    from ragsvc.observe.otel import OtlpTraceExport

MODEL_THREADS_HEADROOM = 16
"""Worker threads beyond ``api.max_in_flight``: model calls hold at most their slots' worth."""


class MetricsController(PrometheusController):
    """``GET /metrics``: Prometheus's text format (public, like the probes: counts only)."""

    path = "/metrics"
    include_in_schema = False


def gauges(runtime: Runtime, limits: RequestLimits) -> dict[str, Any]:
    """The scrape-time gauges of :mod:`ragsvc.observe.metrics`."""
    spent = runtime.ledger.spent_this_month()
    running = [job for job in runtime.ingest.jobs() if job.status == "running"]
    loads = runtime.ask.load()
    return {
        "spent_this_month_usd": spent,
        "budget_left_usd": runtime.settings.cost.monthly_budget_usd - spent,
        "asks_in_flight": limits.asks.count,
        "streams_open": limits.streams.count,
        "ingest_files_done": sum(job.files_done for job in running),
        "ingest_files_total": sum(job.files_total for job in running),
        "model_running": {load.name: load.running for load in loads},
        "model_waiting": {load.name: load.waiting for load in loads},
        "failsafe_raise": {
            (variant, route): r.by
            for variant, routes in runtime.ask.control.state().raises.items()
            for route, r in routes.items()
        },
    }


def _otlp_export(settings: Settings) -> OtlpTraceExport | None:
    endpoint = settings.server.otlp_endpoint
    if endpoint is None:
        return None
    from ragsvc.observe.otel import OtlpTraceExport

    return OtlpTraceExport(endpoint, settings.server.otlp_headers)


def create_app(
    settings: Settings, open_parts: Callable[[Settings], Runtime] = open_runtime
) -> Litestar:
    """The service; ``open_parts`` builds the runtime at startup (tests may pass their own)."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = settings.api.max_in_flight + MODEL_THREADS_HEADROOM
        app.state.limits = RequestLimits.of(settings.api)
        app.state.runtime = runtime = await anyio.to_thread.run_sync(open_parts, settings)
        runtime.ask.observers.append(metrics.observe)
        runtime.ask.shadow.on_verdict.append(metrics.observe_verdict)
        collector = metrics.register(lambda: gauges(runtime, app.state.limits))
        otlp = _otlp_export(settings)
        if otlp is not None:
            runtime.ask.observers.append(otlp.export)
        try:
            yield
        finally:
            metrics.unregister(collector)
            if otlp is not None:
                await anyio.to_thread.run_sync(otlp.close)
            await anyio.to_thread.run_sync(runtime.close)

    api = settings.api
    cors = CORSConfig(allow_origins=api.cors_origins) if api.cors_origins else None
    limit = rate_limit(api)
    prometheus = PrometheusConfig(
        app_name="ragsvc", prefix=metrics.PREFIX, group_path=True, exclude=["/metrics"]
    )
    return Litestar(
        route_handlers=[
            AskController,
            TraceController,
            IngestController,
            ReindexController,
            DocumentController,
            FaqController,
            SearchController,
            RoutingController,
            healthz,
            readyz,
            widget_js,
            widget_demo,
            ConsoleSignInController,
            ConsoleController,
            MetricsController,
        ],
        lifespan=[lifespan],
        guards=[role_guard],
        before_send=[allow_header],
        middleware=[
            request_ids_middleware,
            prometheus.middleware,
            *([limit.middleware] if limit else []),
        ],
        exception_handlers={RagsvcError: domain_error, HTTPException: http_error},
        cors_config=cors,
        openapi_config=OpenAPIConfig(
            title="ragsvc",
            version=__version__,
            path="/schema",
            components=security_components(),
        ),
        request_max_body_size=api.max_body_kb * 1024,
        template_config=TemplateConfig(directory=CONSOLE_TEMPLATES, engine=JinjaTemplateEngine),
        logging_config=None,  # the process's logging is `ragsvc serve`'s (ragsvc/observe/logs.py)
    )
