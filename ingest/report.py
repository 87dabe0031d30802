"""What an ingest run did, as data (for the HTTP API) and as a table (for the terminal)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class FileProblem:
    source: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[FileProblem] = field(default_factory=list)
    warnings: list[FileProblem] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    chunks_written: int = 0
    staged_removed: int = 0
    repaired: list[str] = field(default_factory=list)
    """Documents left with two live versions by a publish cut short; the newest was kept."""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def render(report: IngestReport) -> Any:
    """A rich renderable: the counts, then every failure and warning with its reason."""
    from rich.console import Group
    from rich.table import Table

    counts = Table(title="ingest summary", show_header=True)
    for column in ("added", "updated", "unchanged", "failed", "pruned", "chunks", "seconds"):
        counts.add_column(column, justify="right")
    counts.add_row(
        str(len(report.added)),
        str(len(report.updated)),
        str(len(report.unchanged)),
        str(len(report.failed)),
        str(len(report.pruned)),
        str(report.chunks_written),
        f"{report.seconds:.2f}",
    )
    parts: list[Any] = [counts]
    for title, problems in (("failed (skipped)", report.failed), ("warnings", report.warnings)):
        if problems:
            table = Table(title=title, show_header=True)
            table.add_column("file")
            table.add_column("reason")
            for problem in problems:
                table.add_row(problem.source, problem.reason)
            parts.append(table)
    return Group(*parts)
