"""What ragsvc asks of a Qdrant collection, in its own terms, and the two engines that answer it.

:class:`ChunkStore <ragsvc.store.qdrant_store.ChunkStore>` speaks to a :class:`PointBackend`:
Qdrant Edge (:mod:`ragsvc.store.edge`, the embedded default: Qdrant's Rust engine in process) or a
Qdrant server through qdrant-client (:mod:`ragsvc.store.server`). Both get the same collection
schema, ids, payloads and filters; each translates a :class:`Where` into its own filter type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ragsvc.embedding.base import Vectors
from ragsvc.store.schema import LEXICAL_VECTOR, StoredPoint
from ragsvc.text.lexical import SparseTerms


@dataclass(frozen=True, slots=True)
class Match:
    """A payload condition: ``key`` holds ``values[0]``, or any of ``values`` when several (a
    list-valued field matches when one of its items does)."""

    key: str
    values: tuple[Any, ...]


def equals(key: str, value: Any) -> Match:
    return Match(key, (value,))


def any_of(key: str, values: Sequence[Any]) -> Match:
    return Match(key, tuple(values))


@dataclass(frozen=True, slots=True)
class Where:
    """Points meeting every ``must`` condition and none of ``must_not``."""

    must: tuple[Match, ...] = ()
    must_not: tuple[Match, ...] = ()

    def also(self, *conditions: Match) -> Where:
        return Where((*self.must, *conditions), self.must_not)


@dataclass(frozen=True, slots=True)
class PointData:
    """One point to write: a dense vector per space, the lexical (sparse) vector and the payload."""

    id: str
    dense: Mapping[str, Vectors]
    lexical: SparseTerms
    payload: dict[str, Any]


def stored_point(point: Any, space: str | None = None) -> StoredPoint:
    """A point as an engine returns it (scored or not), with its vector in ``space`` if asked."""
    dense = None
    if space is not None and isinstance(point.vector, dict) and space in point.vector:
        dense = np.asarray(point.vector[space], dtype=np.float32)
    return StoredPoint(
        str(point.id), float(getattr(point, "score", 0.0)), dict(point.payload or {}), dense
    )


def named_vectors(point: PointData, sparse: Callable[..., Any]) -> dict[str, Any]:
    """``point``'s vectors as an engine takes them: lists by space, and ``sparse(indices=,
    values=)`` (the engine's sparse vector type) for the lexical vector."""
    vectors: dict[str, Any] = {name: v.tolist() for name, v in point.dense.items()}
    vectors[LEXICAL_VECTOR] = sparse(indices=point.lexical.indices, values=point.lexical.values)
    return vectors


def filter_of(
    where: Where | None, condition: Callable[[Match], Any], filter_type: Callable[..., Any]
) -> Any:
    """``where`` as an engine's filter (``filter_type(must=, must_not=)`` of ``condition(m)``),
    or None when it selects everything."""
    if where is None or not (where.must or where.must_not):
        return None
    return filter_type(
        must=[condition(m) for m in where.must] or None,
        must_not=[condition(m) for m in where.must_not] or None,
    )


def paged(fetch: Callable[[Any], tuple[Sequence[Any], Any]]) -> Iterator[Any]:
    """Every record of a scroll: ``fetch(offset)`` returns a page and the next offset (None at
    the end)."""
    offset: Any = None
    while True:
        records, offset = fetch(offset)
        yield from records
        if offset is None:
            return


class PointBackend(Protocol):
    """One collection of one engine."""

    @property
    def collection(self) -> str: ...

    @property
    def location(self) -> str:
        """Where the collection lives, for messages."""
        ...

    def exists(self) -> bool: ...

    def create(self, dimensions: Mapping[str, int], metadata: dict[str, Any]) -> None:
        """The collection: a cosine vector per dense space, the lexical vector with Qdrant's IDF,
        keyword indexes on the filtered fields, and ``metadata`` kept with it."""
        ...

    def metadata(self) -> dict[str, Any]:
        """What :meth:`create` was given (empty if the collection carries none)."""
        ...

    def upsert(self, points: Sequence[PointData]) -> None: ...

    def set_payload(self, payload: dict[str, Any], where: Where) -> None: ...

    def delete(self, where: Where) -> None: ...

    def count(self, where: Where | None = None) -> int: ...

    def scroll(
        self, where: Where | None = None, with_space: str | None = None
    ) -> Iterator[StoredPoint]:
        """Every point ``where`` selects, with its payload (and its vector in ``with_space``
        when named), one page at a time."""
        ...

    def payloads(self, ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``fields`` of the payload of each point of ``ids`` that exists, by id."""
        ...

    def search_dense(
        self, vector: Vectors, space: str, where: Where, limit: int
    ) -> list[StoredPoint]: ...

    def search_lexical(
        self, terms: SparseTerms, where: Where, limit: int, with_space: str
    ) -> list[StoredPoint]:
        """BM25 hits (dot product with the stored term weights, Qdrant's IDF applied), each with
        its vector in ``with_space``."""
        ...

    def close(self) -> None: ...
