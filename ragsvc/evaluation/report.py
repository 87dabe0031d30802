"""Per-policy figures of an evaluation run, and the Markdown table ``ragsvc eval`` prints.

Cost is priced after the fact from each answer's recorded LLM tokens under every preset in
``evaluation.price_presets`` (the SLM runs in process: free), so one run answers "what would this
cost on gpt-4o-mini, on gpt-4o, locally" without asking again.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ragsvc.evaluation.metrics import percentile
from ragsvc.evaluation.mix import LabelledQuestion
from ragsvc.evaluation.records import EvalRun, Outcome
from ragsvc.routes import CHEAP_ROUTES, ROUTES
from ragsvc.settings import Price

SPAN_CATEGORIES = ("policy", "passage_ja")


@dataclass(slots=True)
class PolicySummary:
    name: str
    n: int
    routes: Counter[str]
    part_routes: Counter[str]
    """Routes counted per answered part (a message answered whole counts once)."""
    quality: float
    in_scope: float | None
    """Quality over the in-scope questions: what the router must not lose to the cheap routes
    (hand-offs to out-of-scope questions cannot carry it)."""
    out_of_scope: float | None
    strict_quality: float | None
    """Quality under the earlier span rule (a gold span inside the answer text)."""
    by_category: dict[str, float]
    f1: float | None
    contains: float | None
    latency_p50_ms: float
    latency_p95_ms: float
    cost_per_1k: dict[str, float]
    degraded: int
    llm_calls: list[tuple[float | None, float]] = field(default_factory=list)
    routing_accuracy: float | None = None
    notes: list[str] = field(default_factory=list)


def cost_usd(outcome: Outcome, price: Price) -> float:
    prompt, completion = outcome.llm_tokens
    return (prompt * price.input_per_mtok + completion * price.output_per_mtok) / 1e6


def expected_route_ok(question: LabelledQuestion, route: str, parts: Sequence[str] = ()) -> bool:
    """The route suits the question's label: hand-off for out-of-scope; for multi-part questions
    each part routed on its own (``parts`` routes) or the LLM answering the whole; one of the
    cheaper answering routes for simple ones."""
    if question.expected_kind == "out_of_scope":
        return route == "no_answer"
    if question.expected_kind == "multi_part":
        return len(parts) >= 2 or route == "llm_synthesis"
    return not parts and route in CHEAP_ROUTES


def summarise(
    name: str,
    questions: Sequence[LabelledQuestion],
    outcomes: Sequence[Outcome],
    presets: Mapping[str, Price],
    routed: bool = False,
) -> PolicySummary:
    pairs = list(zip(questions, outcomes, strict=True))
    by_category: dict[str, list[float]] = {}
    for q, o in pairs:
        by_category.setdefault(q.category, []).append(o.quality)
    spans = [o for q, o in pairs if q.category in SPAN_CATEGORIES]
    latencies = [o.latency_ms for o in outcomes]
    in_scope = [o.quality for q, o in pairs if q.category != "out_of_scope"]
    out_of_scope = [o.quality for q, o in pairs if q.category == "out_of_scope"]
    strict = [o.strict_quality for o in outcomes if o.strict_quality is not None]
    return PolicySummary(
        name=name,
        n=len(outcomes),
        routes=Counter(o.route for o in outcomes),
        part_routes=Counter(r for o in outcomes for r in (o.part_routes or [o.route])),
        quality=statistics.fmean(o.quality for o in outcomes) if outcomes else 0.0,
        in_scope=statistics.fmean(in_scope) if in_scope else None,
        out_of_scope=statistics.fmean(out_of_scope) if out_of_scope else None,
        strict_quality=statistics.fmean(strict) if len(strict) == len(outcomes) else None,
        by_category={c: statistics.fmean(v) for c, v in sorted(by_category.items())},
        f1=statistics.fmean(o.f1 or 0.0 for o in spans) if spans else None,
        contains=statistics.fmean(o.contains or 0.0 for o in spans) if spans else None,
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        cost_per_1k={
            preset: 1000 * statistics.fmean(cost_usd(o, price) for o in outcomes)
            if outcomes
            else 0.0
            for preset, price in presets.items()
        },
        degraded=sum(o.degraded for o in outcomes),
        llm_calls=[call for o in outcomes for call in o.llm_calls],
        routing_accuracy=statistics.fmean(
            expected_route_ok(q, o.route, o.part_routes) for q, o in pairs
        )
        if routed and pairs
        else None,
    )


def summarise_run(run: EvalRun, presets: Mapping[str, Price]) -> list[PolicySummary]:
    questions = [r.question for r in run.results]
    return [
        summarise(
            policy,
            questions,
            [r.outcomes[policy] for r in run.results],
            presets,
            routed=policy == "routed",
        )
        for policy in run.policies
    ]


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def render_table(summaries: Sequence[PolicySummary]) -> str:
    """Policies side by side, one metric a row."""
    categories = sorted({c for s in summaries for c in s.by_category})
    presets = list(summaries[0].cost_per_1k) if summaries else []
    rows: list[tuple[str, list[str]]] = [
        ("questions", [str(s.n) for s in summaries]),
        ("answer quality (all)", [f"**{s.quality:.3f}**" for s in summaries]),
        ("quality: in scope", [f"**{_fmt(s.in_scope)}**" for s in summaries]),
        ("quality: out of scope", [_fmt(s.out_of_scope) for s in summaries]),
        (
            "quality, earlier span rule (span inside answer)",
            [_fmt(s.strict_quality) for s in summaries],
        ),
    ]
    rows += [(f"quality: {c}", [_fmt(s.by_category.get(c)) for s in summaries]) for c in categories]
    rows += [
        ("span token F1 (policy, passage_ja)", [_fmt(s.f1) for s in summaries]),
        ("span answer contained", [_fmt(s.contains) for s in summaries]),
        ("routing accuracy", [_fmt(s.routing_accuracy) for s in summaries]),
        ("latency p50 ms", [f"{s.latency_p50_ms:.0f}" for s in summaries]),
        ("latency p95 ms", [f"{s.latency_p95_ms:.0f}" for s in summaries]),
    ]
    rows += [
        (f"USD / 1,000 questions ({p})", [f"{s.cost_per_1k[p]:.4f}" for s in summaries])
        for p in presets
    ]
    rows += [
        (f"route: {route}", [_share(s.routes[route], s.n) for s in summaries]) for route in ROUTES
    ]
    rows += [
        (
            f"part route: {route}",
            [_share(s.part_routes[route], sum(s.part_routes.values())) for s in summaries],
        )
        for route in ROUTES
    ]
    rows.append(("degraded answers", [str(s.degraded) for s in summaries]))
    rows += [
        ("LLM calls", [str(len(s.llm_calls)) for s in summaries]),
        (
            "LLM first token p50 / p95 ms",
            [_p50_p95([c[0] for c in s.llm_calls]) for s in summaries],
        ),
        ("LLM call p50 / p95 ms", [_p50_p95([c[1] for c in s.llm_calls]) for s in summaries]),
    ]
    header = "| metric | " + " | ".join(s.name for s in summaries) + " |"
    lines = [header, "|---" * (len(summaries) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    return "\n".join(lines)


def _p50_p95(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{percentile(known, 50):.0f} / {percentile(known, 95):.0f}" if known else "—"


def _share(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.0f}%)" if total else "0"


def render_ratios(summaries: Sequence[PolicySummary], baseline: str = "all_llm") -> str:
    """routed / all-LLM for cost (each preset), p50 latency and quality: the articles' claims."""
    by_name = {s.name: s for s in summaries}
    routed, base = by_name.get("routed"), by_name.get(baseline)
    if routed is None or base is None:
        return f"(ratios need both the routed and the {baseline} policies)"
    lines = [f"routed / {baseline}:"]
    for preset, cost in routed.cost_per_1k.items():
        base_cost = base.cost_per_1k[preset]
        ratio = f"{cost / base_cost:.3f}" if base_cost > 0 else "n/a (both free)"
        lines.append(f"- cost ({preset}): {ratio}")
    speedup = base.latency_p50_ms / routed.latency_p50_ms if routed.latency_p50_ms else 0.0
    lines.append(
        f"- latency p50: {routed.latency_p50_ms:.0f} ms vs {base.latency_p50_ms:.0f} ms "
        f"({speedup:.1f}x faster)"
    )
    quality = routed.quality / base.quality if base.quality else 0.0
    lines.append(f"- quality: {routed.quality:.3f} vs {base.quality:.3f} ({100 * quality:.0f}%)")
    if routed.in_scope is not None and base.in_scope:
        share = routed.in_scope / base.in_scope
        lines.append(
            f"- quality in scope: {routed.in_scope:.3f} vs {base.in_scope:.3f} ({100 * share:.0f}%)"
        )
    lines.append(f"- latency p95: {routed.latency_p95_ms:.0f} ms vs {base.latency_p95_ms:.0f} ms")
    return "\n".join(lines)


def hit_at_k_line(run: EvalRun) -> str:
    by_category: dict[str, list[float]] = {}
    for r in run.results:
        if r.signals.hit_at_k is not None:
            by_category.setdefault(r.question.category, []).append(r.signals.hit_at_k)
    cells = ", ".join(f"{c} {statistics.fmean(v):.3f}" for c, v in sorted(by_category.items()))
    return f"retrieval hit@{run.top_k} (gold among the top {run.top_k} of each part): {cells}"
