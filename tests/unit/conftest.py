"""Unit fixtures: a tiny corpus indexed with the fake embedder into a Qdrant Edge store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from ingest.job import IngestJob
from ragsvc.api.app import create_app
from ragsvc.index import Index
from ragsvc.retrieval.faq import FaqMatcher
from ragsvc.retrieval.hybrid import HybridRetriever
from ragsvc.runtime import Runtime
from ragsvc.settings import Settings
from ragsvc.store.aliases import EdgeAliases
from ragsvc.store.edge import EdgeBackend
from ragsvc.store.following import FollowingBackend
from ragsvc.store.qdrant_store import ChunkStore
from tests.fakes import FakeAnalyzer, FakeEmbedder, complex_on_and, fake_runtime

FAQ_YAML = """\
faqs:
  - id: pw-1
    question: How do I reset my password?
    answer: Open the password portal, choose Forgot password and follow the emailed link.
    tags: [it]
  - id: vpn-1
    question: How do I connect to the VPN from home?
    answer: Start the KumoConnect client and approve the sign-in in the authenticator app.
    tags: [it]
"""
POLICY_MD = """\
# Travel Policy

## Hotels

The hotel limit is 15000 yen per night in Tokyo and 12000 yen per night elsewhere.
Book hotels through the travel desk portal.

## Meals

Meal allowance is 3000 yen per day on business trips. Receipts are not required for meals.
"""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "faq.yaml").write_text(FAQ_YAML)
    (folder / "travel.md").write_text(POLICY_MD)
    return folder


@pytest.fixture
def memory_index(settings: Settings, corpus: Path, tmp_path: Path) -> Iterator[Index]:
    embedder = FakeEmbedder()
    root = tmp_path / "index"
    root.mkdir()
    backend = FollowingBackend(EdgeAliases(root), "test", lambda name: EdgeBackend(root, name))
    store = ChunkStore(backend, embedder)
    report = IngestJob(store, settings).run([corpus])
    assert report.ok, report.failed
    retriever = HybridRetriever(store, settings.retrieval)
    yield Index(embedder, store, retriever, FaqMatcher(retriever))
    store.close()


@pytest.fixture
def fake_service(settings: Settings, memory_index: Index) -> Iterator[TestClient[Any]]:
    """The HTTP service over ``memory_index`` with fake models (questions with an "and" go to
    the fake LLM), started and stopped around the test."""

    def open_parts(s: Settings) -> Runtime:
        return fake_runtime(s, memory_index, FakeAnalyzer(complex_on_and))

    with TestClient(app=create_app(settings, open_parts)) as client:
        yield client
