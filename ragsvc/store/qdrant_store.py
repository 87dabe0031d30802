"""The index of chunks: collection schema, staged writes and their publication, searches.

Embedded on a Qdrant Edge shard by default, on a Qdrant server by URL; the same code over either
(:mod:`ragsvc.store.points`). Writes are staged then published per document: new chunks are
upserted in state ``staged`` (queries select state ``live``), then the document's new version is
set live and its other versions deleted. The two steps are not a transaction: a process killed
between them leaves two live versions of the document, which :meth:`ChunkStore.repair_versions`
finds and reduces to the newest. Points still staged when an ingest starts belong to a run that
died part-way and are deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient

from ragsvc.embedding.base import Embedder, Vectors
from ragsvc.embedding.spaces import PRIMARY, EmbeddingSpaces, spaces_of
from ragsvc.errors import IndexSchemaError
from ragsvc.settings import StoreSettings
from ragsvc.store.aliases import Aliases, EdgeAliases, ServerAliases
from ragsvc.store.edge import EdgeBackend
from ragsvc.store.following import FollowingBackend
from ragsvc.store.legacy import check_not_legacy
from ragsvc.store.points import Match, PointBackend, PointData, Where, any_of, equals
from ragsvc.store.schema import (
    LIVE,
    SCHEMA_VERSION,
    STAGED,
    STATE,
    Chunk,
    SearchFilters,
    StoredPoint,
)
from ragsvc.store.server import ServerBackend
from ragsvc.text.lexical import SparseTerms

log = logging.getLogger(__name__)


def open_backend(
    settings: StoreSettings, collection: str | None = None, follow_s: float = 0.0
) -> PointBackend:
    """The configured engine's ``collection``: a Qdrant server when ``store.url`` is set, else the
    embedded Qdrant Edge store under ``store.path``. Without ``collection``, the collection that
    ``store.collection``'s alias points at, followed when the alias is switched (checked every
    ``follow_s`` seconds when > 0; see :mod:`ragsvc.store.following`)."""
    aliases: Aliases
    if settings.url:
        key = settings.api_key.get_secret_value() if settings.api_key else None
        client = QdrantClient(url=settings.url, api_key=key, timeout=settings.timeout_s)
        shards, replicas = settings.shards, settings.replication_factor
        if collection is not None:
            return ServerBackend(client, collection, True, shards, replicas)
        aliases = ServerAliases(client)
        return FollowingBackend(
            aliases,
            settings.collection,
            lambda name: ServerBackend(client, name, False, shards, replicas),
            follow_s,
            on_close=client.close,
            versioned_first=True,
        )
    settings.path.mkdir(parents=True, exist_ok=True)
    if collection is not None:
        return _edge_collection(settings.path, collection)
    aliases = EdgeAliases(settings.path)
    return FollowingBackend(
        aliases, settings.collection, lambda name: _edge_collection(settings.path, name), follow_s
    )


def _edge_collection(root: Path, name: str) -> EdgeBackend:
    backend = EdgeBackend(root, name)
    if not backend.exists():
        check_not_legacy(root, name)
    return backend


@dataclass(frozen=True, slots=True)
class IndexedDocument:
    doc_id: str
    doc_hash: str
    source: str
    source_root: str
    chunks: int
    kind: str
    language: str = ""
    ingested_at: str = ""
    url: str | None = None


def search_filter(filters: SearchFilters | None = None) -> Where:
    """What a search selects: only published points, then kind, language, tags and the caller's
    context tags."""
    filters = filters or SearchFilters()
    must = [equals(STATE, LIVE)]
    if filters.kind:
        must.append(equals("kind", filters.kind))
    if filters.language:
        must.append(equals("language", filters.language))
    if filters.tags:
        must.append(any_of("tags", filters.tags))
    must.extend(any_of("tags", group) for group in filters.context_tags)
    return Where(tuple(must))


def live_filter(*conditions: Match) -> Where:
    """The published points that also meet ``conditions``."""
    return search_filter().also(*conditions)


def _first_chunks(source_root: str | None = None) -> Where:
    """The live points with ``chunk_no=0``: one per published document version."""
    conditions = [equals("chunk_no", 0)]
    if source_root is not None:
        conditions.append(equals("source_root", source_root))
    return live_filter(*conditions)


def texts_of(backend: PointBackend, ids: Collection[str]) -> dict[str, str]:
    """The text of each point of ``ids`` that exists, by id."""
    found = backend.payloads(list(ids), ["text"])
    return {point_id: str(payload.get("text", "")) for point_id, payload in found.items()}


class ChunkStore:
    """Each dense space of ``spaces`` is a named vector of every point (see
    :mod:`ragsvc.embedding.spaces`); ``backend`` is the collection on its engine."""

    def __init__(self, backend: PointBackend, spaces: EmbeddingSpaces | Embedder) -> None:
        self.spaces = spaces_of(spaces)
        self.dimensions = {name: e.dimension for name, e in self.spaces.embedders().items()}
        for name, dimension in self.dimensions.items():
            if dimension <= 0:
                raise ValueError(f"the {name} dimension must be greater than 0, got {dimension}")
        self.backend = backend

    @property
    def collection(self) -> str:
        return self.backend.collection

    def close(self) -> None:
        self.backend.close()

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
        if not self.backend.exists():
            self.backend.create(self.dimensions, self._metadata())
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
        if not self.backend.exists():
            raise IndexSchemaError(
                f"collection {self.collection!r} does not exist; run 'ragsvc ingest' first"
            )
        found = self.backend.metadata()
        expected = self._metadata()
        if found != expected:
            raise IndexSchemaError(
                f"collection {self.collection!r} was built with {found or 'no schema metadata'}, "
                f"this version needs {expected}; re-index into a new collection "
                "(store.collection) or delete this one and run 'ragsvc ingest' again"
            )

    # -- writes ---------------------------------------------------------------------------------
    def stage(
        self,
        chunks: Sequence[Chunk],
        dense: Mapping[str, Vectors],
        lexical: Sequence[SparseTerms],
    ) -> None:
        """Write chunks invisibly (state ``staged``) until :meth:`publish`; ``dense`` holds each
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
        self.backend.upsert(
            [
                PointData(
                    chunk.id,
                    {name: vectors[row] for name, vectors in dense.items()},
                    terms,
                    chunk.payload(live=live),
                )
                for row, (chunk, terms) in enumerate(zip(chunks, lexical, strict=True))
            ]
        )

    def publish(self, doc_id: str, doc_hash: str) -> None:
        """Make ``doc_hash`` the visible version of ``doc_id`` and drop every other version."""
        self.backend.set_payload(
            {STATE: LIVE}, Where((equals("doc_id", doc_id), equals("doc_hash", doc_hash)))
        )
        self.backend.delete(Where((equals("doc_id", doc_id),), (equals("doc_hash", doc_hash),)))

    def delete_document(self, doc_id: str) -> int:
        """Remove every point of ``doc_id``; returns how many there were (0: no such document)."""
        return self.delete_where(Where((equals("doc_id", doc_id),)))

    def delete_staged(self) -> int:
        """Remove points left unpublished by an ingest that died part-way; returns how many."""
        return self.delete_where(Where((equals(STATE, STAGED),)))

    def delete_where(self, where: Where) -> int:
        """Remove the points ``where`` selects; returns how many there were."""
        count = self.backend.count(where)
        if count:
            self.backend.delete(where)
        return count

    def repair_versions(self) -> list[str]:
        """Reduce documents with more than one live version (a :meth:`publish` cut short between
        its two steps) to the version ingested last; returns the doc ids repaired."""
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
            self.backend.delete(Where((equals("doc_id", doc_id), any_of("doc_hash", older))))
            log.warning(
                "%s had %d live versions (a publish was cut short); kept %s, removed %s",
                doc_id,
                len(versions),
                newest,
                ", ".join(older),
            )
            repaired.append(doc_id)
        return repaired

    # -- reads ----------------------------------------------------------------------------------
    def count(self, live_only: bool = True) -> int:
        return self.backend.count(search_filter() if live_only else None)

    def scroll(self, where: Where | None = None) -> Iterator[StoredPoint]:
        return self.backend.scroll(where)

    def texts(self, ids: Collection[str]) -> dict[str, str]:
        """The text of each point of ``ids`` that exists, by id."""
        return texts_of(self.backend, ids)

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
                p.get("language", ""),
                p.get("ingested_at", ""),
                p.get("url"),
            )
        return docs

    def faq_points(
        self, faq_ids: Collection[str], filters: SearchFilters, space: str = PRIMARY
    ) -> list[StoredPoint]:
        """Every point (phrasings and answer) of the FAQ entries ``faq_ids`` that ``filters``
        lets a search return, each with its vector in ``space``."""
        if not faq_ids:
            return []
        where = search_filter(filters).also(any_of("faq.faq_id", sorted(faq_ids)))
        return list(self.backend.scroll(where, space))

    def faq_phrasing_points(self, space: str = PRIMARY) -> list[StoredPoint]:
        """Every published FAQ point but the answers (the entries' questions, the file's
        alternatives and the learned phrasings), each with its vector in ``space``."""
        live = search_filter(SearchFilters(kind="faq"))
        return list(self.backend.scroll(Where(live.must, (equals("faq.field", "answer"),)), space))

    def search_dense(
        self, vector: Vectors, filters: SearchFilters, limit: int, space: str = PRIMARY
    ) -> list[StoredPoint]:
        return self.backend.search_dense(vector, space, search_filter(filters), limit)

    def search_lexical(
        self, terms: SparseTerms, filters: SearchFilters, limit: int, space: str = PRIMARY
    ) -> list[StoredPoint]:
        """BM25 hits, each with its vector in ``space`` so the caller can score it densely too."""
        if not terms.indices:
            return []
        return self.backend.search_lexical(terms, search_filter(filters), limit, space)
