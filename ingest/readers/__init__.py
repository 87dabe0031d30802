"""One reader per file format, chosen by suffix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ingest.readers.documents import read_html, read_markdown, read_pdf, read_text
from ingest.readers.faq import read_faq_csv, read_faq_json, read_faq_jsonl, read_faq_yaml
from ingest.records import ReadError, ReadLimits, ReadResult

Reader = Callable[[Path, ReadLimits], ReadResult]
"""Reads one file; the limits bound what it may make the parser do, in the formats that have such
bounds (YAML aliases, JSON nesting)."""

READERS: dict[str, Reader] = {
    ".csv": read_faq_csv,
    ".json": read_faq_json,
    ".jsonl": read_faq_jsonl,
    ".yaml": read_faq_yaml,
    ".yml": read_faq_yaml,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".txt": read_text,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
}


def read_file(path: Path, limits: ReadLimits | None = None) -> ReadResult:
    """The file's content, read in this process (``ingest.worker`` reads in a bounded one);
    ``limits`` default to those of the default settings."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ReadError(
            f"unsupported file type {path.suffix!r}; supported: {', '.join(sorted(READERS))}"
        )
    if limits is None:
        from ragsvc.settings import IngestSettings

        limits = ReadLimits.of(IngestSettings())
    return reader(path, limits)


__all__ = ["READERS", "Reader", "read_file"]
