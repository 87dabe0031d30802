"""The search mirror of the embedded store against Qdrant's own search, on the demo corpus with the
real embedder: same points, same scores, for dense and BM25 queries, with and without filters,
before and after a write."""

from __future__ import annotations

from collections import Counter

import numpy as np

from ragsvc.index import Index
from ragsvc.store.qdrant_store import ChunkStore
from ragsvc.store.schema import SearchFilters, StoredPoint
from ragsvc.text.lexical import query_terms

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


def _qdrant_only(index: Index) -> ChunkStore:
    store = index.store
    return ChunkStore(store.client, store.collection, store.spaces, mirror=False)


def _filters(index: Index) -> list[SearchFilters]:
    tags = Counter(t for p in index.store.scroll() for t in p.payload.get("tags") or [])
    common = [tag for tag, _ in tags.most_common(2)]
    return [
        SearchFilters(),
        SearchFilters(kind="faq"),
        SearchFilters(kind="doc", language="ja"),
        SearchFilters(tags=tuple(common)),
    ]


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-5 * max(1.0, abs(b))


def _assert_same(mirrored: list[StoredPoint], native: list[StoredPoint]) -> None:
    """Same scores in the same order; points tied on score may come in either order, and a tie
    at the end of the list may be cut differently."""
    assert len(mirrored) == len(native)
    np.testing.assert_allclose(
        [p.score for p in mirrored], [p.score for p in native], rtol=1e-5, atol=1e-6
    )
    theirs = {p.id: p for p in native}
    for mine in mirrored:
        if mine.id in theirs:
            assert _close(mine.score, theirs[mine.id].score)
            assert mine.payload == theirs[mine.id].payload
        else:
            assert _close(mine.score, native[-1].score), "only a tie at the cut may differ"


def _compare(index: Index, native: ChunkStore) -> None:
    assert index.store.mirror is not None
    spaces = index.store.spaces.embedders()
    assert len(spaces) == 2, "the demo index has the multilingual space too"
    for space, embedder in spaces.items():
        vectors = embedder.embed_queries(QUESTIONS)
        for question, vector in zip(QUESTIONS, vectors, strict=True):
            for filters in _filters(index):
                _assert_same(
                    index.store.search_dense(vector, filters, 20, space),
                    native.search_dense(vector, filters, 20, space),
                )
                terms = query_terms(question)
                mirrored = index.store.search_lexical(terms, filters, 20, space)
                _assert_same(mirrored, native.search_lexical(terms, filters, 20, space))
                for point in mirrored:
                    assert point.dense is not None
                    stored = _stored_dense(native, point.id, space)
                    np.testing.assert_allclose(point.dense, stored, atol=1e-6)


def _stored_dense(native: ChunkStore, point_id: str, space: str) -> np.ndarray:
    [record] = native.client.retrieve(native.collection, [point_id], with_vectors=[space])
    assert isinstance(record.vector, dict)
    return np.asarray(record.vector[space], dtype=np.float32)


def test_mirror_answers_as_qdrant_does(demo_index: Index) -> None:
    _compare(demo_index, _qdrant_only(demo_index))


def test_mirror_follows_writes(demo_index: Index) -> None:
    store = demo_index.store
    doc_id = next(p.payload["doc_id"] for p in store.scroll() if p.payload["kind"] == "doc")
    vector = demo_index.embedder.embed_queries(["travel expenses hotel"])[0]
    everything = SearchFilters()
    before = store.search_dense(vector, everything, 10_000)
    assert any(p.payload["doc_id"] == doc_id for p in before)
    store.delete_document(doc_id)
    after = store.search_dense(vector, everything, 10_000)
    assert all(p.payload["doc_id"] != doc_id for p in after)
    assert len(after) < len(before)
    _compare(demo_index, _qdrant_only(demo_index))
