"""``ragsvc calibrate``: the routing thresholds that minimise cost at a quality floor.

One knob, as in cost-aware routing (CARROT; RouteLLM's ``calibrate_threshold``): the operator names
the share of the all-LLM policy's quality they accept (``evaluation.quality_target``, 0.95), and
the calibration picks, among the replayed threshold settings
(:func:`ragsvc.evaluation.replay.grid`), the cheapest under ``evaluation.calibrate_preset`` whose
quality reaches that share and whose FAQ-direct answers are right at least
``evaluation.faq_min_precision`` of the time. Ties go to the
higher quality, then to the lower p50 latency. When no setting reaches the floor, the best-quality
setting is chosen and the result says so.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from ragsvc.evaluation.metrics import percentile
from ragsvc.evaluation.records import EvalRun, QuestionResult
from ragsvc.evaluation.replay import CHOICES, Choice, Thresholds, decide, grid, outcome_for
from ragsvc.evaluation.report import cost_usd
from ragsvc.settings import EvaluationSettings, Price


@dataclass(frozen=True, slots=True)
class Point:
    """The replayed router under one threshold setting."""

    thresholds: Thresholds
    quality: float
    cost_per_1k: float
    latency_p50_ms: float
    faq_answered: int
    faq_precision: float | None

    def faq_precise(self, minimum: float) -> bool:
        """No FAQ-direct answers, or at least ``minimum`` of them right."""
        return self.faq_precision is None or self.faq_precision >= minimum


@dataclass(frozen=True, slots=True)
class Calibration:
    chosen: Point
    current: Point
    baseline_quality: float
    floor: float
    feasible: bool
    points: list[Point]


def sweep(
    results: Sequence[QuestionResult], price: Price, settings: Sequence[Thresholds] | None = None
) -> list[Point]:
    """Every threshold setting replayed; each question's candidate outcomes scored once."""
    table = [{c: _figures(r, c, price) for c in CHOICES if _available(r, c)} for r in results]
    points = []
    for t in settings if settings is not None else grid():
        picks = [(decide(r, t), row) for r, row in zip(results, table, strict=True)]
        figures = [row[choice] for choice, row in picks]
        faq = [f[0] for (choice, _), f in zip(picks, figures, strict=True) if choice == "faq_top"]
        points.append(
            Point(
                thresholds=t,
                quality=statistics.fmean(f[0] for f in figures),
                cost_per_1k=1000 * statistics.fmean(f[1] for f in figures),
                latency_p50_ms=percentile([f[2] for f in figures], 50),
                faq_answered=len(faq),
                faq_precision=statistics.fmean(faq) if faq else None,
            )
        )
    return points


def _available(result: QuestionResult, choice: Choice) -> bool:
    return choice != "faq_top" or result.faq_top is not None


def _figures(result: QuestionResult, choice: Choice, price: Price) -> tuple[float, float, float]:
    outcome = outcome_for(result, choice)
    return outcome.quality, cost_usd(outcome, price), outcome.latency_ms


def calibrate(run: EvalRun, goal: EvaluationSettings) -> Calibration:
    price = goal.price_presets[goal.calibrate_preset]
    results = run.results
    baseline = statistics.fmean(r.outcomes["all_llm"].quality for r in results)
    floor = goal.quality_target * baseline
    points = sweep(results, price)
    (current,) = sweep(results, price, [Thresholds.of(run.thresholds)])

    minimum = goal.faq_min_precision
    feasible = [p for p in points if p.quality >= floor and p.faq_precise(minimum)]
    if feasible:
        chosen = min(feasible, key=lambda p: (p.cost_per_1k, -p.quality, p.latency_p50_ms))
    else:
        chosen = max(points, key=lambda p: (p.faq_precise(minimum), p.quality, -p.cost_per_1k))
    return Calibration(chosen, current, baseline, floor, bool(feasible), points)


def write_config(base: Path, out: Path, thresholds: Thresholds, note: str) -> None:
    """``base`` (a settings file) with the routing thresholds replaced, written to ``out``."""
    data = yaml.safe_load(base.read_text()) or {}
    data.setdefault("routing", {}).update(thresholds.as_dict())
    out.parent.mkdir(parents=True, exist_ok=True)
    header = "".join(f"# {line}\n" for line in note.splitlines())
    out.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def describe(c: Calibration, preset: str) -> str:
    rows = [("current", c.current), ("chosen", c.chosen)]
    lines = [
        f"all-LLM quality {c.baseline_quality:.3f}; floor {c.floor:.3f}; cost under {preset}; "
        f"{len(c.points)} settings replayed"
        + ("" if c.feasible else "; NO setting reaches the floor: the best-quality one is shown"),
        "",
        "| setting | faq | relevance | direct | esc. grounding | esc. completeness | quality "
        "| USD / 1k | p50 ms | FAQ answers | FAQ precision |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, p in rows:
        t = p.thresholds
        precision = "—" if p.faq_precision is None else f"{p.faq_precision:.3f}"
        lines.append(
            f"| {name} | {t.faq_threshold:g} | {t.relevance_threshold:g} | "
            f"{t.direct_threshold:g} | {t.escalate_confidence:g} | {t.escalate_completeness:g} "
            f"| {p.quality:.3f} | {p.cost_per_1k:.4f} | {p.latency_p50_ms:.0f} | "
            f"{p.faq_answered} | {precision} |"
        )
    return "\n".join(lines)
