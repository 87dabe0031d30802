"""The ingest job on a copy of the demo corpus, with the real embedder and embedded Qdrant on disk:
incremental re-runs, edits, pruning, bad and hostile files, recovery from a killed run, and search.

The demo corpus is ingested once per module (the slow part: every chunk goes through MiniLM); the
store and the corpus copy are then snapshotted, and each test starts from that snapshot restored at
the same paths (document ids are absolute paths, so the copy must not move).
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.build import build_chunks
from ingest.job import IngestJob, document_hash
from ingest.readers import READERS, read_file
from ingest.report import FileProblem, IngestReport
from ragsvc.embedding import Embedder
from ragsvc.embedding.spaces import PRIMARY
from ragsvc.retrieval.faq import FaqMatcher
from ragsvc.retrieval.hybrid import HybridRetriever
from ragsvc.settings import Settings
from ragsvc.store.qdrant_store import ChunkStore, open_backend
from ragsvc.store.schema import SearchFilters
from ragsvc.text.lexical import document_terms
from tests.conftest import DEMO_CORPUS, make_settings
from tests.unit.test_readers import BILLION_LAUGHS

DEMO_FILES = sorted(
    p.relative_to(DEMO_CORPUS).as_posix()
    for p in DEMO_CORPUS.rglob("*")
    if p.is_file() and p.suffix in READERS
)
POLICY_MD = "policies/information-security-policy.md"
CONDUCT_TXT = "policies/code-of-conduct.txt"
NEW_PARAGRAPH = (
    "\n\n## 12. Visitor badges\n\nVisitors to the Osaka warehouse wear a yellow quokka badge at "
    "all times and are escorted by the host employee.\n"
)


@contextmanager
def opened(settings: Settings, embedder: Embedder) -> Iterator[ChunkStore]:
    """The store as ``ragsvc/index.py`` builds it; closed on the way out."""
    store = ChunkStore(open_backend(settings.store), embedder)
    try:
        yield store
    finally:
        store.close()


@dataclass(frozen=True, slots=True)
class Snapshot:
    work: Path
    saved: Path
    settings: Settings
    report: IngestReport

    @property
    def corpus(self) -> Path:
        return self.work / "corpus"


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Snapshot:
    base = tmp_path_factory.mktemp("ingest")
    work = base / "work"
    shutil.copytree(DEMO_CORPUS, work / "corpus")
    settings = make_settings(work)
    with opened(settings, embedder) as store:
        report = IngestJob(store, settings).run([work / "corpus"])
    saved = base / "saved"
    shutil.copytree(work, saved)
    return Snapshot(work, saved, settings, report)


@pytest.fixture
def demo(snapshot: Snapshot) -> Snapshot:
    """The ingested demo corpus and its store, as the first ingest left them."""
    shutil.rmtree(snapshot.work)
    shutil.copytree(snapshot.saved, snapshot.work)
    return snapshot


def _ids_by_source(store: ChunkStore) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = {}
    for point in store.scroll():
        ids.setdefault(point.payload["source"], set()).add(point.id)
    return ids


def _assert_one_live_point_per_chunk(store: ChunkStore) -> None:
    points = list(store.scroll())
    assert all(p.payload["state"] == "live" for p in points)
    per_chunk = Counter((p.payload["doc_id"], p.payload["chunk_no"]) for p in points)
    assert [key for key, n in per_chunk.items() if n > 1] == []


def test_first_ingest_adds_every_demo_file(demo: Snapshot, embedder: Embedder) -> None:
    report = demo.report
    assert report.ok, report.failed
    assert report.warnings == []
    assert sorted(report.added) == DEMO_FILES
    assert report.updated == report.unchanged == report.pruned == []
    assert report.chunks_written > 0
    with opened(demo.settings, embedder) as store:
        assert store.count() == store.count(live_only=False) == report.chunks_written
        assert sorted(_ids_by_source(store)) == DEMO_FILES
        documents = store.documents()
        assert sorted(d.source for d in documents.values()) == DEMO_FILES
        assert sum(d.chunks for d in documents.values()) == report.chunks_written
        _assert_one_live_point_per_chunk(store)


def test_rerun_on_unchanged_files_changes_nothing(demo: Snapshot, embedder: Embedder) -> None:
    with opened(demo.settings, embedder) as store:
        before = _ids_by_source(store)
        report = IngestJob(store, demo.settings).run([demo.corpus])
        assert sorted(report.unchanged) == DEMO_FILES
        assert report.added == report.updated == report.failed == []
        assert (report.chunks_written, report.staged_removed) == (0, 0)
        assert _ids_by_source(store) == before
        assert store.count() == demo.report.chunks_written


def test_editing_one_file_replaces_only_its_points(demo: Snapshot, embedder: Embedder) -> None:
    with (demo.corpus / POLICY_MD).open("a") as fh:
        fh.write(NEW_PARAGRAPH)
    with opened(demo.settings, embedder) as store:
        before = _ids_by_source(store)
        report = IngestJob(store, demo.settings).run([demo.corpus])
        assert report.updated == [POLICY_MD]
        assert sorted(report.unchanged) == [f for f in DEMO_FILES if f != POLICY_MD]
        assert report.added == report.failed == []

        after = _ids_by_source(store)
        assert {s: i for s, i in after.items() if s != POLICY_MD} == {
            s: i for s, i in before.items() if s != POLICY_MD
        }
        assert after[POLICY_MD].isdisjoint(before[POLICY_MD])
        assert len(after[POLICY_MD]) == report.chunks_written
        _assert_one_live_point_per_chunk(store)

        retriever = HybridRetriever(store, demo.settings.retrieval)
        top = retriever.search("What badge do visitors to the Osaka warehouse wear?")[0]
        assert top.payload["source"] == POLICY_MD
        assert "quokka" in top.text


def test_deleted_file_stays_until_pruned(demo: Snapshot, embedder: Embedder) -> None:
    (demo.corpus / CONDUCT_TXT).unlink()
    with opened(demo.settings, embedder) as store:
        job = IngestJob(store, demo.settings)
        before = _ids_by_source(store)

        kept = job.run([demo.corpus])
        assert kept.pruned == []
        assert CONDUCT_TXT in _ids_by_source(store)

        pruned = job.run([demo.corpus], prune=True)
        assert pruned.pruned == [CONDUCT_TXT]
        assert sorted(pruned.unchanged) == [f for f in DEMO_FILES if f != CONDUCT_TXT]
        after = _ids_by_source(store)
        assert CONDUCT_TXT not in after
        assert after == {s: i for s, i in before.items() if s != CONDUCT_TXT}
        assert store.count() == demo.report.chunks_written - len(before[CONDUCT_TXT])


def test_bad_files_are_reported_and_everything_else_ingested(
    demo: Snapshot, embedder: Embedder
) -> None:
    (demo.corpus / "policies" / "scanned.pdf").write_bytes(random.Random(3).randbytes(4096))
    (demo.corpus / "faq" / "facilities.csv").write_text(
        "id,question,answer\n"
        "fac-1,Where do I park my bicycle?,In the basement bicycle racks of the Tokyo office.\n"
        "fac-2,A row,with one cell,too many\n"
        "fac-3,Who waters the office plants?,The facilities team waters them every Monday.\n"
    )
    # files in dot folders (a git checkout's CI settings) are not part of the corpus
    (demo.corpus / ".github" / "workflows").mkdir(parents=True)
    (demo.corpus / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    (demo.corpus / "faq" / ".draft.yaml").write_text("faqs: []\n")
    with opened(demo.settings, embedder) as store:
        report = IngestJob(store, demo.settings).run([demo.corpus])
        assert not report.ok
        assert [f.source for f in report.failed] == ["policies/scanned.pdf"]
        assert "unreadable PDF" in report.failed[0].reason
        assert report.warnings == [
            FileProblem(
                "faq/facilities.csv",
                "line 3: has a different number of cells than the header's 3",
            )
        ]
        assert report.added == ["faq/facilities.csv"]
        assert sorted(report.unchanged) == DEMO_FILES

        sources = _ids_by_source(store)
        assert "policies/scanned.pdf" not in sources
        faq_ids = {
            p.payload["faq"]["faq_id"]
            for p in store.scroll()
            if p.payload["source"] == "faq/facilities.csv"
        }
        assert faq_ids == {"fac-1", "fac-3"}
        assert report.to_dict()["ok"] is False


def test_hostile_files_and_links_out_of_the_corpus_are_reported_and_not_read(
    demo: Snapshot, embedder: Embedder
) -> None:
    (demo.corpus / "faq" / "lol.yaml").write_text(BILLION_LAUGHS)
    secret = demo.work / "secret.md"
    secret.write_text("# Payroll\n\nThe payroll system password is quokka-77.\n")
    (demo.corpus / "policies" / "payroll.md").symlink_to(secret)
    with opened(demo.settings, embedder) as store:
        report = IngestJob(store, demo.settings).run([demo.corpus])
        reasons = {f.source: f.reason for f in report.failed}
        assert sorted(reasons) == ["faq/lol.yaml", "policies/payroll.md"]
        assert reasons["faq/lol.yaml"].startswith("YAML aliases over ingest.max_yaml_aliases")
        assert reasons["policies/payroll.md"].startswith("symlink leaves the ingest root")
        assert sorted(report.unchanged) == DEMO_FILES
        assert not any("quokka-77" in p.payload["text"] for p in store.scroll())


def test_killed_run_is_invisible_and_cleaned_up_by_the_next_run(
    demo: Snapshot, embedder: Embedder
) -> None:
    path = demo.corpus / POLICY_MD
    with path.open("a") as fh:
        fh.write(NEW_PARAGRAPH)
    doc_id = str(path.resolve())

    # a run that staged the new version of the file and died before publishing it
    with opened(demo.settings, embedder) as store:
        job = IngestJob(store, demo.settings)
        old_hash = store.documents()[doc_id].doc_hash
        new_hash = document_hash(path, job.fingerprint)
        chunks = build_chunks(
            read_file(path),
            doc_id=doc_id,
            doc_hash=new_hash,
            source=POLICY_MD,
            source_root=str(demo.corpus.resolve()),
            ingested_at=datetime.now(UTC).isoformat(),
            chunking=demo.settings.chunking,
        )
        store.stage(
            chunks,
            {PRIMARY: embedder.embed_passages([c.embed_text for c in chunks])},
            [document_terms(c.lexical_text, demo.settings.lexical) for c in chunks],
        )

    question = "What badge do visitors to the Osaka warehouse wear?"
    with opened(demo.settings, embedder) as store:
        assert store.count() == demo.report.chunks_written
        assert store.count(live_only=False) == demo.report.chunks_written + len(chunks)
        assert store.documents()[doc_id].doc_hash == old_hash
        retriever = HybridRetriever(store, demo.settings.retrieval)
        hits = retriever.search(question, top_k=20)
        assert hits
        assert all(h.payload["doc_hash"] != new_hash for h in hits)
        assert not any("quokka" in h.text for h in hits)

        report = IngestJob(store, demo.settings).run([demo.corpus])
        assert report.staged_removed == len(chunks)
        assert report.updated == [POLICY_MD]
        assert report.ok
        _assert_one_live_point_per_chunk(store)
        versions = {p.payload["doc_hash"] for p in store.scroll() if p.payload["doc_id"] == doc_id}
        assert versions == {new_hash}
        assert "quokka" in retriever.search(question)[0].text


@pytest.mark.parametrize(
    ("question", "faq_id", "source"),
    [
        ("How do I reset my password?", "it-003", "faq/it-helpdesk.csv"),
        ("パスワードを変更するにはどうすればよいですか？", "ja-003", "faq/faq-ja.jsonl"),
        ("VPNにつながりません。何を確認すればよいですか？", "ja-002", "faq/faq-ja.jsonl"),
    ],
)
def test_demo_faq_questions_find_their_entry(
    demo: Snapshot, embedder: Embedder, question: str, faq_id: str, source: str
) -> None:
    with opened(demo.settings, embedder) as store:
        matcher = FaqMatcher(HybridRetriever(store, demo.settings.retrieval))
        best = matcher.match(question)[0]
        assert (best.faq_id, best.source) == (faq_id, source)
        assert best.confidence > 0.8


def test_document_search_finds_the_policy_page(demo: Snapshot, embedder: Embedder) -> None:
    with opened(demo.settings, embedder) as store:
        retriever = HybridRetriever(store, demo.settings.retrieval)
        hits = retriever.search(
            "What is the hotel limit per night in Tokyo?", SearchFilters(kind="doc")
        )
        top = hits[0]
        assert top.payload["source"] == "policies/travel-and-expense-policy.pdf"
        assert top.payload["page"] in {1, 2, 3}
        assert all(h.payload["kind"] == "doc" for h in hits)
