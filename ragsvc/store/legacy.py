"""Indexes written by the former embedded store (qdrant-client's local mode, schema 1).

Local mode kept a collection under ``store.path/collection/<name>`` and listed it in
``store.path/meta.json``; its points carried ``live: bool``. :func:`migrate` copies such a
collection into a Qdrant Edge shard beside it (vectors, payloads, learned FAQ phrasings: nothing
is embedded again) with the publication state as a keyword; the old files are left for the
operator to delete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

from ragsvc.errors import ConfigError, IndexSchemaError
from ragsvc.store.edge import EdgeBackend
from ragsvc.store.points import PointData
from ragsvc.store.schema import LEXICAL_VECTOR, LIVE, SCHEMA_VERSION, STAGED, STATE
from ragsvc.store.server import ServerBackend
from ragsvc.text.lexical import SparseTerms

PAGE = 256


def legacy_collections(root: Path) -> set[str]:
    meta = root / "meta.json"
    if not meta.is_file():
        return set()
    return set(json.loads(meta.read_text()).get("collections", {}))


def check_not_legacy(root: Path, collection: str) -> None:
    """Refuse to start a new, empty store where an old one holds the index."""
    if collection in legacy_collections(root):
        raise IndexSchemaError(
            f"the index {collection!r} in {root} was written by the former embedded store "
            "(qdrant-client local mode, schema 1); the embedded store is now Qdrant Edge. Run "
            "'ragsvc index migrate' to copy it (learned FAQ phrasings included), or delete "
            f"{root / 'collection' / collection} and run 'ragsvc ingest' again"
        )


def _converted(record: models.Record) -> PointData:
    vectors = dict(record.vector or {})  # type: ignore[arg-type]
    sparse = vectors.pop(LEXICAL_VECTOR)
    assert isinstance(sparse, models.SparseVector)
    payload: dict[str, Any] = dict(record.payload or {})
    payload[STATE] = LIVE if payload.pop("live", False) else STAGED
    return PointData(
        str(record.id),
        {name: np.asarray(v, dtype=np.float32) for name, v in vectors.items()},
        SparseTerms(list(sparse.indices), list(sparse.values)),
        payload,
    )


def migrate(root: Path, collection: str) -> int:
    """Copy the local-mode ``collection`` under ``root`` into a Qdrant Edge shard; returns the
    number of points copied."""
    if collection not in legacy_collections(root):
        raise ConfigError(f"no index {collection!r} of the former embedded store in {root}")
    target = EdgeBackend(root, collection)
    if target.exists():
        raise ConfigError(f"{target.location} exists already: nothing to migrate")
    source = ServerBackend(QdrantClient(path=str(root)), collection)
    try:
        config = source.client.get_collection(collection).config
        vectors = config.params.vectors
        assert isinstance(vectors, dict)
        metadata = {**(config.metadata or {}), "schema_version": SCHEMA_VERSION}
        target.create({name: p.size for name, p in vectors.items()}, metadata)
        copied = 0
        page: list[PointData] = []
        for record in source.records(None, with_vectors=True):
            page.append(_converted(record))
            if len(page) == PAGE:
                target.upsert(page)
                copied, page = copied + len(page), []
        target.upsert(page)
        return copied + len(page)
    finally:
        source.close()
        target.close()
