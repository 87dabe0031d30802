"""An index written by the former embedded store (qdrant-client local mode, schema 1, ``live:
bool``) is refused with the way out, and ``ragsvc index migrate`` copies it into Qdrant Edge:
the same points, vectors and learned phrasings, searchable, without embedding anything again."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from qdrant_client import QdrantClient

from ragsvc.cli import main
from ragsvc.embedding.spaces import PRIMARY
from ragsvc.errors import IndexSchemaError
from ragsvc.settings import LexicalSettings, Settings
from ragsvc.store.points import PointData
from ragsvc.store.qdrant_store import ChunkStore, open_backend
from ragsvc.store.schema import Chunk, SearchFilters
from ragsvc.store.server import ServerBackend
from ragsvc.text.lexical import document_terms, query_terms
from tests.fakes import FakeEmbedder

TEXTS = ["The hotel limit is 15000 yen per night.", "Meal allowance is 3000 yen per day."]


def _write_schema_1_index(settings: Settings) -> list[str]:
    """As ragsvc wrote it before Qdrant Edge: local mode on disk, ``live`` as a boolean."""
    embedder = FakeEmbedder()
    old = ServerBackend(QdrantClient(path=str(settings.store.path)), settings.store.collection)
    old.create(
        {PRIMARY: embedder.dimension},
        {"schema_version": 1, "dimension": embedder.dimension, "embedder": embedder.name},
    )
    points = []
    for n, (text, vector) in enumerate(zip(TEXTS, embedder.embed_passages(TEXTS), strict=True)):
        chunk = Chunk("policy", "v1", n, "doc", text, "p.md", "/c", "Policy", "en", "h", "t")
        payload = chunk.payload(live=True)
        del payload["state"]
        payload["live"] = n == 0  # the second one staged by a run that died
        points.append(
            PointData(chunk.id, {PRIMARY: vector}, document_terms(text, LexicalSettings()), payload)
        )
    old.upsert(points)
    old.close()
    return [p.id for p in points]


def test_an_old_index_is_refused_then_migrated(settings: Settings, tmp_path: Path) -> None:
    settings.store.path.mkdir(parents=True)
    ids = _write_schema_1_index(settings)
    with pytest.raises(IndexSchemaError, match="ragsvc index migrate"):
        open_backend(settings.store)

    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"store": {"path": str(settings.store.path)}}))
    assert main(["index", "migrate", "--config", str(config)]) == 0
    assert main(["index", "migrate", "--config", str(config)]) == 2  # nothing left to migrate

    store = ChunkStore(open_backend(settings.store), FakeEmbedder())
    try:
        store.check_compatible()
        assert store.count(live_only=False) == 2 and store.count() == 1
        [hit] = store.search_lexical(query_terms("hotel"), SearchFilters(), 5)
        assert hit.id == ids[0] and hit.dense is not None
        assert store.delete_staged() == 1
    finally:
        store.close()
