"""All Qdrant calls of ragsvc. Embedded on-disk mode by default, a server by URL with the same code.

Writes are staged then published per document: new chunks are upserted with ``live=false`` (queries
filter on ``live=true``), then one batch flips them live and deletes the document's other versions.
Points still staged when an ingest starts belong to a run that died part-way and are deleted. The
batch is two operations, not a transaction: a process killed between them leaves two live versions
of the document, which :meth:`ChunkStore.repair_versions` finds and reduces to the newest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import numpy as np
from qdrant_client import QdrantClient, models

from ragsvc.embedding.base import Embedder, Vectors
from ragsvc.embedding.spaces import PRIMARY, EmbeddingSpaces, spaces_of
from ragsvc.errors import ConfigError, IndexSchemaError
from ragsvc.settings import StoreSettings
from ragsvc.store.mirror import SearchMirror
from ragsvc.store.schema import (
    LEXICAL_VECTOR,
    SCHEMA_VERSION,
    Chunk,
    SearchFilters,
    StoredPoint,
)
from ragsvc.store.scroll import scroll_records, texts_of
from ragsvc.text.lexical import SparseTerms

log = logging.getLogger(__name__)

KEYWORD_FIELDS = ("doc_id", "doc_hash", "kind", "language", "tags", "source_root", "faq.faq_id")


class _SerializedClient:
    """Embedded Qdrant keeps its collections in plain Python structures: reads racing with the
    in-service ingest job's writes are not safe. Every call goes through one lock (searches take
    milliseconds, so the service's threads queue briefly). A Qdrant server needs no such lock."""

    def __init__(self, client: QdrantClient) -> None:
        self._client = client
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return locked


def open_client(settings: StoreSettings) -> QdrantClient:
    """A client for the configured Qdrant: server when ``url`` is set, else embedded on disk."""
    if settings.url:
        key = settings.api_key.get_secret_value() if settings.api_key else None
        return QdrantClient(url=settings.url, api_key=key, timeout=settings.timeout_s)
    settings.path.mkdir(parents=True, exist_ok=True)
    try:
        return cast(QdrantClient, _SerializedClient(QdrantClient(path=str(settings.path))))
    except RuntimeError as exc:
        if "already accessed" in str(exc):
            raise ConfigError(
                f"the embedded Qdrant store {settings.path} is open in another process (is the "
                "service running?). Hand the job to the service, stop it, or run Qdrant as a "
                "server (store.url)"
            ) from exc
        raise


@dataclass(frozen=True, slots=True)
class IndexedDocument:
    doc_id: str
    doc_hash: str
    source: str
    source_root: str
    chunks: int
    kind: str


def match_value(key: str, value: Any) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def search_filter(filters: SearchFilters | None = None) -> models.Filter:
    """Qdrant's filter for ``filters``: only published points, then kind, language and tags."""
    filters = filters or SearchFilters()
    must: list[models.Condition] = [match_value("live", True)]
    if filters.kind:
        must.append(match_value("kind", filters.kind))
    if filters.language:
        must.append(match_value("language", filters.language))
    if filters.tags:
        must.append(
            models.FieldCondition(key="tags", match=models.MatchAny(any=list(filters.tags)))
        )
    return models.Filter(must=must)


def live_filter(*conditions: models.Condition) -> models.Filter:
    """The published points that also meet ``conditions``."""
    flt = search_filter()
    assert isinstance(flt.must, list)
    flt.must.extend(conditions)
    return flt


def _first_chunks(source_root: str | None = None) -> models.Filter:
    """The live points with ``chunk_no=0``: one per published document version."""
    conditions = [match_value("chunk_no", 0)]
    if source_root is not None:
        conditions.append(match_value("source_root", source_root))
    return live_filter(*conditions)


def is_embedded(client: QdrantClient) -> bool:
    return bool(client.init_options.get("path") or client.init_options.get("location"))


class ChunkStore:
    """Searches of an embedded store are answered by a :class:`SearchMirror` (same scores, in
    milliseconds) unless ``mirror=False``; a Qdrant server answers its own. Each dense space of
    ``spaces`` is a named vector of every point (see :mod:`ragsvc.embedding.spaces`)."""

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        spaces: EmbeddingSpaces | Embedder,
        mirror: bool = True,
    ) -> None:
        self.spaces = spaces_of(spaces)
        self.dimensions = {name: e.dimension for name, e in self.spaces.embedders().items()}
        for name, dimension in self.dimensions.items():
            if dimension <= 0:
                raise ValueError(f"the {name} dimension must be greater than 0, got {dimension}")
        self.client = client
        self.collection = collection
        self.mirror = (
            SearchMirror(client, collection, self.dimensions)
            if mirror and is_embedded(client)
            else None
        )

    def _changed(self) -> None:
        if self.mirror is not None:
            self.mirror.invalidate()

    # -- schema ---------------------------------------------------------------------------------
    def _metadata(self) -> dict[str, Any]:
        embedders = self.spaces.embedders()
        metadata: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "dimension": self.dimensions[PRIMARY],
            "embedder": embedders[PRIMARY].name,
        }
        if extra := {
            name: {"dimension": e.dimension, "embedder": e.name}
            for name, e in embedders.items()
            if name != PRIMARY
        }:
            metadata["spaces"] = extra
        return metadata

    def ensure_collection(self) -> None:
        """Create the collection when missing; refuse one written with another schema or model."""
        if not self.client.collection_exists(self.collection):
            self.client.create_collection(
                self.collection,
                vectors_config={
                    name: models.VectorParams(size=size, distance=models.Distance.COSINE)
                    for name, size in self.dimensions.items()
                },
                sparse_vectors_config={
                    LEXICAL_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)
                },
                metadata=self._metadata(),
            )
            self._create_payload_indexes()
            return
        self.check_compatible()

    def is_compatible(self) -> bool:
        """The collection exists and was built with this schema and these spaces."""
        try:
            self.check_compatible()
        except IndexSchemaError:
            return False
        return True

    def check_compatible(self) -> None:
        if not self.client.collection_exists(self.collection):
            raise IndexSchemaError(
                f"collection {self.collection!r} does not exist; run 'ragsvc ingest' first"
            )
        found = self.client.get_collection(self.collection).config.metadata or {}
        expected = self._metadata()
        if found != expected:
            raise IndexSchemaError(
                f"collection {self.collection!r} was built with {found or 'no schema metadata'}, "
                f"this version needs {expected}; re-index into a new collection "
                "(store.collection) or delete this one and run 'ragsvc ingest' again"
            )

    def _create_payload_indexes(self) -> None:
        if is_embedded(self.client):
            return  # embedded mode keeps no payload indexes
        for field in KEYWORD_FIELDS:
            self.client.create_payload_index(
                self.collection, field, models.PayloadSchemaType.KEYWORD
            )
        self.client.create_payload_index(self.collection, "live", models.PayloadSchemaType.BOOL)

    # -- writes ---------------------------------------------------------------------------------
    def stage(
        self,
        chunks: Sequence[Chunk],
        dense: Mapping[str, Vectors],
        lexical: Sequence[SparseTerms],
    ) -> None:
        """Write chunks invisibly (``live=false``) until :meth:`publish`; ``dense`` holds each
        space's vectors, by space name."""
        self._upsert(chunks, dense, lexical, live=False)

    def add_live(
        self,
        chunks: Sequence[Chunk],
        dense: Mapping[str, Vectors],
        lexical: Sequence[SparseTerms],
    ) -> None:
        """Write chunks that join a published document version at once (a learned FAQ phrasing:
        each point is whole on its own, so there is nothing to stage)."""
        self._upsert(chunks, dense, lexical, live=True)

    def _upsert(
        self,
        chunks: Sequence[Chunk],
        dense: Mapping[str, Vectors],
        lexical: Sequence[SparseTerms],
        live: bool,
    ) -> None:
        if set(dense) != set(self.dimensions):
            raise ValueError(
                f"vectors for {sorted(dense)} given, the index has {sorted(self.dimensions)}"
            )
        points = [
            models.PointStruct(
                id=chunk.id,
                vector={
                    **{name: vectors[row].tolist() for name, vectors in dense.items()},
                    LEXICAL_VECTOR: models.SparseVector(indices=terms.indices, values=terms.values),
                },
                payload=chunk.payload(live=live),
            )
            for row, (chunk, terms) in enumerate(zip(chunks, lexical, strict=True))
        ]
        try:
            self.client.upsert(self.collection, points, wait=True)
        finally:
            self._changed()

    def publish(self, doc_id: str, doc_hash: str) -> None:
        """Make ``doc_hash`` the visible version of ``doc_id`` and drop every other version."""
        new_version = models.Filter(
            must=[match_value("doc_id", doc_id), match_value("doc_hash", doc_hash)]
        )
        old_versions = models.Filter(
            must=[match_value("doc_id", doc_id)], must_not=[match_value("doc_hash", doc_hash)]
        )
        self.client.batch_update_points(
            self.collection,
            [
                models.SetPayloadOperation(
                    set_payload=models.SetPayload(payload={"live": True}, filter=new_version)
                ),
                models.DeleteOperation(delete=models.FilterSelector(filter=old_versions)),
            ],
            wait=True,
        )
        self._changed()

    def delete_document(self, doc_id: str) -> int:
        """Remove every point of ``doc_id``; returns how many there were (0: no such document)."""
        return self.delete_where(models.Filter(must=[match_value("doc_id", doc_id)]))

    def delete_staged(self) -> int:
        """Remove points left unpublished by an ingest that died part-way; returns how many."""
        return self.delete_where(models.Filter(must=[match_value("live", False)]))

    def delete_where(self, flt: models.Filter) -> int:
        """Remove the points ``flt`` selects; returns how many there were."""
        count = self.client.count(self.collection, count_filter=flt, exact=True).count
        if count:
            self.client.delete(self.collection, models.FilterSelector(filter=flt), wait=True)
            self._changed()
        return count

    def repair_versions(self) -> list[str]:
        """Reduce documents with more than one live version (a :meth:`publish` cut short between
        its two operations) to the version ingested last; returns the doc ids repaired."""
        ingested: dict[str, dict[str, datetime]] = {}
        for point in self.scroll(_first_chunks()):
            p = point.payload
            versions = ingested.setdefault(p["doc_id"], {})
            versions[p["doc_hash"]] = datetime.fromisoformat(p["ingested_at"])
        repaired: list[str] = []
        for doc_id, versions in ingested.items():
            if len(versions) < 2:
                continue
            newest = max(versions, key=versions.__getitem__)
            older = [doc_hash for doc_hash in versions if doc_hash != newest]
            superseded = models.Filter(
                must=[
                    match_value("doc_id", doc_id),
                    models.FieldCondition(key="doc_hash", match=models.MatchAny(any=older)),
                ]
            )
            self.client.delete(self.collection, models.FilterSelector(filter=superseded), wait=True)
            log.warning(
                "%s had %d live versions (a publish was cut short); kept %s, removed %s",
                doc_id,
                len(versions),
                newest,
                ", ".join(older),
            )
            repaired.append(doc_id)
        if repaired:
            self._changed()
        return repaired

    # -- reads ----------------------------------------------------------------------------------
    def count(self, live_only: bool = True) -> int:
        flt = search_filter() if live_only else None
        return self.client.count(self.collection, count_filter=flt, exact=True).count

    def scroll(self, flt: models.Filter | None = None) -> Iterator[StoredPoint]:
        for record in scroll_records(self.client, self.collection, flt):
            yield StoredPoint(str(record.id), 0.0, dict(record.payload or {}))

    def texts(self, ids: Collection[str]) -> dict[str, str]:
        """The text of each point of ``ids`` that exists, by id."""
        return texts_of(self.client, self.collection, ids)

    def documents(self, source_root: str | None = None) -> dict[str, IndexedDocument]:
        """The published documents, by doc id (one scroll over the points with ``chunk_no=0``)."""
        docs: dict[str, IndexedDocument] = {}
        for point in self.scroll(_first_chunks(source_root)):
            p = point.payload
            docs[p["doc_id"]] = IndexedDocument(
                p["doc_id"],
                p["doc_hash"],
                p["source"],
                p["source_root"],
                p.get("doc_chunks", 0),
                p["kind"],
            )
        return docs

    def search_dense(
        self, vector: Vectors, filters: SearchFilters, limit: int, space: str = PRIMARY
    ) -> list[StoredPoint]:
        if self.mirror is not None:
            return self.mirror.search_dense(vector, filters, limit, space)
        result = self.client.query_points(
            self.collection,
            query=vector.tolist(),
            using=space,
            query_filter=search_filter(filters),
            limit=limit,
            with_payload=True,
        )
        return [StoredPoint(str(p.id), p.score, dict(p.payload or {})) for p in result.points]

    def search_lexical(
        self, terms: SparseTerms, filters: SearchFilters, limit: int, space: str = PRIMARY
    ) -> list[StoredPoint]:
        """BM25 hits, each with its vector in ``space`` so the caller can score it densely too."""
        if not terms.indices:
            return []
        if self.mirror is not None:
            return self.mirror.search_lexical(terms, filters, limit, space)
        result = self.client.query_points(
            self.collection,
            query=models.SparseVector(indices=terms.indices, values=terms.values),
            using=LEXICAL_VECTOR,
            query_filter=search_filter(filters),
            limit=limit,
            with_payload=True,
            with_vectors=[space],
        )
        return [
            StoredPoint(str(p.id), p.score, dict(p.payload or {}), _dense_of(p.vector, space))
            for p in result.points
        ]


def _dense_of(vector: Any, space: str) -> Vectors | None:
    if isinstance(vector, dict) and space in vector:
        return np.asarray(vector[space], dtype=np.float32)
    return None
