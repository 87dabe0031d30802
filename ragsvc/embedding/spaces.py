"""The dense spaces of the index: the primary embedder's and, optionally, a multilingual one.

Every point carries a vector in each space (Qdrant named vectors). A question searches one space,
chosen by its language: English questions the primary (MiniLM: the best English FAQ and passage
top-1 here, bench/faq.py), Japanese ones the multilingual (multilingual-e5: MiniLM carries no
Japanese, and e5 also places a Japanese question near the English entry that answers it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ragsvc.embedding.base import Embedder, Vectors

PRIMARY = "dense"
MULTILINGUAL = "dense_multilingual"


@dataclass(frozen=True, slots=True)
class QueryVector:
    """A question embedded in the space it searches."""

    space: str
    vector: Vectors


@dataclass(frozen=True, slots=True)
class EmbeddingSpaces:
    primary: Embedder
    multilingual: Embedder | None = None
    multilingual_languages: frozenset[str] = frozenset()

    def embedders(self) -> dict[str, Embedder]:
        """Each space's embedder, by the name of its vector in the store."""
        spaces = {PRIMARY: self.primary}
        if self.multilingual is not None:
            spaces[MULTILINGUAL] = self.multilingual
        return spaces

    def space_for(self, language: str) -> str:
        if self.multilingual is not None and language in self.multilingual_languages:
            return MULTILINGUAL
        return PRIMARY

    def embedder(self, space: str) -> Embedder:
        return self.embedders()[space]

    @property
    def name(self) -> str:
        """What the index was built with (part of the ingest fingerprint)."""
        return " + ".join(e.name for e in self.embedders().values())

    def warm_up(self) -> None:
        for embedder in self.embedders().values():
            embedder.warm_up()

    def embed_passages(self, texts: Sequence[str]) -> dict[str, Vectors]:
        return {space: e.embed_passages(texts) for space, e in self.embedders().items()}

    def embed_query(self, text: str, language: str) -> QueryVector:
        space = self.space_for(language)
        return QueryVector(space, self.embedder(space).embed_queries([text])[0])

    def embed_queries(self, texts: Sequence[str], languages: Sequence[str]) -> list[QueryVector]:
        """Each text in its language's space, one batch per space."""
        vectors: list[QueryVector | None] = [None] * len(texts)
        for space, embedder in self.embedders().items():
            rows = [i for i, lang in enumerate(languages) if self.space_for(lang) == space]
            if rows:
                embedded = embedder.embed_queries([texts[i] for i in rows])
                for i, vector in zip(rows, embedded, strict=True):
                    vectors[i] = QueryVector(space, vector)
        return [v for v in vectors if v is not None]

    def unit_vectors(self, texts: Sequence[str], language: str) -> Vectors:
        """``texts`` in ``language``'s space, one row each (the splitter's similarity test)."""
        return self.embedder(self.space_for(language)).embed_queries(list(texts))


def spaces_of(embedder: Embedder | EmbeddingSpaces) -> EmbeddingSpaces:
    """``embedder`` as the spaces of an index with one dense space (tests, benches)."""
    return embedder if isinstance(embedder, EmbeddingSpaces) else EmbeddingSpaces(embedder)
