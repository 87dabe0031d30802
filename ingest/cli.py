"""``ragsvc ingest`` / ``python -m ingest``: index FAQ and document files into Qdrant."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from ingest.report import IngestReport, render
from ragsvc.errors import RagsvcError

if TYPE_CHECKING:
    from rich.console import Console

    from ragsvc.settings import Settings

T = TypeVar("T")


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


OnFile = Callable[[str, int, int], None]
"""A job's progress: (source, files done, files total) after each file."""
Job = Callable[["Settings", OnFile], T]


@contextmanager
def _progress_bar(console: Console, quiet: bool) -> Iterator[OnFile]:
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


def run_job(args: argparse.Namespace, what: str, remote: Job[T], here: Job[T]) -> T | None:
    """``remote`` (the job handed to the running service) when the store is embedded and the
    service holds it, else ``here``, with a progress bar; None, after saying why, on an error."""
    from rich.console import Console

    from ingest.handoff import service_is_up, service_url
    from ragsvc.settings import load_settings

    console = Console(stderr=True)
    try:
        settings = load_settings(args.config)
        with _progress_bar(console, args.quiet) as on_file:
            if settings.store.url is None and service_is_up(service_url(settings)):
                console.print(
                    f"handing the {what} to the running service at {service_url(settings)}"
                )
                return remote(settings, on_file)
            return here(settings, on_file)
    except RagsvcError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return None


def run(args: argparse.Namespace) -> int:
    """Hand the job to a running service when the store is embedded, else run it here."""
    from rich.console import Console

    from ingest.handoff import run_remote

    report = run_job(
        args,
        "job",
        lambda settings, on_file: run_remote(settings, args.paths, args.prune, on_file),
        lambda settings, on_file: _run_here(settings, args.paths, args.prune, on_file),
    )
    if report is None:
        return 2
    Console().print(render(report))
    return 1 if args.strict and not report.ok else 0


def _run_here(settings: Settings, paths: list[Path], prune: bool, on_file: OnFile) -> IngestReport:
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
