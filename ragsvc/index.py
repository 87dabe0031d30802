"""Opening the index: the Qdrant client, the embedder, the store and the retrievers, together."""

from __future__ import annotations

from dataclasses import dataclass

from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ragsvc.embedding import Embedder, build_embedder
from ragsvc.errors import ConfigError
from ragsvc.retrieval.faq import FaqMatcher
from ragsvc.retrieval.faq_confidence import calibration_for
from ragsvc.retrieval.hybrid import HybridRetriever
from ragsvc.settings import Settings
from ragsvc.store.qdrant_store import ChunkStore, open_client


@dataclass(slots=True)
class Index:
    client: QdrantClient
    embedder: Embedder
    store: ChunkStore
    retriever: HybridRetriever
    faq: FaqMatcher

    def close(self) -> None:
        self.client.close()


def open_index(settings: Settings, embedder: Embedder | None = None) -> Index:
    """Open (and warm up) everything retrieval needs; the caller must ``close()`` it."""
    embedder = embedder or build_embedder(settings.embedder, settings.model_cache_dir)
    embedder.warm_up()
    client = open_client(settings.store)
    try:
        store = ChunkStore(client, settings.store.collection, embedder.dimension, embedder.name)
        store.ensure_collection()
        store.repair_versions()  # logs what it repaired
    except (ResponseHandlingException, UnexpectedResponse) as exc:
        client.close()
        raise ConfigError(
            f"Qdrant at {settings.store.url or settings.store.path} cannot be used: {exc}. Start "
            "it, or fix store.url / store.api_key; the service retries when it is restarted"
        ) from exc
    except Exception:
        client.close()
        raise
    retriever = HybridRetriever(store, embedder, settings.retrieval)
    routing = settings.routing
    matcher = FaqMatcher(
        retriever,
        calibration_for(routing.faq_calibration, embedder.name),
        threshold=routing.faq_threshold,
    )
    return Index(client, embedder, store, retriever, matcher)
