"""``ragsvc reindex``: build a new collection and switch ``store.collection``'s alias to it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ragsvc.settings import Settings


def run(args: argparse.Namespace) -> int:
    """Hand the re-index to a running service when the store is embedded, else run it here."""
    from rich.console import Console

    from ingest.cli import run_job
    from ingest.handoff import report_from_dict, run_remote_reindex
    from ingest.report import render

    result = run_job(args, "re-index", run_remote_reindex, _run_here)
    if result is None:
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
