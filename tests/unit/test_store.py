"""The chunk store on both engines (Qdrant Edge, and qdrant-client's local mode standing in for a
server): schema check, staged writes, publication, searches."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from ragsvc.embedding.base import Vectors, normalise
from ragsvc.embedding.spaces import PRIMARY, EmbeddingSpaces
from ragsvc.errors import ConfigError, IndexSchemaError
from ragsvc.settings import LexicalSettings
from ragsvc.store.edge import METADATA_FILE, EdgeBackend
from ragsvc.store.points import PointBackend
from ragsvc.store.qdrant_store import ChunkStore
from ragsvc.store.schema import Chunk, SearchFilters, point_id
from ragsvc.store.server import ServerBackend
from ragsvc.text.lexical import document_terms, query_terms, tokenize

COLLECTION = "test"


class HashEmbedder:
    """Bag of lexical tokens hashed into ``dimension`` dimensions, normalised: same words, same
    direction."""

    def __init__(self, dimension: int = 32, name: str = "hash-embedder-32") -> None:
        self.dimension = dimension
        self.name = name

    def warm_up(self) -> None:
        return None

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in tokenize(text):
                digest = hashlib.md5(token.encode()).digest()
                vectors[row, int.from_bytes(digest[:4], "big") % self.dimension] += 1.0
        return normalise(vectors)

    embed_passages = embed_queries


EMBEDDER = HashEmbedder()
MULTI = HashEmbedder(16, "hash-embedder-16")


@pytest.fixture(params=["edge", "server"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PointBackend]:
    """Every store test runs on Qdrant Edge and on the server API (qdrant-client local mode)."""
    engine: PointBackend = (
        EdgeBackend(tmp_path, COLLECTION)
        if request.param == "edge"
        else ServerBackend(QdrantClient(":memory:"), COLLECTION)
    )
    yield engine
    engine.close()


@pytest.fixture
def store(backend: PointBackend) -> ChunkStore:
    chunk_store = ChunkStore(backend, EMBEDDER)
    chunk_store.ensure_collection()
    return chunk_store


def _chunks(doc_id: str, doc_hash: str, texts: list[str]) -> list[Chunk]:
    return [
        Chunk(
            doc_id=doc_id,
            doc_hash=doc_hash,
            chunk_no=n,
            kind="doc",
            text=text,
            source=f"{doc_id}.md",
            source_root="/corpus",
            title=doc_id,
            language="en",
            content_hash=hashlib.sha256(text.encode()).hexdigest()[:32],
            ingested_at="2024-04-01T00:00:00+00:00",
            doc_chunks=len(texts),
            embed_text=text,
            lexical_text=text,
        )
        for n, text in enumerate(texts)
    ]


def _stage(store: ChunkStore, chunks: list[Chunk]) -> None:
    dense = EMBEDDER.embed_passages([c.embed_text for c in chunks])
    lexical = [document_terms(c.lexical_text, LexicalSettings()) for c in chunks]
    store.stage(chunks, {PRIMARY: dense}, lexical)


def _visible(store: ChunkStore) -> set[str]:
    """Every point a query can reach (a dense search ranks all of them, limit permitting)."""
    query = "hotel limit per night"
    dense = store.search_dense(EMBEDDER.embed_queries([query])[0], SearchFilters(), limit=100)
    lexical = store.search_lexical(query_terms(query), SearchFilters(), limit=100)
    return {p.id for p in dense} | {p.id for p in lexical}


def _all_ids(store: ChunkStore) -> set[str]:
    return {p.id for p in store.scroll()}


HOTEL_V1 = ["The hotel limit is 15000 yen per night.", "Book hotels through the travel desk."]
HOTEL_V2 = ["The hotel limit is 18000 yen per night.", "Book on the portal.", "Keep receipts."]


# -- schema -----------------------------------------------------------------------------------


def test_new_collection_records_schema_and_embedder(backend: PointBackend) -> None:
    store = ChunkStore(backend, EMBEDDER)
    store.ensure_collection()
    store.ensure_collection()  # idempotent
    metadata = backend.metadata()
    assert metadata == {"schema_version": 2, "dimension": 32, "embedder": "hash-embedder-32"}
    store.check_compatible()


@pytest.mark.parametrize(("dimension", "embedder"), [(32, "another-model"), (64, EMBEDDER.name)])
def test_collection_of_another_embedder_or_dimension_is_refused(
    store: ChunkStore, backend: PointBackend, dimension: int, embedder: str
) -> None:
    other = ChunkStore(backend, HashEmbedder(dimension, embedder))
    with pytest.raises(IndexSchemaError, match="re-index") as error:
        other.ensure_collection()
    assert embedder in str(error.value)
    with pytest.raises(IndexSchemaError):
        other.check_compatible()


def test_collection_of_schema_1_is_refused(backend: PointBackend) -> None:
    backend.create({PRIMARY: 32}, {"schema_version": 1, "dimension": 32, "embedder": EMBEDDER.name})
    store = ChunkStore(backend, EMBEDDER)
    with pytest.raises(IndexSchemaError, match="re-index") as error:
        store.ensure_collection()
    assert "'schema_version': 1" in str(error.value)


def test_edge_directory_without_ragsvc_metadata_is_refused(tmp_path: Path) -> None:
    backend = EdgeBackend(tmp_path, COLLECTION)
    backend.create({PRIMARY: 32}, {})
    backend.close()
    (tmp_path / COLLECTION / METADATA_FILE).unlink()
    with pytest.raises(ConfigError, match="move it away"):
        EdgeBackend(tmp_path, COLLECTION).create({PRIMARY: 32}, {})


def test_edge_store_is_opened_by_one_owner_at_a_time(tmp_path: Path) -> None:
    backend = EdgeBackend(tmp_path, COLLECTION)
    ChunkStore(backend, EMBEDDER).ensure_collection()
    with pytest.raises(ConfigError, match="open in another process"):
        EdgeBackend(tmp_path, COLLECTION)
    backend.close()
    EdgeBackend(tmp_path, COLLECTION).close()


def test_missing_collection_is_reported_by_check_compatible(backend: PointBackend) -> None:
    store = ChunkStore(backend, EMBEDDER)
    with pytest.raises(IndexSchemaError, match="does not exist"):
        store.check_compatible()


def test_dimension_must_be_positive(backend: PointBackend) -> None:
    with pytest.raises(ValueError, match="got 0"):
        ChunkStore(backend, HashEmbedder(0))


def test_collection_without_the_multilingual_space_is_refused(
    store: ChunkStore, backend: PointBackend
) -> None:
    both = ChunkStore(backend, EmbeddingSpaces(EMBEDDER, MULTI, frozenset({"ja"})))
    with pytest.raises(IndexSchemaError, match="re-index") as error:
        both.ensure_collection()
    assert MULTI.name in str(error.value)


def test_each_space_is_searched_with_its_own_vectors(backend: PointBackend) -> None:
    spaces = EmbeddingSpaces(EMBEDDER, MULTI, frozenset({"ja"}))
    store = ChunkStore(backend, spaces)
    store.ensure_collection()
    chunks = _chunks("policy", "v1", ["hotel limit per night", "meal allowance per day"])
    lexical = [document_terms(c.lexical_text, LexicalSettings()) for c in chunks]
    store.stage(chunks, spaces.embed_passages([c.embed_text for c in chunks]), lexical)
    store.publish("policy", "v1")
    for space, embedder in spaces.embedders().items():
        vector = embedder.embed_queries(["meal allowance"])[0]
        [best, _] = store.search_dense(vector, SearchFilters(), 2, space)
        assert best.payload["text"] == "meal allowance per day"
        [hit] = store.search_lexical(query_terms("meal"), SearchFilters(), 2, space)
        assert hit.dense is not None and hit.dense.shape == (embedder.dimension,)
        scrolled = list(backend.scroll(None, space))
        assert len(scrolled) == 2
        assert all(p.dense is not None and p.dense.shape == (embedder.dimension,) for p in scrolled)
    assert all(p.dense is None for p in backend.scroll())
    with pytest.raises(ValueError, match="the index has"):
        store.stage(chunks, {PRIMARY: EMBEDDER.embed_passages(["x", "y"])}, lexical)


# -- staged writes and publication ------------------------------------------------------------


def test_staged_points_are_invisible_until_published(store: ChunkStore) -> None:
    chunks = _chunks("travel", "v1", HOTEL_V1)
    _stage(store, chunks)
    assert _visible(store) == set()
    assert store.count() == 0
    assert store.count(live_only=False) == 2
    assert store.documents() == {}

    store.publish("travel", "v1")
    assert _visible(store) == {c.id for c in chunks}
    assert store.count() == 2
    document = store.documents()["travel"]
    assert (document.doc_hash, document.source, document.chunks) == ("v1", "travel.md", 2)


def test_publish_replaces_the_old_version_and_touches_no_other_document(
    store: ChunkStore,
) -> None:
    old = _chunks("travel", "v1", HOTEL_V1)
    other = _chunks("meals", "m1", ["Meal allowance is 3000 yen per day."])
    for chunks in (old, other):
        _stage(store, chunks)
        store.publish(chunks[0].doc_id, chunks[0].doc_hash)

    new = _chunks("travel", "v2", HOTEL_V2)
    _stage(store, new)
    # while staged, queries still see the whole old version and nothing of the new one
    assert _visible(store) == {c.id for c in old + other}
    assert store.documents()["travel"].doc_hash == "v1"

    store.publish("travel", "v2")
    assert _all_ids(store) == _visible(store) == {c.id for c in new + other}
    assert store.documents()["travel"].doc_hash == "v2"
    assert store.count(live_only=False) == store.count() == 4


def test_point_ids_are_deterministic_per_document_version_and_chunk() -> None:
    chunk = _chunks("travel", "v1", HOTEL_V1)[1]
    assert chunk.id == point_id("travel", "v1", 1) == _chunks("travel", "v1", ["x", "y"])[1].id
    assert chunk.id != point_id("travel", "v2", 1)
    assert chunk.id != point_id("travel", "v1", 0)


def test_restaging_the_same_version_does_not_duplicate_points(store: ChunkStore) -> None:
    chunks = _chunks("travel", "v1", HOTEL_V1)
    _stage(store, chunks)
    _stage(store, chunks)
    assert store.count(live_only=False) == 2


def test_delete_staged_removes_only_unpublished_points(store: ChunkStore) -> None:
    published = _chunks("travel", "v1", HOTEL_V1)
    _stage(store, published)
    store.publish("travel", "v1")
    _stage(store, _chunks("travel", "v2", HOTEL_V2))  # a run that died before publishing

    assert store.delete_staged() == 3
    assert _all_ids(store) == {c.id for c in published}
    assert store.delete_staged() == 0


def test_delete_document_removes_every_version(store: ChunkStore) -> None:
    _stage(store, _chunks("travel", "v1", HOTEL_V1))
    store.publish("travel", "v1")
    _stage(store, _chunks("travel", "v2", HOTEL_V2))
    _stage(store, _chunks("meals", "m1", ["Meal allowance is 3000 yen per day."]))
    store.publish("meals", "m1")

    store.delete_document("travel")
    assert {p.payload["doc_id"] for p in store.scroll()} == {"meals"}


# -- reads ------------------------------------------------------------------------------------


def test_an_empty_collection_finds_nothing(store: ChunkStore) -> None:
    vector = EMBEDDER.embed_queries(["hotel"])[0]
    assert store.search_dense(vector, SearchFilters(), limit=5) == []
    assert store.search_lexical(query_terms("hotel"), SearchFilters(), limit=5) == []


def test_search_lexical_returns_the_stored_dense_vector(store: ChunkStore) -> None:
    chunks = _chunks("travel", "v1", HOTEL_V1)
    _stage(store, chunks)
    store.publish("travel", "v1")
    hits = store.search_lexical(query_terms("travel desk"), SearchFilters(), limit=5)
    assert [h.id for h in hits] == [chunks[1].id]
    expected = EMBEDDER.embed_passages([chunks[1].embed_text])[0]
    assert hits[0].dense is not None
    np.testing.assert_allclose(hits[0].dense, expected, atol=1e-6)
    assert store.search_lexical(query_terms("how do I"), SearchFilters(), limit=5) == []


def test_search_filter_narrows_by_kind_language_and_tags(store: ChunkStore) -> None:
    chunks = _chunks("travel", "v1", HOTEL_V1)
    chunks[0].tags = ["travel"]
    chunks[1].language = "ja"
    _stage(store, chunks)
    store.publish("travel", "v1")
    vector = EMBEDDER.embed_queries(["hotel"])[0]

    def ids(**filters: object) -> set[str]:
        flt = SearchFilters(**filters)  # type: ignore[arg-type]
        return {p.id for p in store.search_dense(vector, flt, limit=10)}

    assert ids() == {chunks[0].id, chunks[1].id}
    assert ids(kind="faq") == set()
    assert ids(language="ja") == {chunks[1].id}
    assert ids(tags=["travel", "hr"]) == {chunks[0].id}


def test_documents_can_be_narrowed_to_one_source_root(store: ChunkStore) -> None:
    for doc_id, root in (("a", "/corpus"), ("b", "/other")):
        chunks = _chunks(doc_id, "h", ["Some text about hotels."])
        chunks[0].source_root = root
        _stage(store, chunks)
        store.publish(doc_id, "h")
    assert set(store.documents()) == {"a", "b"}
    assert set(store.documents(source_root="/other")) == {"b"}


def test_queries_racing_with_writes_see_one_whole_version(store: ChunkStore) -> None:
    """The in-service ingest job writes while the service's threads search: no error, and every
    search sees whole versions of the document only, never a staged or half-published one (two
    whole versions for the moment between a publish's two steps)."""
    versions = [_chunks("travel", f"v{n}", HOTEL_V1 if n % 2 else HOTEL_V2) for n in range(12)]
    _stage(store, versions[0])
    store.publish("travel", "v0")
    size = {v[0].doc_hash: len(v) for v in versions}
    seen: list[Counter[str]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def search() -> None:
        query = EMBEDDER.embed_queries(["hotel limit per night"])[0]
        while not done.is_set():
            try:
                hits = store.search_dense(query, SearchFilters(), limit=100)
                seen.append(Counter(p.payload["doc_hash"] for p in hits))
            except BaseException as exc:
                errors.append(exc)

    readers = [threading.Thread(target=search) for _ in range(3)]
    for reader in readers:
        reader.start()
    for version in versions[1:]:
        _stage(store, version)
        store.publish("travel", version[0].doc_hash)
    done.set()
    for reader in readers:
        reader.join()
    assert errors == [] and seen
    assert all(1 <= len(found) <= 2 for found in seen)
    assert all(n == size[doc_hash] for found in seen for doc_hash, n in found.items())
    assert _all_ids(store) == {c.id for c in versions[-1]}
