"""The quality/cost picture of an evaluation: every replayed threshold setting, its Pareto front,
the measured policies, and the calibrated choice. PNG through matplotlib's Agg backend (no display).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ragsvc.evaluation.calibrate import Point


def pareto_front(points: Sequence[Point]) -> list[Point]:
    """The settings no other setting beats on both cost and quality, cheapest first."""
    front: list[Point] = []
    for p in sorted(points, key=lambda p: (p.cost_per_1k, -p.quality)):
        if not front or p.quality > front[-1].quality:
            front.append(p)
    return front


def plot_quality_cost(
    path: Path,
    points: Sequence[Point],
    policies: Mapping[str, tuple[float, float]],
    preset: str,
    faq_min_precision: float,
    chosen: Point | None = None,
) -> Path:
    """``policies``: name -> (USD per 1,000 questions, quality) as measured. Settings whose FAQ
    answers fall under ``faq_min_precision`` are drawn apart: calibration never picks them, and the
    Pareto front is drawn over the others."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    admissible = [p for p in points if p.faq_precise(faq_min_precision)]
    excluded = [p for p in points if not p.faq_precise(faq_min_precision)]
    for group, color, label in (
        (admissible, "tab:gray", "threshold settings (replayed)"),
        (excluded, "tab:pink", f"excluded: FAQ precision < {faq_min_precision:g}"),
    ):
        if group:
            ax.scatter(
                [p.cost_per_1k for p in group],
                [p.quality for p in group],
                s=6,
                alpha=0.15,
                color=color,
                label=f"routed, {len(group)} {label}",
            )
    if admissible:
        front = pareto_front(admissible)
        ax.plot(
            [p.cost_per_1k for p in front],
            [p.quality for p in front],
            color="tab:blue",
            label="Pareto front",
        )
    for name, (cost, quality) in policies.items():
        ax.scatter([cost], [quality], s=60, marker="D", zorder=3, label=f"{name} (measured)")
        ax.annotate(name, (cost, quality), textcoords="offset points", xytext=(6, 4))
    if chosen is not None:
        ax.scatter(
            [chosen.cost_per_1k],
            [chosen.quality],
            s=140,
            marker="*",
            color="tab:red",
            zorder=4,
            label="calibrated choice",
        )
    ax.set_xlabel(f"USD per 1,000 questions ({preset} prices)")
    ax.set_ylabel("answer quality (share answered correctly)")
    ax.set_title("ragsvc: answer quality against cost")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower center")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
