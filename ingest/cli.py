"""``ragsvc ingest`` / ``python -m ingest``: index FAQ and document files into Qdrant."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.report import IngestReport, render
from ragsvc.errors import RagsvcError

if TYPE_CHECKING:
    from rich.console import Console

    from ragsvc.settings import Settings


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="ingest", description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path, help="files or folders to index")
    parser.add_argument(
        "--prune",
        action="store_true",
        help="remove indexed documents of the given folders whose file is gone",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when any file failed (default: report only)"
    )
    parser.add_argument("--config", type=Path, help="settings file (default: configs/default.yaml)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


@contextmanager
def progress_bar(console: Console, quiet: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A transient bar on ``console``; yields the callback a job reports each file to."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=quiet,
        transient=True,
    ) as bar:
        task = bar.add_task("ingesting", total=None)

        def on_file(source: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=source[-40:])

        yield on_file


def run(args: argparse.Namespace) -> int:
    """Hand the job to a running service when the store is embedded, else run it here."""
    from rich.console import Console

    from ingest.handoff import run_remote, service_is_up, service_url
    from ragsvc.settings import load_settings

    console = Console(stderr=True)
    try:
        settings = load_settings(args.config)
        remote = settings.store.url is None and service_is_up(service_url(settings))
        with progress_bar(console, args.quiet) as on_file:
            if remote:
                console.print(f"handing the job to the running service at {service_url(settings)}")
                report = run_remote(settings, args.paths, args.prune, on_file)
            else:
                report = _run_here(settings, args.paths, args.prune, on_file)
    except RagsvcError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    Console().print(render(report))
    return 1 if args.strict and not report.ok else 0


def _run_here(
    settings: Settings, paths: list[Path], prune: bool, on_file: Callable[[str, int, int], None]
) -> IngestReport:
    from ingest.job import IngestJob
    from ragsvc.index import open_index

    index = open_index(settings)
    try:
        return IngestJob(index.store, settings).run(paths, prune=prune, progress=on_file)
    finally:
        index.close()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    return run(build_parser().parse_args(argv))
