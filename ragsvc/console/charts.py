"""The console's stats charts: inline SVG drawn by matplotlib (already the evaluation's plotting
library), so the page needs no script and no chart library from anywhere."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ragsvc.traces.schema import ROUTES
from ragsvc.traces.store import RouteStats, TracePoint

COLOURS = {
    "faq_direct": "#2e7d32",
    "retrieval_direct": "#66bb6a",
    "slm_answer": "#f9a825",
    "llm_synthesis": "#c62828",
    "no_answer": "#757575",
}
_BUCKETS = 24
_lock = threading.Lock()  # pyplot's state is global: one figure at a time


def _figure(width: float = 8.0, height: float = 3.2) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: searchable, small
    return plt.subplots(figsize=(width, height))


def _svg(fig: Any, title: str) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = io.StringIO()
    fig.savefig(out, format="svg")
    plt.close(fig)
    svg = out.getvalue()  # an XML prolog and doctype first: not wanted inside a page
    return svg[svg.index("<svg") :].replace("<svg ", f'<svg role="img" aria-label="{title}" ', 1)


def _buckets(points: Sequence[TracePoint]) -> tuple[list[datetime], timedelta]:
    first, last = points[0].created_at, points[-1].created_at
    width = max((last - first) / _BUCKETS, timedelta(minutes=1))
    return [first + width * i for i in range(_BUCKETS + 1)], width


def route_mix(points: Sequence[TracePoint]) -> str:
    """Questions per route over time, stacked."""
    with _lock:
        fig, ax = _figure()
        if points:
            starts, width = _buckets(points)
            counts: dict[str, list[int]] = {route: [0] * len(starts) for route in ROUTES}
            for p in points:
                slot = min(int((p.created_at - starts[0]) / width), len(starts) - 1)
                counts.setdefault(p.route, [0] * len(starts))[slot] += 1
            bottom = [0] * len(starts)
            for route, values in counts.items():
                ax.bar(
                    starts,
                    values,
                    width=width * 0.9,
                    bottom=bottom,
                    align="edge",
                    label=route,
                    color=COLOURS.get(route, "#999"),
                )
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
            ax.legend(fontsize=8, ncols=5, loc="upper left")
        ax.set_ylabel("questions")
        ax.set_title("Route mix over time", fontsize=10)
        fig.autofmt_xdate()
        return _svg(fig, "Route mix over time")


def latency(routes: Sequence[RouteStats]) -> str:
    """p50 and p95 latency per route."""
    with _lock:
        fig, ax = _figure(height=3.0)
        names = [r.route for r in routes]
        x = range(len(names))
        ax.bar(
            [i - 0.2 for i in x],
            [r.p50_ms for r in routes],
            width=0.4,
            label="p50",
            color="#1f5fbf",
        )
        ax.bar(
            [i + 0.2 for i in x],
            [r.p95_ms for r in routes],
            width=0.4,
            label="p95",
            color="#90caf9",
        )
        ax.set_xticks(list(x), names, fontsize=8)
        ax.set_ylabel("ms")
        ax.set_yscale("log" if routes and max(r.p95_ms for r in routes) > 100 else "linear")
        ax.legend(fontsize=8)
        ax.set_title("Latency per route", fontsize=10)
        return _svg(fig, "Latency per route")


def spend(points: Sequence[TracePoint], budget_usd: float, spent_this_month_usd: float) -> str:
    """Cumulative spend against the estimated cost had the LLM answered every question."""
    with _lock:
        fig, ax = _figure()
        if points:
            times = [p.created_at for p in points]
            spent = all_llm = 0.0
            spent_line, all_llm_line = [], []
            for p in points:
                spent += p.cost_usd
                all_llm += p.all_llm_cost_usd
                spent_line.append(spent)
                all_llm_line.append(all_llm)
            ax.plot(times, all_llm_line, label="all-LLM estimate", color="#c62828", linestyle="--")
            ax.plot(times, spent_line, label="spent (routed)", color="#2e7d32")
            ax.legend(fontsize=8, loc="upper left")
        ax.set_ylabel("USD")
        ax.set_title(
            f"Spend: {spent_this_month_usd:.4f} of {budget_usd:.2f} USD budget this month",
            fontsize=10,
        )
        fig.autofmt_xdate()
        return _svg(fig, "Spend against the all-LLM estimate")
