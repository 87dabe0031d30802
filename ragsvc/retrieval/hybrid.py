"""Hybrid retrieval: one dense and one BM25 query to Qdrant, fused client-side. The dense query
searches the space of the question's language (:mod:`ragsvc.embedding.spaces`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np

from ragsvc.embedding.spaces import MULTILINGUAL, QueryVector
from ragsvc.retrieval.fusion import Hit, fuse
from ragsvc.settings import RetrievalSettings
from ragsvc.store.qdrant_store import ChunkStore
from ragsvc.store.schema import SearchFilters
from ragsvc.text.language import detect_language
from ragsvc.text.lexical import query_terms

Mode = Literal["hybrid", "dense", "lexical"]


class HybridRetriever:
    def __init__(
        self, store: ChunkStore, settings: RetrievalSettings, cross_language_offset: float = 0.0
    ) -> None:
        """``cross_language_offset``: added to multilingual cosines of passages in another
        language than the question's (``multilingual.cross_language_offset``)."""
        if settings.candidates < settings.top_k:
            raise ValueError(
                f"retrieval.candidates ({settings.candidates}) must be at least "
                f"retrieval.top_k ({settings.top_k})"
            )
        self.store = store
        self.spaces = store.spaces
        self.settings = settings
        self.cross_language_offset = cross_language_offset

    def search(
        self,
        query: str,
        filters: SearchFilters | None = None,
        top_k: int | None = None,
        mode: Mode = "hybrid",
        query_vector: QueryVector | None = None,
    ) -> list[Hit]:
        """The ``top_k`` best chunks for ``query``; pass ``query_vector`` when already embedded."""
        k = top_k or self.settings.top_k
        if k <= 0:
            raise ValueError(f"top_k must be greater than 0, got {k}")
        hits = self.candidates(query, filters, max(self.settings.candidates, k), mode, query_vector)
        return fuse(hits, self.dense_weight(query, mode), k)

    def dense_weight(self, query: str, mode: Mode = "hybrid", faq: bool = False) -> float:
        """The dense share of the fusion for ``query``'s language (``faq``: when matching FAQ
        entries, ``retrieval.faq_dense_weight``)."""
        if mode == "dense":
            return 1.0
        if mode == "lexical":
            return 0.0
        language = detect_language(query)
        multilingual = self.spaces.space_for(language) == MULTILINGUAL
        return self.settings.weight_for(language, faq=faq, multilingual=multilingual)

    def centroid_weight(self, query: str, mode: Mode = "hybrid") -> float:
        """The share of an FAQ point's cosine taken from its entry's centroid
        (``retrieval.faq_centroid_weight``); 0 when nothing is dense."""
        if mode == "lexical":
            return 0.0
        return self.settings.centroid_weight_for(detect_language(query))

    def candidates(
        self,
        query: str,
        filters: SearchFilters | None,
        limit: int,
        mode: Mode = "hybrid",
        query_vector: QueryVector | None = None,
    ) -> list[Hit]:
        """The union of the dense and the lexical top ``limit``, each hit with both scores (the
        dense one in the question's space)."""
        filters = filters or SearchFilters()
        hits: dict[str, Hit] = {}
        space, vector = self.space_for(query), None
        if mode != "lexical":
            embedded = query_vector if query_vector is not None else self.embed(query)
            space, vector = embedded.space, embedded.vector
            for p in self.store.search_dense(vector, filters, limit, space):
                hits[p.id] = Hit(p.id, p.payload, p.score, 0.0, space=space)
        if mode != "dense":
            for p in self.store.search_lexical(query_terms(query), filters, limit, space):
                if p.id in hits:
                    hits[p.id].lexical_score = p.score
                    continue
                dense = 0.0
                if vector is not None and p.dense is not None:
                    dense = float(np.dot(vector, p.dense))
                hits[p.id] = Hit(p.id, p.payload, dense, p.score, space=space)
        if space == MULTILINGUAL and self.cross_language_offset and vector is not None:
            self._raise_other_languages(hits.values(), detect_language(query))
        return list(hits.values())

    def _raise_other_languages(self, hits: Iterable[Hit], language: str) -> None:
        for hit in hits:
            if hit.written_in(language) != language:
                hit.dense_offset = self.cross_language_offset
                hit.dense_score += hit.dense_offset

    def embed(self, query: str) -> QueryVector:
        """``query`` in the space of its language."""
        return self.spaces.embed_query(query, detect_language(query))

    def space_for(self, query: str) -> str:
        return self.spaces.space_for(detect_language(query))
