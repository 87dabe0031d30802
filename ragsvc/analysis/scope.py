"""How close a question is to what the index holds: the out-of-scope signal and the domain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ragsvc.embedding.base import Vectors
from ragsvc.retrieval.hybrid import HybridRetriever
from ragsvc.store.schema import SearchFilters


@dataclass(frozen=True, slots=True)
class Nearest:
    similarity: float
    tags: list[str] = field(default_factory=list)


class ScopeCheck(Protocol):
    def nearest(self, question: str, vector: Vectors) -> Nearest: ...


class IndexScope:
    """The top-1 dense similarity against the live index (one Qdrant query, ~ms)."""

    def __init__(self, retriever: HybridRetriever) -> None:
        self.retriever = retriever

    def nearest(self, question: str, vector: Vectors) -> Nearest:
        hits = self.retriever.store.search_dense(vector, SearchFilters(), 1)
        if not hits:
            return Nearest(0.0)
        return Nearest(hits[0].score, list(hits[0].payload.get("tags") or []))
