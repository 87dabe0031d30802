"""``/metrics`` in Prometheus's format (prometheus_client).

- HTTP requests and their latency per route template: litestar's Prometheus middleware
  (``ragsvc_requests_total``, ``ragsvc_request_duration_seconds``, ...).
- Answers, from each finished trace (:func:`observe`): per route (and per part of a joined
  message), answer latency histograms per route, and per model and role: calls by outcome,
  call latency, tokens in and out, cost.
- Routing control: the shadow verdicts by variant, route and verdict (:func:`observe_verdict`).
- Read when scraped (:class:`RuntimeCollector`): the month's spend and the budget left, each
  model's running and waiting calls, asks in flight and open streams, the running ingest job's
  progress, the fail-safe's raise per variant and route.

Metrics are process-wide, as Prometheus counts them: the counters live in the default registry
once per process; the collector of a service's runtime is registered while the service runs.
No label carries user text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ragsvc.control.store import ShadowVerdict
from ragsvc.traces.schema import Trace

PREFIX = "ragsvc"
_ANSWER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160)

ANSWERS = Counter(
    f"{PREFIX}_answers", "Messages answered, by route and whether degraded", ["route", "degraded"]
)
PART_ANSWERS = Counter(
    f"{PREFIX}_part_answers", "Answers per part (a one-question message is one part)", ["route"]
)
ANSWER_SECONDS = Histogram(
    f"{PREFIX}_answer_seconds",
    "Time to answer a message, by route",
    ["route"],
    buckets=_ANSWER_BUCKETS,
)
MODEL_CALLS = Counter(
    f"{PREFIX}_model_calls", "Model calls by model, role and outcome", ["model", "role", "outcome"]
)
MODEL_SECONDS = Histogram(
    f"{PREFIX}_model_call_seconds", "Model call latency", ["model", "role"], buckets=_ANSWER_BUCKETS
)
MODEL_TOKENS = Counter(
    f"{PREFIX}_model_tokens", "Tokens by model, role and direction", ["model", "role", "direction"]
)
MODEL_COST = Counter(f"{PREFIX}_model_cost_usd", "Spend by model and role (USD)", ["model", "role"])
SHADOW_VERDICTS = Counter(
    f"{PREFIX}_shadow_verdicts",
    "The LLM's verdicts on sampled cheap answers (disagree: a misrouting), by variant and route",
    ["variant", "route", "verdict"],
)


def observe(trace: Trace) -> None:
    """Count a finished message: its route, latency, parts and model calls."""
    ANSWERS.labels(trace.route, str(trace.degraded).lower()).inc()
    ANSWER_SECONDS.labels(trace.route).observe(trace.latency_ms / 1000)
    for part in trace.parts or [trace]:
        PART_ANSWERS.labels(part.route).inc()
    for call in trace.all_model_calls():
        MODEL_CALLS.labels(call.model, call.role, "error" if call.error else "ok").inc()
        MODEL_SECONDS.labels(call.model, call.role).observe(call.latency_ms / 1000)
        MODEL_TOKENS.labels(call.model, call.role, "input").inc(call.prompt_tokens)
        MODEL_TOKENS.labels(call.model, call.role, "output").inc(call.completion_tokens)
        MODEL_COST.labels(call.model, call.role).inc(call.cost_usd)


def observe_verdict(verdict: ShadowVerdict) -> None:
    SHADOW_VERDICTS.labels(verdict.variant, verdict.route, verdict.verdict).inc()


Gauges = Callable[[], dict[str, Any]]


class RuntimeCollector(Collector):
    """Gauges read at scrape time from a running service (``read`` returns their values)."""

    def __init__(self, read: Gauges) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        values = self.read()
        for name, help_text in (
            ("spent_this_month_usd", "Spend recorded in the cost ledger this month (USD)"),
            ("budget_left_usd", "The month's budget less what was spent (USD)"),
            ("asks_in_flight", "Asks being answered now"),
            ("streams_open", "Answer streams open now"),
            ("ingest_files_done", "Files done by the running ingest job (0: none running)"),
            ("ingest_files_total", "Files of the running ingest job (0: none running)"),
        ):
            yield GaugeMetricFamily(f"{PREFIX}_{name}", help_text, value=values[name])
        for name, help_text in (
            ("model_running", "Calls a model is running now"),
            ("model_waiting", "Calls waiting for a model's slot now (the queue depth)"),
        ):
            family = GaugeMetricFamily(f"{PREFIX}_{name}", help_text, labels=["model"])
            for model, value in values[name].items():
                family.add_metric([model], value)
            yield family
        family = GaugeMetricFamily(
            f"{PREFIX}_failsafe_raise",
            "How far the fail-safe raised a route's threshold, by variant and route (0: not)",
            labels=["variant", "route"],
        )
        for (variant, route), value in values["failsafe_raise"].items():
            family.add_metric([variant, route], value)
        yield family


def register(read: Gauges) -> RuntimeCollector:
    collector = RuntimeCollector(read)
    REGISTRY.register(collector)
    return collector


def unregister(collector: RuntimeCollector) -> None:
    REGISTRY.unregister(collector)
