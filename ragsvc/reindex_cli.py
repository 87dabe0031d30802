"""``ragsvc reindex``: build a new collection and switch ``store.collection``'s alias to it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ragsvc.errors import RagsvcError

if TYPE_CHECKING:
    from ragsvc.settings import Settings


def run(args: argparse.Namespace) -> int:
    """Hand the re-index to a running service when the store is embedded, else run it here."""
    from rich.console import Console

    from ingest.cli import progress_bar
    from ingest.handoff import report_from_dict, run_remote_reindex, service_is_up, service_url
    from ingest.report import render
    from ragsvc.settings import load_settings

    console = Console(stderr=True)
    try:
        settings = load_settings(args.config)
        remote = settings.store.url is None and service_is_up(service_url(settings))
        with progress_bar(console, args.quiet) as on_file:
            if remote:
                console.print(f"handing the re-index to the service at {service_url(settings)}")
                result = run_remote_reindex(settings, on_file)
            else:
                result = _run_here(settings, on_file)
    except RagsvcError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    out = Console()
    out.print(render(report_from_dict(result)))
    out.print(
        f"alias {result['alias']!r} now points at collection {result['collection']!r} "
        f"(was {result['previous']!r}); the former collection is kept: drop it once no replica "
        "reads it"
    )
    return 0


def _run_here(settings: Settings, on_file: Callable[[str, int, int], None]) -> dict[str, Any]:
    from ragsvc.index import build_spaces
    from ragsvc.reindex import reindex
    from ragsvc.store.qdrant_store import ChunkStore, open_backend

    spaces = build_spaces(settings)  # the settings' embedders: those of the new collection
    spaces.warm_up()
    served = ChunkStore(open_backend(settings.store), spaces)  # read for its documents only
    try:
        return reindex(served, settings, progress=on_file).to_dict()
    finally:
        served.close()
