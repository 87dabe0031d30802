"""``ragsvc eval`` and ``ragsvc calibrate``.

    ragsvc eval --data ../shared/data --per-category 10 --with-llm-server
    ragsvc calibrate --report var/eval/report.json --out configs/calibrated.yaml
    ragsvc eval --config configs/calibrated.yaml --policies routed --reuse var/eval/report.json \
        --report var/eval/report-calibrated.json --with-llm-server
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ragsvc.evaluation.records import EvalRun
    from ragsvc.settings import EvaluationSettings

DEFAULT_WORKDIR = Path("var/eval")
ALL_POLICIES = "routed,all_llm,all_slm,retrieval_only"


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group(
        "questions (either a labelled set, or a mix built from data)"
    )
    source.add_argument("--questions", type=Path, help="labelled questions (JSONL)")
    source.add_argument("--corpus", type=Path, help="the folder the questions are asked of")
    source.add_argument(
        "--data",
        type=Path,
        default=Path("../shared/data"),
        help="public data to build the help-desk mix from (default: ../shared/data)",
    )
    source.add_argument("--per-category", type=int, default=10, help="mix size per category")
    source.add_argument("--seed", type=int, default=13)
    source.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument(
        "--policies", default=ALL_POLICIES, help=f"comma-separated (default {ALL_POLICIES})"
    )
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--report", type=Path, help="JSON report (default WORKDIR/report.json)")
    parser.add_argument(
        "--reuse",
        type=Path,
        help="an earlier report: policies it ran and this run does not are taken from it",
    )
    parser.add_argument(
        "--rescore",
        type=Path,
        metavar="REPORT",
        help="score an earlier report again from the traces in its folder (no model is asked); "
        "written to --report, default REPORT with -rescored",
    )
    parser.add_argument(
        "--with-llm-server",
        action="store_true",
        help="start llama_cpp.server on loopback with llm.local_server.model as the LLM",
    )


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report", type=Path, default=DEFAULT_WORKDIR / "report.json", help="a ragsvc eval report"
    )
    parser.add_argument("--out", type=Path, default=Path("configs/calibrated.yaml"))
    parser.add_argument("--target", type=float, help="quality floor as a share of all-LLM")
    parser.add_argument("--preset", help="price preset to minimise (evaluation.price_presets)")
    parser.add_argument(
        "--from-shadow",
        action="store_true",
        help="suggest threshold raises from the live shadow verdicts (the trace store's) instead "
        "of an eval report; prints a variant to try, writes nothing",
    )
    parser.add_argument(
        "--days", type=int, default=30, help="with --from-shadow: the verdicts of the last N days"
    )


def run_rescore(args: argparse.Namespace) -> int:
    from ragsvc.evaluation.records import EvalRun
    from ragsvc.evaluation.rescore import rescore
    from ragsvc.evaluation.runner import eval_settings
    from ragsvc.settings import load_settings
    from ragsvc.store.qdrant_store import open_backend, texts_of
    from ragsvc.traces.store import open_trace_store

    source: Path = args.rescore
    run = EvalRun.model_validate_json(source.read_text())
    settings = eval_settings(load_settings(args.config), source.parent)
    traces, backend = open_trace_store(settings), open_backend(settings.store)
    try:
        result = rescore(run, traces, lambda ids: texts_of(backend, ids))
    finally:
        traces.close()
        backend.close()
    report = args.report or source.with_name(f"{source.stem}-rescored.json")
    report.write_text(result.model_dump_json(indent=1))
    print(render_run(result, settings.evaluation, report))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from ragsvc.errors import ConfigError
    from ragsvc.evaluation.mix import load_questions, write_mix
    from ragsvc.evaluation.policies import POLICIES
    from ragsvc.evaluation.records import EvalRun
    from ragsvc.evaluation.runner import eval_settings
    from ragsvc.evaluation.runner import run_eval as run
    from ragsvc.settings import load_settings

    if args.rescore is not None:
        return run_rescore(args)
    names = [p.strip() for p in args.policies.split(",") if p.strip()]
    policies = [p for p in POLICIES if p in names]
    unknown = [p for p in names if p not in POLICIES]
    if unknown or not policies:
        raise ConfigError(f"unknown policy {unknown}; valid: {', '.join(POLICIES)}")
    if (args.questions is None) != (args.corpus is None):
        raise ConfigError("--questions and --corpus go together")
    if args.questions is None:
        if not (args.data / "README.md").is_file():
            raise ConfigError(f"no evaluation data at {args.data}; pass --data or --questions")
        args.questions = write_mix(args.data, args.workdir / "mix", args.per_category, args.seed)
        args.corpus = args.questions.parent / "corpus"
        print(f"help-desk mix written to {args.questions.parent}", file=sys.stderr)
    questions = load_questions(args.questions)[: args.limit]
    earlier = EvalRun.model_validate_json(args.reuse.read_text()) if args.reuse else None
    settings = eval_settings(load_settings(args.config), args.workdir)
    with ExitStack() as stack:
        if args.with_llm_server:
            from ragsvc.llm.local_server import serving_local_llm

            log = args.workdir / "llm-server.log"
            settings = stack.enter_context(serving_local_llm(settings, log))
        result = run(
            settings,
            questions,
            args.corpus,
            policies,
            questions_file=str(args.questions),
            config=str(args.config) if args.config else None,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    if earlier is not None:
        result = result.merged_with(earlier)
    report = args.report or args.workdir / "report.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(result.model_dump_json(indent=1))
    print(render_run(result, settings.evaluation, report))
    return 0


def render_run(run: EvalRun, goal: EvaluationSettings, report: Path) -> str:
    """The terminal report: the table, the ratios, retrieval, and the plot (written beside)."""
    from ragsvc.evaluation.calibrate import sweep
    from ragsvc.evaluation.plot import plot_quality_cost
    from ragsvc.evaluation.replay import replayable
    from ragsvc.evaluation.report import (
        hit_at_k_line,
        render_ratios,
        render_table,
        summarise_run,
    )

    summaries = summarise_run(run, goal.price_presets)
    lines = [
        f"### ragsvc eval: {len(run.results)} questions from {run.questions_file}, "
        f"{run.corpus_chunks} chunks; models: "
        + ", ".join(f"{k} {v}" for k, v in run.models.items()),
        "",
        "thresholds: " + ", ".join(f"{k} {v:g}" for k, v in run.thresholds.items()),
        "",
        render_table(summaries),
        "",
        render_ratios(summaries),
        "",
        hit_at_k_line(run),
        f"report: {report}",
    ]
    if replayable(run.results):
        preset = goal.calibrate_preset
        points = sweep(run.results, goal.price_presets[preset])
        measured = {s.name: (s.cost_per_1k[preset], s.quality) for s in summaries}
        plot = plot_quality_cost(
            report.with_suffix(".png"), points, measured, preset, goal.faq_min_precision
        )
        lines.append(f"plot: {plot}")
    return "\n".join(lines)


def run_calibrate(args: argparse.Namespace) -> int:
    from ragsvc.errors import ConfigError
    from ragsvc.evaluation.calibrate import calibrate, describe, write_config
    from ragsvc.evaluation.plot import plot_quality_cost
    from ragsvc.evaluation.records import EvalRun
    from ragsvc.evaluation.replay import REQUIRED_POLICIES, replayable
    from ragsvc.evaluation.report import summarise_run
    from ragsvc.settings import DEFAULT_CONFIG, load_settings

    if args.from_shadow:
        from ragsvc.control.suggest_cli import run_from_shadow

        return run_from_shadow(load_settings(args.config), args.days)
    if not args.report.is_file():
        raise ConfigError(f"no eval report at {args.report}; run `ragsvc eval` first")
    run = EvalRun.model_validate_json(args.report.read_text())
    if not replayable(run.results):
        raise ConfigError(
            f"{args.report} lacks a policy calibration replays: it needs {REQUIRED_POLICIES}"
        )
    goal = load_settings(args.config).evaluation
    updates = {"quality_target": args.target, "calibrate_preset": args.preset}
    goal = goal.model_validate(
        {**goal.model_dump(), **{k: v for k, v in updates.items() if v is not None}}
    )
    result = calibrate(run, goal)
    print(describe(result, goal.calibrate_preset))
    note = (
        f"Written by `ragsvc calibrate` on {datetime.now(UTC):%Y-%m-%d} from {args.report}:\n"
        f"quality {result.chosen.quality:.3f} (floor {result.floor:.3f} = "
        f"{goal.quality_target:g} x all-LLM {result.baseline_quality:.3f}), "
        f"{result.chosen.cost_per_1k:.4f} USD / 1,000 questions ({goal.calibrate_preset})."
    )
    write_config(args.config or DEFAULT_CONFIG, args.out, result.chosen.thresholds, note)
    summaries = summarise_run(run, goal.price_presets)
    preset = goal.calibrate_preset
    measured = {s.name: (s.cost_per_1k[preset], s.quality) for s in summaries}
    plot = plot_quality_cost(
        args.report.with_name(args.report.stem + "-calibrated.png"),
        result.points,
        measured,
        preset,
        goal.faq_min_precision,
        result.chosen,
    )
    print(f"\nthresholds written to {args.out}; plot: {plot}")
    print(f"check it: ragsvc eval --config {args.out} --policies routed --reuse {args.report}")
    return 0 if result.feasible else 1
