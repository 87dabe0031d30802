"""Re-index while questions are searched: the real embedders, the demo corpus in the embedded
store; a re-index job of the service builds a new collection and switches the alias, and no search
running meanwhile fails or comes back empty."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from ingest.job import IngestJob
from ingest.phrasings import add_phrasings, entry_phrasings
from ragsvc.embedding.spaces import EmbeddingSpaces
from ragsvc.index import open_index
from ragsvc.ingest_jobs import IngestRunner
from ragsvc.store.aliases import ALIAS_FILE
from tests.conftest import DEMO_CORPUS, make_settings

QUESTIONS = (
    "How do I reset my password?",
    "How many days of paid leave do I get?",
    "What is the hotel limit for business trips?",
)


def test_reindex_while_questions_are_searched(tmp_path: Path, spaces: EmbeddingSpaces) -> None:
    settings = make_settings(
        tmp_path,
        multilingual={"enabled": True},
        ingest={"allowed_roots": [DEMO_CORPUS]},
        store={"path": tmp_path / "qdrant", "alias_refresh_s": 0},
    )
    index = open_index(settings, spaces)
    assert IngestJob(index.store, settings).run([DEMO_CORPUS]).ok
    learned = "How do I get on the company network from a hotel?"
    add_phrasings(index.store, settings.lexical, "it-001", [learned])
    before = index.store.collection
    searched: list[tuple[str, int]] = []  # (collection served, hits)
    failures: list[BaseException] = []
    done = threading.Event()

    def ask_continuously() -> None:
        n = 0
        while not done.is_set():
            try:
                hits = index.retriever.search(QUESTIONS[n % len(QUESTIONS)], top_k=3)
                searched.append((index.store.collection, len(hits)))
            except BaseException as exc:
                failures.append(exc)
            n += 1

    asker = threading.Thread(target=ask_continuously)
    asker.start()
    runner = IngestRunner(index.store, settings)
    try:
        job = runner.submit_reindex()
        deadline = time.monotonic() + 600
        while job.status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)  # questions on the new collection too
    finally:
        done.set()
        asker.join()
        runner.close()
    try:
        assert job.status == "succeeded", job.error
        assert job.report is not None and job.report["previous"] == before
        after = job.report["collection"]
        assert after.startswith(f"{settings.store.collection}-") and after != before
        aliases = json.loads((settings.store.path / ALIAS_FILE).read_text())
        assert aliases == {settings.store.collection: after}
        assert index.store.collection == after  # the service follows at once
        assert not failures, failures[:3]
        served = {collection for collection, _ in searched}
        assert served == {before, after}  # questions were answered on both sides of the switch
        assert all(hits > 0 for _, hits in searched)
        assert job.report["added"] and not job.report["failed"]
        # the learned phrasing was carried into the new collection
        _, phrasings = entry_phrasings(index.store, "it-001")
        assert (learned, "learned") in phrasings
    finally:
        index.close()
    reopened = open_index(settings, spaces)  # a restart reads the alias
    try:
        assert reopened.store.collection == after
        assert reopened.retriever.search(QUESTIONS[0], top_k=1)
    finally:
        reopened.close()
