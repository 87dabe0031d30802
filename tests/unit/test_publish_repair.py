"""A publish cut short between its two operations (set the new version live, delete the old ones)
leaves two live versions of a document; the repair keeps the one ingested last.

Simulated (only the first step applied), then for real: a process killed by SIGKILL in the
middle of a publish to the embedded Qdrant Edge store on disk.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ingest.job import IngestJob
from ragsvc.index import open_index
from ragsvc.settings import Settings
from ragsvc.store.edge import EdgeBackend
from ragsvc.store.qdrant_store import ChunkStore
from tests.conftest import ROOT, make_settings
from tests.fakes import FakeEmbedder

NEW_SECTION = "\n## Parking\n\nParking permits cost 5000 yen a month.\n"


def _live_versions(store: ChunkStore) -> Counter[str]:
    """Live versions per doc id, counted on the first chunk of each."""
    return Counter(d.payload["doc_id"] for d in store.scroll() if d.payload["chunk_no"] == 0)


def _half_publish(monkeypatch: pytest.MonkeyPatch, store: ChunkStore) -> None:
    """Make a publish stop after its first step, setting the new version live, without deleting
    the old one (until ``monkeypatch.undo``)."""
    monkeypatch.setattr(store.backend, "delete", lambda where: None)


def test_repair_keeps_the_version_ingested_last(
    settings: Settings, corpus: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = ChunkStore(EdgeBackend(tmp_path / "index", "test"), FakeEmbedder())
    first = IngestJob(store, settings).run([corpus])
    assert first.repaired == []
    travel = corpus / "travel.md"
    old_hash = store.documents()[str(travel)].doc_hash

    with travel.open("a") as fh:
        fh.write(NEW_SECTION)
    _half_publish(monkeypatch, store)
    IngestJob(store, settings).run([corpus])
    assert _live_versions(store)[str(travel)] == 2
    monkeypatch.undo()

    assert store.repair_versions() == [str(travel)]
    assert store.repair_versions() == []
    assert set(_live_versions(store).values()) == {1}
    kept = {p.payload["doc_hash"] for p in store.scroll() if p.payload["doc_id"] == str(travel)}
    assert old_hash not in kept and len(kept) == 1
    assert any("Parking permits" in p.payload["text"] for p in store.scroll())
    store.close()


def test_the_ingest_job_repairs_before_it_starts(
    settings: Settings, corpus: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = ChunkStore(EdgeBackend(tmp_path / "index", "test"), FakeEmbedder())
    IngestJob(store, settings).run([corpus])
    with (corpus / "travel.md").open("a") as fh:
        fh.write(NEW_SECTION)
    _half_publish(monkeypatch, store)
    IngestJob(store, settings).run([corpus])
    monkeypatch.undo()

    report = IngestJob(store, settings).run([corpus])
    assert report.repaired == [str(corpus / "travel.md")]
    assert sorted(report.unchanged) == ["faq.yaml", "travel.md"]  # the edit is the version kept
    assert set(_live_versions(store).values()) == {1}
    store.close()


KILLED_MID_PUBLISH = """\
import os, signal, sys
from pathlib import Path

from ingest.job import IngestJob
from ragsvc.settings import Settings
from ragsvc.store.qdrant_store import ChunkStore, open_backend
from tests.fakes import FakeEmbedder

settings = Settings.model_validate_json(Path(sys.argv[1]).read_text())
corpus = Path(sys.argv[2])
store = ChunkStore(open_backend(settings.store), FakeEmbedder())
IngestJob(store, settings).run([corpus])
with (corpus / "travel.md").open("a") as fh:
    fh.write(sys.argv[3])

def die(where):  # the new version is live; die before deleting the old one
    os.kill(os.getpid(), signal.SIGKILL)

store.backend.delete = die
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
    store = ChunkStore(EdgeBackend(settings.store.path, settings.store.collection), embedder)
    assert _live_versions(store)[str(corpus / "travel.md")] == 2  # the kill came mid-publish
    store.close()

    index = open_index(settings, embedder)  # as the service starts
    try:
        assert set(_live_versions(index.store).values()) == {1}
        report = IngestJob(index.store, settings).run([corpus])
        assert report.repaired == [] and sorted(report.unchanged) == ["faq.yaml", "travel.md"]
    finally:
        index.close()
