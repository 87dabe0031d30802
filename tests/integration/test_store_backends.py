"""The two engines of the store on the demo corpus with the real embedders: the embedded Qdrant
Edge shard and the server API (qdrant-client's local mode standing in for a Qdrant server) hold the
same points and answer dense, BM25 and filtered queries with the same points and scores, before
and after a delete.

After a delete Qdrant's engine (Edge, and a Qdrant server alike: qdrant/qdrant#6739) keeps counting
the deleted points in the BM25 IDF until the segment's sparse index is rebuilt (on load, or by a
vacuum), while local mode recounts at once; dense scores agree at once, BM25 scores once the shard
is reopened, as at a service restart."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest
import qdrant_edge as edge
from qdrant_client import QdrantClient

from ragsvc.index import Index
from ragsvc.store.edge import EdgeBackend
from ragsvc.store.following import FollowingBackend
from ragsvc.store.points import PointData
from ragsvc.store.qdrant_store import ChunkStore
from ragsvc.store.schema import LEXICAL_VECTOR, SearchFilters, StoredPoint
from ragsvc.store.server import ServerBackend
from ragsvc.text.lexical import SparseTerms, query_terms

QUESTIONS = [
    "How do I reset my password?",
    "What is the maximum amount for a hotel night on a business trip?",
    "Can I work from home on Fridays and who approves it?",
    "VPN does not connect",
    "パスワードを忘れた場合はどうすればよいですか？",
    "在宅勤務の申請方法を教えてください。",
    "情報セキュリティ事故の報告先",
    "weather tomorrow",
]


def edge_of(store: ChunkStore) -> EdgeBackend:
    """The Edge shard a store serves (through its alias, as the service opens it)."""
    backend = store.backend
    if isinstance(backend, FollowingBackend):
        backend = backend.current
    assert isinstance(backend, EdgeBackend), "the embedded default is Qdrant Edge"
    return backend


def _edge_points(backend: EdgeBackend) -> Iterator[PointData]:
    """Every point of the shard with its vectors, read through Qdrant Edge itself."""
    offset = None
    while True:
        records, offset = backend.shard.scroll(
            edge.ScrollRequest(offset=offset, limit=256, with_payload=True, with_vector=True)
        )
        for record in records:
            vectors = dict(record.vector)
            sparse = vectors.pop(LEXICAL_VECTOR)
            yield PointData(
                str(record.id),
                {name: np.asarray(v, dtype=np.float32) for name, v in vectors.items()},
                SparseTerms(list(sparse.indices), list(sparse.values)),
                dict(record.payload or {}),
            )
        if offset is None:
            return


@pytest.fixture(scope="module")
def server_copy(demo_index: Index) -> Iterator[ChunkStore]:
    """The demo index copied point by point into the server API."""
    embedded = demo_index.store
    shard = edge_of(embedded)
    server = ServerBackend(QdrantClient(":memory:"), embedded.collection)
    server.create(embedded.dimensions, shard.metadata())
    server.upsert(list(_edge_points(shard)))
    store = ChunkStore(server, embedded.spaces)
    store.check_compatible()
    yield store
    store.close()


def _filters(store: ChunkStore) -> list[SearchFilters]:
    tags = Counter(t for p in store.scroll() for t in p.payload.get("tags") or [])
    common = [tag for tag, _ in tags.most_common(2)]
    return [
        SearchFilters(),
        SearchFilters(kind="faq"),
        SearchFilters(kind="doc", language="ja"),
        SearchFilters(tags=tuple(common)),
    ]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-5 * max(1.0, abs(b))


def _assert_same(embedded: list[StoredPoint], server: list[StoredPoint]) -> None:
    """Same scores in the same order; points tied on score may come in either order, and a tie
    at the end of the list may be cut differently."""
    assert len(embedded) == len(server)
    np.testing.assert_allclose(
        [p.score for p in embedded], [p.score for p in server], rtol=1e-5, atol=1e-6
    )
    theirs = {p.id: p for p in server}
    for mine in embedded:
        if mine.id in theirs:
            assert _close(mine.score, theirs[mine.id].score)
            assert mine.payload == theirs[mine.id].payload
            if mine.dense is not None:
                np.testing.assert_allclose(mine.dense, theirs[mine.id].dense, atol=1e-6)
        else:
            assert _close(mine.score, server[-1].score), "only a tie at the cut may differ"


def _compare(embedded: ChunkStore, server: ChunkStore, lexical_too: bool = True) -> int:
    """Compares every question in every space under every filter; returns the hits compared."""
    spaces = embedded.spaces.embedders()
    assert len(spaces) == 2, "the demo index has the multilingual space too"
    compared = 0
    for space, embedder in spaces.items():
        vectors = embedder.embed_queries(QUESTIONS)
        for question, vector in zip(QUESTIONS, vectors, strict=True):
            for filters in _filters(embedded):
                dense = embedded.search_dense(vector, filters, 20, space)
                _assert_same(dense, server.search_dense(vector, filters, 20, space))
                if not lexical_too:
                    continue
                terms = query_terms(question)
                lexical = embedded.search_lexical(terms, filters, 20, space)
                _assert_same(lexical, server.search_lexical(terms, filters, 20, space))
                assert all(point.dense is not None for point in lexical)
                compared += len(dense) + len(lexical)
    return compared


def test_both_engines_answer_alike(demo_index: Index, server_copy: ChunkStore) -> None:
    assert server_copy.count() == demo_index.store.count() > 100
    assert _compare(demo_index.store, server_copy) > 1000


def test_both_engines_answer_alike_after_a_delete(
    demo_index: Index, server_copy: ChunkStore
) -> None:
    store = demo_index.store
    doc_id = next(p.payload["doc_id"] for p in store.scroll() if p.payload["kind"] == "doc")
    vector = demo_index.embedder.embed_queries(["travel expenses hotel"])[0]
    everything = SearchFilters()
    before = store.search_dense(vector, everything, 10_000)
    assert any(p.payload["doc_id"] == doc_id for p in before)
    for engine in (store, server_copy):
        assert engine.delete_document(doc_id) > 0
    after = store.search_dense(vector, everything, 10_000)
    assert all(p.payload["doc_id"] != doc_id for p in after)
    assert len(after) < len(before)
    assert server_copy.count() == store.count()
    _compare(store, server_copy, lexical_too=False)

    directory = edge_of(store).directory
    store.close()  # as at a restart: the shard's sparse index is rebuilt without the deleted points
    reopened = ChunkStore(EdgeBackend(directory.parent, directory.name), store.spaces)
    try:
        _compare(reopened, server_copy)
    finally:
        reopened.close()
