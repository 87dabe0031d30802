"""``ragsvc analyze "question"``: print the analysis of a question and its per-stage timings."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("question")
    parser.add_argument("--language", help="en or ja (default: detected)")
    parser.add_argument("--no-slm", action="store_true", help="fast classifier and rules only")
    parser.add_argument(
        "--no-index", action="store_true", help="skip the out-of-scope check against the index"
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from ragsvc.analysis.cascade import build_analyzer
    from ragsvc.analysis.scope import IndexScope
    from ragsvc.embedding import build_embedder
    from ragsvc.index import Index, open_index
    from ragsvc.models.llama import build_local_llm
    from ragsvc.settings import load_settings

    settings = load_settings(args.config)
    index: Index | None = None
    if args.no_index:
        embedder = build_embedder(settings.embedder, settings.model_cache_dir)
        embedder.warm_up()
    else:
        index = open_index(settings)
        embedder = index.embedder
    try:
        slm = None if args.no_slm else build_local_llm(settings)
        if slm is not None:
            slm.warm_up()
        scope = (
            IndexScope(index.retriever, settings.analysis.scope_neighbours)
            if index is not None
            else None
        )
        analysis = build_analyzer(settings, embedder, slm, scope).analyze(
            args.question, language=args.language
        )
    finally:
        if index is not None:
            index.close()
    console = Console()
    console.print_json(analysis.model_dump_json(exclude={"stages"}))
    table = Table(title="stages")
    for column in ("stage", "ms", "settled", "confidence", "detail"):
        table.add_column(column)
    for stage in analysis.stages:
        confidence = "" if stage.confidence is None else f"{stage.confidence:.2f}"
        table.add_row(
            stage.stage, f"{stage.latency_ms:.1f}", str(stage.settled), confidence, stage.detail
        )
    console.print(table)
    console.print(f"total {analysis.latency_ms:.1f} ms; decided by the {analysis.stage} stage")
    return 0
