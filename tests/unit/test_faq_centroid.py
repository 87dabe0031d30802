"""The FAQ matcher's entry centroid: an entry whose phrasings agree with the question beats an entry
with one close phrasing and nothing else behind it (``retrieval.faq_centroid_weight``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from ingest.job import IngestJob
from ingest.phrasings import add_phrasings
from ragsvc.pipeline.router import faq_is_confident
from ragsvc.retrieval.faq import FaqMatcher, centroid_cosines
from ragsvc.retrieval.fusion import Hit, fuse
from ragsvc.retrieval.hybrid import HybridRetriever
from ragsvc.settings import RetrievalSettings, Settings
from ragsvc.store.edge import EdgeBackend
from ragsvc.store.qdrant_store import ChunkStore
from ragsvc.store.schema import SearchFilters, StoredPoint
from ragsvc.traces.schema import Trace
from tests.fakes import FakeEmbedder

# "card not arrived yet" shares four words with card-1's one close phrasing, whose other
# phrasings and answer are about something else; card-2's three phrasings each share three.
CARDS_YAML = """\
faqs:
  - id: card-1
    question: card not arrived yet please
    alternatives: [zebra quantum violin, orbit lemon harbor]
    answer: Garden tulips bloom in spring.
  - id: card-2
    question: card not arrived
    alternatives: [card not arrived still waiting, card not arrived lost post]
    answer: A card not arrived within a week is sent again.
"""


def _point(faq_id: str, vector: list[float], doc_id: str = "faq") -> StoredPoint:
    payload = {"doc_id": doc_id, "faq": {"faq_id": faq_id}}
    return StoredPoint(f"{faq_id}-{vector}", 0.0, payload, np.asarray(vector, dtype=np.float32))


def test_the_centroid_is_the_normalised_mean_of_an_entrys_vectors() -> None:
    query = np.asarray([1.0, 0.0], dtype=np.float32)
    points = [
        _point("a", [1.0, 0.0]),
        _point("a", [0.0, 1.0]),
        _point("b", [0.6, 0.8]),
        _point("a", [1.0, 0.0], doc_id="other-file"),  # the same id in another file: its own entry
        StoredPoint("no-vector", 0.0, {"doc_id": "faq", "faq": {"faq_id": "c"}}),
    ]
    cosines = centroid_cosines(points, query)
    assert cosines == {
        "faq:a:faq": pytest.approx(1 / np.sqrt(2)),
        "faq:b:faq": pytest.approx(0.6),
        "faq:a:other-file": pytest.approx(1.0),
    }


def test_fusion_ranks_by_the_dense_scores_it_is_given() -> None:
    hits = [Hit("x", {}, 0.9, 0.0), Hit("y", {}, 0.5, 0.0)]
    assert [h.id for h in fuse(hits, 1.0, 2)] == ["x", "y"]
    assert [h.id for h in fuse(hits, 1.0, 2, dense_scores=[0.1, 0.7])] == ["y", "x"]
    assert hits[0].dense_score == 0.9  # the cosines themselves are left as they were
    with pytest.raises(ValueError, match="1 dense scores for 2 hits"):
        fuse(hits, 1.0, 2, dense_scores=[0.1])


@pytest.fixture
def cards(settings: Settings, tmp_path: Path) -> Iterator[ChunkStore]:
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "faq.yaml").write_text(CARDS_YAML)
    store = ChunkStore(EdgeBackend.scratch_store("cards"), FakeEmbedder())
    assert IngestJob(store, settings).run([folder]).ok
    yield store
    store.close()


def _matcher(store: ChunkStore, weight: float) -> FaqMatcher:
    retrieval = RetrievalSettings(faq_centroid_weight={"en": weight})
    return FaqMatcher(HybridRetriever(store, retrieval))


def test_an_entry_whose_phrasings_agree_beats_one_close_phrasing(cards: ChunkStore) -> None:
    assert _matcher(cards, 0.0).match("card not arrived yet")[0].faq_id == "card-1"
    (top, *_) = _matcher(cards, 0.4).match("card not arrived yet")
    assert top.faq_id == "card-2"
    assert top.matched_phrasing == "card not arrived"  # still the entry's closest phrasing
    assert top.features["phrasing_cos"] == pytest.approx(top.hit.dense_score)
    assert top.centroid_weight == 0.4 and top.centroid_cos is not None
    trace = Trace(trace_id="t", question="card not arrived yet")
    faq_is_confident(trace, top, 0.9, trace.question)
    assert trace.checks[0].details["centroid_cos"] == pytest.approx(top.centroid_cos, abs=1e-4)
    assert trace.checks[0].details["centroid_weight"] == 0.4
    (unblended, *_) = _matcher(cards, 0.0).match("card not arrived yet")
    assert unblended.centroid_cos is None and unblended.centroid_weight == 0.0


def test_the_store_gives_every_point_of_the_named_entries_with_vectors(cards: ChunkStore) -> None:
    points = cards.faq_points({"card-2"}, SearchFilters(kind="faq"))
    fields = sorted(str(p.payload["faq"].get("field", "question")) for p in points)
    assert len(points) == 4 and fields.count("answer") == 1
    assert {p.payload["faq"]["faq_id"] for p in points} == {"card-2"}
    assert all(p.dense is not None and p.dense.shape == (FakeEmbedder.dimension,) for p in points)
    assert cards.faq_points(set(), SearchFilters(kind="faq")) == []
    assert cards.faq_points({"card-2"}, SearchFilters(kind="faq", tags=("hr",))) == []


def test_a_learned_phrasing_moves_the_entrys_centroid_at_once(
    cards: ChunkStore, settings: Settings
) -> None:
    question = "zebra orbit card not arrived"
    before = cards.faq_points({"card-1"}, SearchFilters(kind="faq"))
    add_phrasings(cards, settings.lexical, "card-1", ["zebra orbit harbor card"])
    after = cards.faq_points({"card-1"}, SearchFilters(kind="faq"))
    assert len(after) == len(before) + 1
    vector = FakeEmbedder().embed_queries([question])[0]
    ((_, was),) = centroid_cosines(before, vector).items()
    ((_, now),) = centroid_cosines(after, vector).items()
    assert now > was


def test_a_centroid_weight_outside_0_to_1_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"faq_centroid_weight\.en"):
        RetrievalSettings(faq_centroid_weight={"en": 1.5})
