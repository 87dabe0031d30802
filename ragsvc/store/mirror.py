"""Searches over the embedded Qdrant store, answered from arrays in milliseconds.

Qdrant's embedded (local) mode searches by brute force in Python: it checks the payload filter
point by point and loops over every point's terms for a sparse dot product. On the 1,862-chunk
eval corpus one filtered FAQ search (a dense and a BM25 query) took ~80 ms on 2 cores, most of it
in the filter, and the service's searches queue behind one lock. The mirror holds the same points
as a dense matrix, an inverted index of the stored BM25 term weights and columns of the filtered
payload fields, and gives the same scores, computed the way local mode computes them: cosine of
the normalised vectors; BM25 with Qdrant's IDF ``ln((n - df + 0.5) / (df + 0.5) + 1)`` over every
point holding a lexical vector, staged ones included; points sharing no term with the query left
out. ``tests/integration/test_search_mirror.py`` checks it against Qdrant's own answers.

Coherence: the embedded store can be opened by one process only, and every write of ragsvc goes
through :class:`~ragsvc.store.qdrant_store.ChunkStore`, which calls :meth:`invalidate` after it;
the next search rebuilds the arrays from one scroll of the collection (~80 ms for 1,862 points).
A Qdrant server searches natively and gets no mirror.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

from ragsvc.embedding.base import Vectors
from ragsvc.embedding.spaces import PRIMARY
from ragsvc.store.schema import LEXICAL_VECTOR, SearchFilters, StoredPoint
from ragsvc.store.scroll import scroll_records
from ragsvc.text.lexical import SparseTerms


@dataclass(slots=True)
class _Arrays:
    ids: list[str]
    payloads: list[dict[str, Any]]
    dense: dict[str, np.ndarray]  # per space: (points, dimension), rows normalised
    postings: dict[int, tuple[np.ndarray, np.ndarray]]  # term id -> (rows, stored BM25 weights)
    lexical_points: int  # points holding a lexical vector: the IDF corpus
    live: np.ndarray
    kind: np.ndarray
    language: np.ndarray
    tags: list[frozenset[str]]

    def mask(self, filters: SearchFilters) -> np.ndarray:
        keep = self.live.copy()
        if filters.kind:
            keep &= self.kind == filters.kind
        if filters.language:
            keep &= self.language == filters.language
        if filters.tags:
            wanted = set(filters.tags)
            keep &= np.fromiter((not wanted.isdisjoint(t) for t in self.tags), bool, len(self.ids))
        return keep


class SearchMirror:
    def __init__(
        self, client: QdrantClient, collection: str, dimensions: Mapping[str, int]
    ) -> None:
        self.client = client
        self.collection = collection
        self.dimensions = dict(dimensions)
        self._lock = threading.Lock()
        self._generation = 0
        self._built: tuple[int, _Arrays] | None = None

    def invalidate(self) -> None:
        """The collection changed: the next search rebuilds the arrays."""
        self._generation += 1

    def search_dense(
        self, vector: Vectors, filters: SearchFilters, limit: int, space: str = PRIMARY
    ) -> list[StoredPoint]:
        arrays = self._arrays()
        if not arrays.ids:
            return []
        query = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        scores = arrays.dense[space] @ (query / norm if norm else query)
        return self._top(arrays, scores, arrays.mask(filters), limit, space)

    def search_lexical(
        self, terms: SparseTerms, filters: SearchFilters, limit: int, space: str = PRIMARY
    ) -> list[StoredPoint]:
        arrays = self._arrays()
        scores = np.zeros(len(arrays.ids), dtype=np.float64)
        overlap = np.zeros(len(arrays.ids), dtype=bool)
        for term, weight in zip(terms.indices, terms.values, strict=True):
            posting = arrays.postings.get(term)
            if posting is None:
                continue
            rows, values = posting
            scores[rows] += weight * _idf(len(rows), arrays.lexical_points) * values
            overlap[rows] = True
        if not overlap.any():
            return []
        mask = arrays.mask(filters) & overlap
        return self._top(arrays, scores.astype(np.float32), mask, limit, space)

    def _top(
        self, arrays: _Arrays, scores: np.ndarray, mask: np.ndarray, limit: int, space: str
    ) -> list[StoredPoint]:
        candidates = np.flatnonzero(mask)
        if len(candidates) > limit:
            candidates = candidates[np.argpartition(-scores[candidates], limit - 1)[:limit]]
        best = candidates[np.argsort(-scores[candidates], kind="stable")]
        return [
            StoredPoint(arrays.ids[i], float(scores[i]), arrays.payloads[i], arrays.dense[space][i])
            for i in best
        ]

    def _arrays(self) -> _Arrays:
        with self._lock:
            generation = self._generation
            if self._built is None or self._built[0] != generation:
                self._built = (generation, self._load())
            return self._built[1]

    def _load(self) -> _Arrays:
        ids: list[str] = []
        payloads: list[dict[str, Any]] = []
        dense: dict[str, list[Sequence[float]]] = {name: [] for name in self.dimensions}
        term_rows: list[tuple[list[int], list[float]]] = []
        lexical_points = 0
        for record in scroll_records(self.client, self.collection, with_vectors=True):
            vectors = record.vector if isinstance(record.vector, dict) else {}
            terms = vectors.get(LEXICAL_VECTOR)
            if isinstance(terms, models.SparseVector):
                lexical_points += 1
                term_rows.append((list(terms.indices), list(terms.values)))
            else:
                term_rows.append(([], []))
            ids.append(str(record.id))
            payloads.append(dict(record.payload or {}))
            for name, rows in dense.items():
                rows.append(vectors[name])  # type: ignore[arg-type]
        matrices = {
            name: np.asarray(rows, dtype=np.float32).reshape(len(ids), self.dimensions[name])
            for name, rows in dense.items()
        }
        return _build(ids, payloads, matrices, term_rows, lexical_points)


def _build(
    ids: list[str],
    payloads: list[dict[str, Any]],
    dense: dict[str, np.ndarray],
    term_rows: list[tuple[list[int], list[float]]],
    lexical_points: int,
) -> _Arrays:
    lists: dict[int, tuple[list[int], list[float]]] = {}
    for row, (indices, weights) in enumerate(term_rows):
        for index, weight in zip(indices, weights, strict=True):
            rows, values = lists.setdefault(index, ([], []))
            rows.append(row)
            values.append(weight)
    return _Arrays(
        ids=ids,
        payloads=payloads,
        dense=dense,
        postings={
            term: (np.array(rows, dtype=np.int64), np.array(values, dtype=np.float64))
            for term, (rows, values) in lists.items()
        },
        lexical_points=lexical_points,
        live=np.array([p.get("live") is True for p in payloads], dtype=bool),
        kind=np.array([p.get("kind") for p in payloads], dtype=object),
        language=np.array([p.get("language") for p in payloads], dtype=object),
        tags=[frozenset(p.get("tags") or ()) for p in payloads],
    )


def _idf(document_frequency: int, points: int) -> float:
    """Qdrant's BM25 IDF (``Modifier.IDF``)."""
    return math.log((points - document_frequency + 0.5) / (document_frequency + 0.5) + 1)
