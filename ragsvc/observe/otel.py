"""Each answered message as an OpenTelemetry trace, exported over OTLP (``server.otlp_endpoint``):
Langfuse, Phoenix, Tempo and Jaeger read it as they read any OTLP trace.

The spans are written from the finished ragsvc trace (an observer of the ask service), with the
times it recorded: one root span per message (``ragsvc.ask``, its OpenTelemetry trace id is the
ragsvc trace id), a span per part of a joined message, per step (embed, faq, analysis, split,
...), per retrieval (``retrieve faq``/``retrieve passages``, per part and so per sub-query) and
per model call (``chat <model>`` with the GenAI semantic conventions: ``gen_ai.operation.name``,
``gen_ai.provider.name``, ``gen_ai.request.model``, ``gen_ai.usage.input_tokens`` and
``output_tokens``; errors set the span's status and ``error.type``). The route, its reason, every
check's score, threshold and result, cost and degradation are attributes; events (escalation,
fallback, admission...) are span events. What is exported is the trace as stored: questions
redacted when ``traces.redact_questions`` is on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Span, Status, StatusCode, Tracer, set_span_in_context

from ragsvc import __version__
from ragsvc.traces.schema import ModelCall, PartTrace, Retrieval, Trace

_MS = 1_000_000  # nanoseconds
_LLM_ROLES = ("llm_synthesis",)
_wanted_trace_id: ContextVar[int | None] = ContextVar("ragsvc_otel_trace_id", default=None)


class _RagsvcTraceIds(RandomIdGenerator):
    """The root span of a message takes the message's trace id: one id in ragsvc and in the
    tracing backend."""

    def generate_trace_id(self) -> int:
        wanted = _wanted_trace_id.get()
        return wanted if wanted is not None else super().generate_trace_id()


@contextmanager
def _trace_id(trace_id: str) -> Iterator[None]:
    token = _wanted_trace_id.set(int(trace_id, 16) if len(trace_id) == 32 else None)
    try:
        yield
    finally:
        _wanted_trace_id.reset(token)


class OtlpTraceExport:
    def __init__(self, endpoint: str, headers: dict[str, str] | None = None) -> None:
        resource = Resource.create({"service.name": "ragsvc", "service.version": __version__})
        self.provider = TracerProvider(resource=resource, id_generator=_RagsvcTraceIds())
        exporter = OTLPSpanExporter(endpoint=endpoint, headers=headers or None)
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer: Tracer = self.provider.get_tracer("ragsvc", __version__)

    def export(self, trace: Trace) -> None:
        """The observer: ``trace`` (as stored) as spans, queued for the exporter."""
        start = int(trace.created_at.timestamp() * 1e9)
        with _trace_id(trace.trace_id):
            root = self.tracer.start_span(
                "ragsvc.ask", start_time=start, attributes=_record_attributes(trace)
            )
        root.set_attribute("ragsvc.trace_id", trace.trace_id)
        root.set_attribute("ragsvc.latency_ms", trace.latency_ms)
        if trace.follow_up is not None:
            root.set_attribute("ragsvc.follow_up.asked", trace.follow_up.asked)
        _add_events(root, trace, start + int(trace.latency_ms * _MS))
        self._children(trace, set_span_in_context(root), start)
        for part in trace.parts:
            part_start = start + int(part.offset_ms * _MS)
            span = self.tracer.start_span(
                "ragsvc.part",
                context=set_span_in_context(root),
                start_time=part_start,
                attributes=_record_attributes(part),
            )
            self._children(part, set_span_in_context(span), start)
            part_end = max(part_start, _last_end(part, start))
            _add_events(span, part, part_end)
            span.end(end_time=part_end)
        root.end(end_time=start + int(trace.latency_ms * _MS))

    def _children(self, record: PartTrace, parent: Context, start: int) -> None:
        for step, ms in record.timings_ms.items():
            began = record.started_ms.get(step)
            if began is not None:
                self._span(f"ragsvc.{step}", parent, start, began, ms, {})
        for retrieval in record.retrievals:
            if retrieval.started_ms is not None:
                self._span(
                    f"retrieve {retrieval.purpose}",
                    parent,
                    start,
                    retrieval.started_ms,
                    retrieval.latency_ms,
                    _retrieval_attributes(retrieval),
                )
        analysis_start = record.started_ms.get("analysis", 0.0)
        for call in record.model_calls:
            span = self._span(
                f"chat {call.model}",
                parent,
                start,
                call.started_ms if call.started_ms is not None else analysis_start,
                call.latency_ms,
                _call_attributes(call),
            )
            if call.error:
                span.set_status(Status(StatusCode.ERROR, call.error))

    def _span(
        self,
        name: str,
        parent: Context,
        start: int,
        began_ms: float,
        duration_ms: float,
        attributes: dict[str, Any],
    ) -> Span:
        began = start + int(began_ms * _MS)
        span = self.tracer.start_span(name, context=parent, start_time=began, attributes=attributes)
        span.end(end_time=began + int(duration_ms * _MS))
        return span

    def close(self) -> None:
        """Send what is queued, then stop."""
        self.provider.shutdown()


def _last_end(record: PartTrace, start: int) -> int:
    ends = [
        start + int((record.started_ms[step] + ms) * _MS)
        for step, ms in record.timings_ms.items()
        if step in record.started_ms
    ]
    ends += [
        start + int((c.started_ms + c.latency_ms) * _MS)
        for c in record.model_calls
        if c.started_ms is not None
    ]
    return max(ends, default=start)


def _record_attributes(record: PartTrace) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "ragsvc.question": record.question,
        "ragsvc.language": record.language,
        "ragsvc.route": record.route,
        "ragsvc.route_reason": record.route_reason,
        "ragsvc.degraded": record.degraded,
        "ragsvc.confidence": record.confidence,
        "ragsvc.cost_usd": record.cost_usd,
        "ragsvc.all_llm_cost_usd": record.all_llm_cost_usd,
        "ragsvc.sources": [s.source for s in record.sources],
    }
    for check in record.checks:
        key = f"ragsvc.check.{check.name}"
        attributes[f"{key}.passed"] = check.passed
        if check.score is not None:
            attributes[f"{key}.score"] = check.score
        if check.threshold is not None:
            attributes[f"{key}.threshold"] = check.threshold
    if record.analysis is not None:
        attributes["ragsvc.analysis.kind"] = record.analysis.kind
        attributes["ragsvc.analysis.stage"] = record.analysis.stage
        attributes["ragsvc.analysis.confidence"] = record.analysis.confidence
    return attributes


def _add_events(span: Span, record: PartTrace, at: int) -> None:
    for event in record.events:
        span.add_event(event.kind, {"ragsvc.detail": event.detail}, timestamp=at)


def _retrieval_attributes(retrieval: Retrieval) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "ragsvc.query": retrieval.query,
        "ragsvc.hits": len(retrieval.hits),
    }
    if retrieval.hits:
        best = retrieval.hits[0]
        attributes |= {
            "ragsvc.best.score": best.score,
            "ragsvc.best.dense_score": best.dense_score,
            "ragsvc.best.lexical_score": best.lexical_score,
            "ragsvc.best.source": best.source,
        }
    return attributes


def _call_attributes(call: ModelCall) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai" if call.role in _LLM_ROLES else "llama_cpp",
        "gen_ai.request.model": call.model,
        "gen_ai.usage.input_tokens": call.prompt_tokens,
        "gen_ai.usage.output_tokens": call.completion_tokens,
        "ragsvc.role": call.role,
        "ragsvc.cost_usd": call.cost_usd,
    }
    if call.first_token_ms is not None:
        attributes["ragsvc.first_token_ms"] = call.first_token_ms
    if call.error:
        attributes["error.type"] = call.error.split(":", 1)[0]
    return attributes
