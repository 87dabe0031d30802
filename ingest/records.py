"""What readers produce: FAQ entries, or document blocks with their place in the document."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ragsvc.settings import IngestSettings


class ReadError(Exception):
    """A file cannot be read at all; the message says why (it is shown in the ingest summary)."""


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """What one file may make its parser do (``ingest.max_yaml_aliases``, ``max_json_depth``).
    Plain data, so the reader process need not import the settings (a third of its start)."""

    max_yaml_aliases: int
    max_json_depth: int

    @classmethod
    def of(cls, ingest: IngestSettings) -> ReadLimits:
        return cls(ingest.max_yaml_aliases, ingest.max_json_depth)


@dataclass(frozen=True, slots=True)
class FaqEntry:
    faq_id: str
    question: str
    answer: str
    alternatives: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    language: str | None = None
    url: str | None = None
    """Where the entry is published (an FAQ ``url`` column); links the citation."""


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph-like run of text under a heading path, on a page (PDF) or not."""

    text: str
    section: tuple[str, ...] = ()
    page: int | None = None


@dataclass(slots=True)
class ReadResult:
    """A file's content; ``warnings`` are problems with parts of it (e.g. a malformed CSV row)."""

    kind: str
    title: str
    faqs: list[FaqEntry] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    tags: tuple[str, ...] = ()
    language: str | None = None
    url: str | None = None
    """The document's own address (Markdown front matter, an HTML canonical link)."""
    warnings: list[str] = field(default_factory=list)
