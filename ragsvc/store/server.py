"""A collection on a Qdrant server (or cluster) through qdrant-client.

qdrant-client's local mode (``QdrantClient(location=":memory:")`` or ``path=``) speaks the same
API in pure Python; the tests use it to stand in for a server. It keeps plain Python structures,
so its calls are serialised by one lock here, and it keeps no payload indexes. A server's calls
run concurrently (the client is thread-safe).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from qdrant_client import QdrantClient, models

from ragsvc.embedding.base import Vectors
from ragsvc.store.points import (
    Match,
    PointData,
    Where,
    filter_of,
    named_vectors,
    paged,
    stored_point,
)
from ragsvc.store.schema import INTEGER_FIELDS, KEYWORD_FIELDS, LEXICAL_VECTOR, StoredPoint
from ragsvc.text.lexical import SparseTerms

PAGE = 256


def _condition(match: Match) -> models.FieldCondition:
    if len(match.values) == 1:
        return models.FieldCondition(key=match.key, match=models.MatchValue(value=match.values[0]))
    return models.FieldCondition(key=match.key, match=models.MatchAny(any=list(match.values)))


def _filter(where: Where | None) -> models.Filter | None:
    return filter_of(where, _condition, models.Filter)  # type: ignore[no-any-return]


def is_local_mode(client: QdrantClient) -> bool:
    return bool(client.init_options.get("path") or client.init_options.get("location"))


class ServerBackend:
    """``collection`` of the Qdrant that ``client`` speaks to."""

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        owns_client: bool = True,
        shards: int = 1,
        replication_factor: int = 1,
    ) -> None:
        """``owns_client``: :meth:`close` closes ``client`` (False: it serves other collections);
        ``shards`` and ``replication_factor``: of a collection :meth:`create` makes."""
        self.client = client
        self.collection = collection
        self.owns_client = owns_client
        self.shards = shards
        self.replication_factor = replication_factor
        self._lock: AbstractContextManager[object] = (
            threading.RLock() if is_local_mode(client) else nullcontext()
        )

    @property
    def location(self) -> str:
        where = self.client.init_options.get("url") or self.client.init_options.get("path")
        return f"{where or 'memory'} collection {self.collection!r}"

    def exists(self) -> bool:
        with self._lock:
            return self.client.collection_exists(self.collection)

    def create(self, dimensions: Mapping[str, int], metadata: dict[str, Any]) -> None:
        with self._lock:
            self.client.create_collection(
                self.collection,
                vectors_config={
                    name: models.VectorParams(size=size, distance=models.Distance.COSINE)
                    for name, size in dimensions.items()
                },
                sparse_vectors_config={
                    LEXICAL_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)
                },
                shard_number=self.shards,
                replication_factor=self.replication_factor,
                metadata=metadata,
            )
            if is_local_mode(self.client):
                return  # local mode keeps no payload indexes
            for field in KEYWORD_FIELDS:
                self.client.create_payload_index(
                    self.collection, field, models.PayloadSchemaType.KEYWORD
                )
            for field in INTEGER_FIELDS:
                self.client.create_payload_index(
                    self.collection, field, models.PayloadSchemaType.INTEGER
                )

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            return dict(self.client.get_collection(self.collection).config.metadata or {})

    def upsert(self, points: Sequence[PointData]) -> None:
        structs = [
            models.PointStruct(
                id=point.id, vector=named_vectors(point, models.SparseVector), payload=point.payload
            )
            for point in points
        ]
        with self._lock:
            self.client.upsert(self.collection, structs, wait=True)

    def set_payload(self, payload: dict[str, Any], where: Where) -> None:
        with self._lock:
            self.client.set_payload(
                self.collection, payload, points=_filter(where) or models.Filter(), wait=True
            )

    def delete(self, where: Where) -> None:
        selector = models.FilterSelector(filter=_filter(where) or models.Filter())
        with self._lock:
            self.client.delete(self.collection, selector, wait=True)

    def count(self, where: Where | None = None) -> int:
        with self._lock:
            return self.client.count(self.collection, count_filter=_filter(where), exact=True).count

    def scroll(
        self, where: Where | None = None, with_space: str | None = None
    ) -> Iterator[StoredPoint]:
        vectors = [with_space] if with_space else False
        return (stored_point(record, with_space) for record in self.records(where, vectors))

    def records(
        self, where: Where | None, with_vectors: bool | list[str]
    ) -> Iterator[models.Record]:
        """Every record ``where`` selects, with payloads, and the vectors ``with_vectors`` names
        (True: all of them)."""

        def page(offset: Any) -> tuple[list[models.Record], Any]:
            with self._lock:
                return self.client.scroll(
                    self.collection,
                    scroll_filter=_filter(where),
                    limit=PAGE,
                    offset=offset,
                    with_payload=True,
                    with_vectors=with_vectors,
                )

        return paged(page)

    def payloads(self, ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        with self._lock:
            records = self.client.retrieve(self.collection, list(ids), with_payload=list(fields))
        return {str(r.id): dict(r.payload or {}) for r in records}

    def search_dense(
        self, vector: Vectors, space: str, where: Where, limit: int
    ) -> list[StoredPoint]:
        with self._lock:
            result = self.client.query_points(
                self.collection,
                query=vector.tolist(),
                using=space,
                query_filter=_filter(where),
                limit=limit,
                with_payload=True,
            )
        return [stored_point(p) for p in result.points]

    def search_lexical(
        self, terms: SparseTerms, where: Where, limit: int, with_space: str
    ) -> list[StoredPoint]:
        with self._lock:
            result = self.client.query_points(
                self.collection,
                query=models.SparseVector(indices=terms.indices, values=terms.values),
                using=LEXICAL_VECTOR,
                query_filter=_filter(where),
                limit=limit,
                with_payload=True,
                with_vectors=[with_space],
            )
        return [stored_point(p, with_space) for p in result.points]

    def close(self) -> None:
        if self.owns_client:
            self.client.close()
