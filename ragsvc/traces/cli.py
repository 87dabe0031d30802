"""``ragsvc traces cluster``: recurring questions that went to the expensive routes, as FAQ
candidates, with their counts, example wordings and what they cost.

Safe beside a running service: the trace store is SQLite in WAL mode, where a reader in another
process neither blocks the service's writer nor sees half of a batch, and this command only reads
(opening the store changes nothing in an existing file; its writer thread is given nothing to
write). The questions are embedded again with the configured embedder, the model that embedded
them at query time; the Qdrant index is not opened, since an embedded store on disk may be held
by the service.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ragsvc.settings import Settings
    from ragsvc.traces.cluster import QuestionCluster
    from ragsvc.traces.schema import Trace
    from ragsvc.traces.store import TraceStore

DEFAULT_ROUTES = ("llm_synthesis", "slm_answer")


def _routes(value: str) -> tuple[str, ...]:
    from ragsvc.traces.schema import ROUTES

    routes = tuple(r.strip() for r in value.split(",") if r.strip())
    unknown = [r for r in routes if r not in ROUTES]
    if unknown or not routes:
        raise argparse.ArgumentTypeError(
            f"unknown route(s) {', '.join(unknown) or repr(value)}; valid: {', '.join(ROUTES)}"
        )
    return routes


def _count(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {number}")
        return number

    return parse


def _similarity(value: str) -> float:
    number = float(value)
    if not 0.0 < number <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {number}")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=_count(1), default=7, help="the last N days (default 7)")
    parser.add_argument(
        "--limit", type=_count(1), default=5000, help="at most N traces, newest first (5000)"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--routes",
        type=_routes,
        default=DEFAULT_ROUTES,
        help=f"comma-separated routes to read (default {','.join(DEFAULT_ROUTES)})",
    )
    which.add_argument("--all-routes", action="store_true", help="read every route")
    parser.add_argument(
        "--threshold",
        type=_similarity,
        help="cosine similarity a question needs to its cluster's centre (default 0.75, for "
        "MiniLM; raise it for e5 embedders)",
    )
    parser.add_argument(
        "--min-size", type=_count(1), default=2, help="smallest cluster listed (default 2)"
    )
    parser.add_argument(
        "--examples", type=_count(0), default=3, help="example wordings per cluster (default 3)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> list[argparse.ArgumentParser]:
    """``traces`` and its subcommands, each wired to its handler; returns the leaf parsers (the
    main CLI adds ``--config`` to them)."""
    traces = commands.add_parser("traces", help="read the stored query traces")
    subcommands = traces.add_subparsers(dest="traces_command", required=True)
    cluster = subcommands.add_parser(
        "cluster", help="recurring questions on the expensive routes: candidates for new FAQs"
    )
    add_arguments(cluster)
    cluster.set_defaults(handler=run)
    return [cluster]


def recent_traces(
    store: TraceStore, routes: Sequence[str] | None, since: datetime, limit: int
) -> list[Trace]:
    """The newest ``limit`` traces since ``since`` on ``routes`` (all when None), newest first;
    one query per route, as a :class:`TraceQuery` names a single route."""
    from ragsvc.traces.store import TraceQuery

    if routes is None:
        return store.find(TraceQuery(since=since, limit=limit))
    traces = [t for r in routes for t in store.find(TraceQuery(route=r, since=since, limit=limit))]
    return sorted(traces, key=lambda t: t.created_at, reverse=True)[:limit]


def _embed(settings: Settings, texts: Sequence[str]) -> npt.NDArray[np.float32]:
    from ragsvc.embedding import build_embedder
    from ragsvc.traces.cluster import embed_distinct

    embedder = build_embedder(settings.embedder, settings.model_cache_dir)
    embedder.warm_up()
    return embed_distinct(embedder, texts)


def _print_table(summary: dict[str, Any], clusters: list[QuestionCluster]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    console.print(_header(summary), markup=False, highlight=False)
    if not clusters:
        return
    table = Table()
    for number in ("#", "count", "cost (USD, total)"):
        table.add_column(number, justify="right")
    table.add_column("routes", no_wrap=True)
    table.add_column("representative question", ratio=1)
    table.add_column("examples", ratio=1)
    for n, c in enumerate(clusters, start=1):
        table.add_row(
            str(n),
            str(c.count),
            f"{c.cost_usd:.4f}",
            "\n".join(f"{route} {count}" for route, count in c.routes.items()),
            Text(c.representative),  # user text: never read as rich markup
            Text("\n".join(f"- {e}" for e in c.examples)),
        )
    console.print(table)


def _header(s: dict[str, Any]) -> str:
    routes = "every route" if s["routes"] is None else ", ".join(s["routes"])
    line = (
        f"read {s['read']} traces ({routes}, last {s['days']} days), "
        f"skipped {s['skipped_redacted']} redacted; {s['clustered']} of {s['embedded']} questions "
        f"in {len(s['clusters'])} clusters of {s['min_size']}+ at threshold {s['threshold']:g}"
    )
    if s["read"] >= s["limit"]:
        line += f"; the limit of {s['limit']} was reached, older traces were not read"
    return line


def run(args: argparse.Namespace) -> int:
    from ragsvc.errors import ConfigError
    from ragsvc.settings import load_settings
    from ragsvc.traces.cluster import DEFAULT_THRESHOLD, TracedQuestion, cluster_questions
    from ragsvc.traces.schema import utc_now
    from ragsvc.traces.store import open_trace_store

    settings = load_settings(args.config)
    if settings.database.url is None and not settings.traces.path.is_file():
        raise ConfigError(
            f"no trace store at {settings.traces.path}; set traces.path to the file the service "
            "writes"
        )
    routes = None if args.all_routes else args.routes
    since = utc_now() - timedelta(days=args.days)
    store = open_trace_store(settings)
    try:
        traces = recent_traces(store, routes, since, args.limit)
    finally:
        store.close()
    questions = [TracedQuestion.of(t) for t in traces if not t.question_redacted]
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    clusters = (
        cluster_questions(
            questions,
            _embed(settings, [q.question for q in questions]),
            threshold,
            args.min_size,
            args.examples,
        )
        if questions
        else []
    )
    summary: dict[str, Any] = {
        "read": len(traces),
        "skipped_redacted": len(traces) - len(questions),
        "embedded": len(questions),
        "clustered": sum(c.count for c in clusters),
        "threshold": threshold,
        "min_size": args.min_size,
        "days": args.days,
        "since": since.isoformat(),
        "limit": args.limit,
        "routes": None if routes is None else list(routes),
        "clusters": [c.to_json() for c in clusters],
    }
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        _print_table(summary, clusters)
    return 0
