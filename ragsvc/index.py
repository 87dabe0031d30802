"""Opening the index: the Qdrant client, the embedder, the store and the retrievers, together."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ragsvc.embedding import Embedder, build_embedder
from ragsvc.embedding.batching import BatchingEmbedder
from ragsvc.embedding.spaces import EmbeddingSpaces
from ragsvc.errors import ConfigError, IndexSchemaError
from ragsvc.retrieval.faq import FaqMatcher
from ragsvc.retrieval.faq_confidence import read_calibrations
from ragsvc.retrieval.hybrid import HybridRetriever
from ragsvc.settings import Settings
from ragsvc.store.points import PointBackend
from ragsvc.store.qdrant_store import ChunkStore, open_backend

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Index:
    embedder: Embedder
    """The primary embedder (English retrieval, the analysis' classifier)."""
    store: ChunkStore
    retriever: HybridRetriever
    faq: FaqMatcher

    def close(self) -> None:
        self.store.close()


def build_spaces(settings: Settings, embedder: Embedder | None = None) -> EmbeddingSpaces:
    """The configured dense spaces (``embedder`` replaces the primary one), not yet warmed up;
    concurrent questions share forward passes unless ``server.batch_query_embeddings`` is off."""

    def shared(model: Embedder) -> Embedder:
        return BatchingEmbedder(model) if settings.server.batch_query_embeddings else model

    primary = shared(embedder or build_embedder(settings.embedder, settings.model_cache_dir))
    multilingual = settings.multilingual
    if not multilingual.enabled:
        return EmbeddingSpaces(primary)
    return EmbeddingSpaces(
        primary,
        shared(build_embedder(multilingual, settings.model_cache_dir)),
        frozenset(multilingual.languages),
    )


def _open_store(backend: PointBackend, spaces: EmbeddingSpaces) -> ChunkStore:
    """The store; an index built before the multilingual space is served as it was (Japanese
    questions search the primary space), with a warning, rather than refused: re-indexing it
    into a new collection is the operator's call (learned phrasings live in the index)."""
    store = ChunkStore(backend, spaces)
    try:
        store.ensure_collection()
    except IndexSchemaError:
        single = ChunkStore(backend, spaces.primary)
        if spaces.multilingual is None or not single.is_compatible():
            raise
        log.warning(
            "the index %r was built without the multilingual space: Japanese questions search "
            "the primary space (%s) as before; re-index into a new collection "
            "(store.collection) to add it, or set multilingual.enabled: false",
            backend.collection,
            spaces.primary.name,
        )
        return single
    return store


_UNREACHABLE = (ResponseHandlingException, UnexpectedResponse)


def _unusable(settings: Settings, exc: Exception) -> ConfigError:
    return ConfigError(
        f"Qdrant at {settings.store.url or settings.store.path} cannot be used: {exc}. Start "
        "it, or fix store.url / store.api_key; the service retries when it is restarted"
    )


def open_index(settings: Settings, embedder: Embedder | EmbeddingSpaces | None = None) -> Index:
    """Open (and warm up) everything retrieval needs; the caller must ``close()`` it.
    ``embedder``: a primary embedder to use instead of the configured one, or all the spaces."""
    spaces = embedder if isinstance(embedder, EmbeddingSpaces) else build_spaces(settings, embedder)
    spaces.warm_up()
    try:
        backend = open_backend(settings.store, follow_s=settings.store.alias_refresh_s)
    except _UNREACHABLE as exc:
        raise _unusable(settings, exc) from exc
    try:
        store = _open_store(backend, spaces)
        store.repair_versions()  # logs what it repaired
    except _UNREACHABLE as exc:
        backend.close()
        raise _unusable(settings, exc) from exc
    except Exception:
        backend.close()
        raise
    retriever = HybridRetriever(
        store, settings.retrieval, settings.multilingual.cross_language_offset
    )
    routing = settings.routing
    matcher = FaqMatcher(
        retriever,
        read_calibrations(routing.faq_calibration),
        threshold=routing.faq_threshold,
    )
    return Index(spaces.primary, store, retriever, matcher)
