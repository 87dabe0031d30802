"""What a point in the index looks like. Bump ``SCHEMA_VERSION`` on any incompatible change."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ragsvc.embedding.base import Vectors

SCHEMA_VERSION = 2
LEXICAL_VECTOR = "lexical"
# A point's publication state: a keyword, not a boolean (Qdrant Edge 0.9 did not match a boolean
# payload value). Schema 1 had ``live: bool``.
STATE = "state"
LIVE = "live"
STAGED = "staged"
# Payload fields that filters select on: each gets a keyword index.
KEYWORD_FIELDS = (
    STATE,
    "doc_id",
    "doc_hash",
    "kind",
    "language",
    "tags",
    "source_root",
    "faq.faq_id",
    "faq.field",
)
INTEGER_FIELDS = ("chunk_no",)
POINT_NAMESPACE = uuid.UUID("6f1c1b8e-6a43-4f4e-9d55-0d7f3f1c2a90")

Kind = Literal["faq", "doc"]


@dataclass(frozen=True, slots=True)
class StoredPoint:
    """A point as a search or a scroll returns it; ``dense`` only where the caller asked for it."""

    id: str
    score: float
    payload: dict[str, Any]
    dense: Vectors | None = None


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """What a search may return: published points, optionally of one kind, one language, with
    any of ``tags``, and with one tag of each group of ``context_tags`` (the caller's context)."""

    kind: str | None = None
    language: str | None = None
    tags: Sequence[str] = field(default_factory=tuple)
    context_tags: Sequence[Sequence[str]] = field(default_factory=tuple)


def point_id(doc_id: str, doc_hash: str, chunk_no: int) -> str:
    """Deterministic: re-ingesting an unchanged document rewrites the same points.

    The document's content hash is part of the id so that a changed document's new chunks are
    written beside the old ones (staged, invisible) and the old ones removed only after the new
    ones are published: a query never sees half of either version.
    """
    return str(uuid.uuid5(POINT_NAMESPACE, f"{doc_id}:{doc_hash}:{chunk_no}"))


@dataclass(slots=True)
class Chunk:
    """One indexed unit: a passage of a document, or one phrasing of an FAQ question."""

    doc_id: str
    doc_hash: str
    chunk_no: int
    kind: Kind
    text: str
    source: str
    source_root: str
    title: str
    language: str
    content_hash: str
    ingested_at: str
    doc_chunks: int = 0
    section: list[str] = field(default_factory=list)
    page: int | None = None
    tags: list[str] = field(default_factory=list)
    embed_text: str = ""
    lexical_text: str = ""
    faq: dict[str, Any] | None = None
    url: str | None = None

    @property
    def id(self) -> str:
        return point_id(self.doc_id, self.doc_hash, self.chunk_no)

    def payload(self, live: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "doc_id": self.doc_id,
            "doc_hash": self.doc_hash,
            "chunk_no": self.chunk_no,
            "kind": self.kind,
            "text": self.text,
            "source": self.source,
            "source_root": self.source_root,
            "title": self.title,
            "section": self.section,
            "page": self.page,
            "language": self.language,
            "tags": self.tags,
            "content_hash": self.content_hash,
            "ingested_at": self.ingested_at,
            "doc_chunks": self.doc_chunks,
            "url": self.url,
            STATE: LIVE if live else STAGED,
        }
        if self.faq is not None:
            data["faq"] = self.faq
        return data
