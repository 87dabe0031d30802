"""A publish cut short between its two operations (set the new version live, delete the old ones)
leaves two live versions of a document; the repair keeps the one ingested last.

Simulated in memory (only the first half applied), then for real: a process killed by SIGKILL in
the middle of a publish to an embedded store on disk.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from qdrant_client import QdrantClient, models

from ingest.job import IngestJob
from ragsvc.index import open_index
from ragsvc.settings import Settings
from ragsvc.store.qdrant_store import ChunkStore
from tests.conftest import ROOT, make_settings
from tests.fakes import FakeEmbedder

NEW_SECTION = "\n## Parking\n\nParking permits cost 5000 yen a month.\n"


def _live_versions(store: ChunkStore) -> Counter[str]:
    """Live versions per doc id, counted on the first chunk of each."""
    return Counter(d.payload["doc_id"] for d in store.scroll() if d.payload["chunk_no"] == 0)


def _half_publish(monkeypatch: pytest.MonkeyPatch, client: QdrantClient) -> None:
    """Make the client apply only the first operation of a publish (until ``monkeypatch.undo``)."""
    apply = client.batch_update_points

    def first_half(collection_name: str, update_operations: list[models.UpdateOperation], **kw):  # type: ignore[no-untyped-def]
        assert isinstance(update_operations[0], models.SetPayloadOperation)
        return apply(collection_name, update_operations[:1], **kw)

    monkeypatch.setattr(client, "batch_update_points", first_half)


def test_repair_keeps_the_version_ingested_last(
    settings: Settings, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = FakeEmbedder()
    client = QdrantClient(":memory:")
    store = ChunkStore(client, "test", embedder)
    first = IngestJob(store, settings).run([corpus])
    assert first.repaired == []
    travel = corpus / "travel.md"
    old_hash = store.documents()[str(travel)].doc_hash

    with travel.open("a") as fh:
        fh.write(NEW_SECTION)
    _half_publish(monkeypatch, client)
    IngestJob(store, settings).run([corpus])
    assert _live_versions(store)[str(travel)] == 2

    assert store.repair_versions() == [str(travel)]
    assert store.repair_versions() == []
    assert set(_live_versions(store).values()) == {1}
    kept = {p.payload["doc_hash"] for p in store.scroll() if p.payload["doc_id"] == str(travel)}
    assert old_hash not in kept and len(kept) == 1
    assert any("Parking permits" in p.payload["text"] for p in store.scroll())
    client.close()


def test_the_ingest_job_repairs_before_it_starts(
    settings: Settings, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = FakeEmbedder()
    client = QdrantClient(":memory:")
    store = ChunkStore(client, "test", embedder)
    IngestJob(store, settings).run([corpus])
    with (corpus / "travel.md").open("a") as fh:
        fh.write(NEW_SECTION)
    _half_publish(monkeypatch, client)
    IngestJob(store, settings).run([corpus])
    monkeypatch.undo()

    report = IngestJob(store, settings).run([corpus])
    assert report.repaired == [str(corpus / "travel.md")]
    assert sorted(report.unchanged) == ["faq.yaml", "travel.md"]  # the edit is the version kept
    assert set(_live_versions(store).values()) == {1}
    client.close()


KILLED_MID_PUBLISH = """\
import os, signal, sys
from pathlib import Path

from ingest.job import IngestJob
from ragsvc.settings import Settings
from ragsvc.store.qdrant_store import ChunkStore, open_client
from tests.fakes import FakeEmbedder

settings = Settings.model_validate_json(Path(sys.argv[1]).read_text())
corpus = Path(sys.argv[2])
embedder = FakeEmbedder()
client = open_client(settings.store)
store = ChunkStore(client, settings.store.collection, embedder)
IngestJob(store, settings).run([corpus])
with (corpus / "travel.md").open("a") as fh:
    fh.write(sys.argv[3])
apply = client.batch_update_points

def first_half_then_die(collection_name, update_operations, **kwargs):
    apply(collection_name, update_operations[:1], **kwargs)  # set the new version live
    os.kill(os.getpid(), signal.SIGKILL)  # ... and die before deleting the old one

client.batch_update_points = first_half_then_die
IngestJob(store, settings).run([corpus])
"""


def test_a_process_killed_mid_publish_is_repaired_when_the_index_opens(
    corpus: Path, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    saved = tmp_path / "settings.json"
    saved.write_text(settings.model_dump_json())
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MID_PUBLISH, saved, corpus, NEW_SECTION],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr

    embedder = FakeEmbedder()
    client = QdrantClient(path=str(settings.store.path))
    store = ChunkStore(client, settings.store.collection, embedder)
    assert _live_versions(store)[str(corpus / "travel.md")] == 2  # the kill came mid-publish
    client.close()

    index = open_index(settings, embedder)  # as the service starts
    try:
        assert set(_live_versions(index.store).values()) == {1}
        report = IngestJob(index.store, settings).run([corpus])
        assert report.repaired == [] and sorted(report.unchanged) == ["faq.yaml", "travel.md"]
    finally:
        index.close()
