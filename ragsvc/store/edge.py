"""The embedded store: a Qdrant Edge shard (Qdrant's Rust engine, in process) on a local directory.

One directory per collection under ``store.path``; the shard locks its write-ahead log, so one
process at a time may open it (the service, or a CLI command while the service is stopped: hand
jobs to a running service). The shard is safe for concurrent queries and writes from threads;
every write goes to its write-ahead log first, and segments are flushed on close.
Qdrant Edge keeps no collection metadata, so the schema record is a JSON file in the directory.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as edge

from ragsvc.embedding.base import Vectors
from ragsvc.errors import ConfigError
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

METADATA_FILE = "ragsvc-collection.json"
PAGE = 256


def _condition(match: Match) -> edge.FieldCondition:
    if len(match.values) == 1:
        return edge.FieldCondition(key=match.key, match=edge.MatchValue(match.values[0]))
    return edge.FieldCondition(key=match.key, match=edge.MatchAny(list(match.values)))


def _filter(where: Where | None) -> edge.Filter | None:
    return filter_of(where, _condition, edge.Filter)  # type: ignore[no-any-return]


class EdgeBackend:
    """A collection as a Qdrant Edge shard in ``root/collection``."""

    def __init__(self, root: Path, collection: str, scratch: bool = False) -> None:
        self.collection = collection
        self.directory = root / collection
        self.scratch = scratch
        self._shard: edge.EdgeShard | None = None
        if self.exists():
            self._shard = self._open(lambda: edge.EdgeShard.load(str(self.directory)))

    @classmethod
    def scratch_store(cls, collection: str) -> EdgeBackend:
        """A shard in a new temporary directory, removed on :meth:`close` (benchmarks)."""
        return cls(Path(tempfile.mkdtemp(prefix="ragsvc-edge-")), collection, scratch=True)

    @property
    def location(self) -> str:
        return str(self.directory)

    def _open(self, opener: Any) -> edge.EdgeShard:
        try:
            return opener()  # type: ignore[no-any-return]
        except Exception as exc:
            if "WouldBlock" in str(exc):
                raise ConfigError(
                    f"the embedded store {self.directory} is open in another process (is the "
                    "service running?). Hand the job to the service, stop it, or run Qdrant as "
                    "a server (store.url)"
                ) from exc
            raise

    @property
    def shard(self) -> edge.EdgeShard:
        if self._shard is None:
            raise ConfigError(f"no collection at {self.directory}; run 'ragsvc ingest' first")
        return self._shard

    def exists(self) -> bool:
        return (self.directory / METADATA_FILE).is_file()

    def create(self, dimensions: Mapping[str, int], metadata: dict[str, Any]) -> None:
        config = edge.EdgeConfig(
            vectors={
                name: edge.EdgeVectorParams(size=size, distance=edge.Distance.Cosine)
                for name, size in dimensions.items()
            },
            sparse_vectors={
                LEXICAL_VECTOR: edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf)
            },
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self._shard = self._open(lambda: edge.EdgeShard.create(str(self.directory), config))
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(
                f"cannot create the embedded store in {self.directory} ({exc}); it holds data "
                f"without ragsvc's {METADATA_FILE}: move it away and run 'ragsvc ingest' again"
            ) from exc
        for field in KEYWORD_FIELDS:
            self.shard.update(
                edge.UpdateOperation.create_field_index(field, edge.PayloadSchemaType.Keyword)
            )
        for field in INTEGER_FIELDS:
            self.shard.update(
                edge.UpdateOperation.create_field_index(field, edge.PayloadSchemaType.Integer)
            )
        self.shard.flush()
        # written last: a directory without it is a creation cut short, created again
        (self.directory / METADATA_FILE).write_text(json.dumps(metadata, indent=1))

    def metadata(self) -> dict[str, Any]:
        if not self.exists():
            return {}
        return dict(json.loads((self.directory / METADATA_FILE).read_text()))

    def upsert(self, points: Sequence[PointData]) -> None:
        self.shard.update(
            edge.UpdateOperation.upsert_points(
                [
                    edge.Point(
                        id=point.id,
                        vector=named_vectors(point, edge.SparseVector),
                        payload=point.payload,
                    )
                    for point in points
                ]
            )
        )

    def set_payload(self, payload: dict[str, Any], where: Where) -> None:
        self.shard.update(
            edge.UpdateOperation.set_payload_by_filter(_filter(where) or edge.Filter(), payload)
        )

    def delete(self, where: Where) -> None:
        self.shard.update(
            edge.UpdateOperation.delete_points_by_filter(_filter(where) or edge.Filter())
        )

    def count(self, where: Where | None = None) -> int:
        return self.shard.count(edge.CountRequest(exact=True, filter=_filter(where)))

    def scroll(
        self, where: Where | None = None, with_space: str | None = None
    ) -> Iterator[StoredPoint]:
        request = _filter(where)
        vectors = [with_space] if with_space else False
        pages = paged(
            lambda offset: self.shard.scroll(
                edge.ScrollRequest(
                    offset=offset,
                    limit=PAGE,
                    filter=request,
                    with_payload=True,
                    with_vector=vectors,
                )
            )
        )
        return (stored_point(record, with_space) for record in pages)

    def payloads(self, ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        records = self.shard.retrieve(list(ids), list(fields), False)
        return {str(r.id): dict(r.payload or {}) for r in records}

    def search_dense(
        self, vector: Vectors, space: str, where: Where, limit: int
    ) -> list[StoredPoint]:
        found = self.shard.query(
            edge.QueryRequest(
                limit=limit,
                query=edge.Query.Nearest(vector.tolist(), using=space),
                filter=_filter(where),
                with_payload=True,
            )
        )
        return [stored_point(p) for p in found]

    def search_lexical(
        self, terms: SparseTerms, where: Where, limit: int, with_space: str
    ) -> list[StoredPoint]:
        found = self.shard.query(
            edge.QueryRequest(
                limit=limit,
                query=edge.Query.Nearest(
                    edge.SparseVector(indices=terms.indices, values=terms.values),
                    using=LEXICAL_VECTOR,
                ),
                filter=_filter(where),
                with_payload=True,
                with_vector=[with_space],
            )
        )
        return [stored_point(p, with_space) for p in found]

    def close(self) -> None:
        if self._shard is not None:
            self._shard.flush()
            self._shard.close()
            self._shard = None
        if self.scratch:
            shutil.rmtree(self.directory.parent, ignore_errors=True)
