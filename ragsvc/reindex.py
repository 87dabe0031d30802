"""Zero-downtime re-index: a whole new collection built beside the served one, then the alias
switched (:mod:`ragsvc.store.aliases`).

``ragsvc reindex`` (or ``POST /v1/reindex``, where the service holds the embedded store) reads the
folders the served collection's documents came from, ingests them into a new collection named
``<alias>-<UTC time>`` with the current settings (a new embedder, chunking or schema), carries every
FAQ entry's learned phrasings over from the served collection, and only then points the alias at
the new collection. Until that one step, queries read the served collection; after it, the new
one (:class:`~ragsvc.store.following.FollowingBackend` follows the switch). A build in which any
file failed is not switched to: the alias keeps pointing at the served collection, and the new one
is kept for inspection. The former collection is kept too (the replicas of an older embedder still
read it until they restart); drop it when none does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.job import IngestJob, Progress
from ingest.report import IngestReport
from ragsvc.embedding.spaces import EmbeddingSpaces
from ragsvc.errors import ConfigError, RagsvcError
from ragsvc.settings import Settings
from ragsvc.store.aliases import versioned_name
from ragsvc.store.following import FollowingBackend
from ragsvc.store.qdrant_store import ChunkStore


class ReindexRefusedError(RagsvcError):
    """The new collection was not switched to; the served one stays."""


@dataclass(frozen=True, slots=True)
class ReindexResult:
    alias: str
    previous: str
    collection: str
    report: IngestReport

    def to_dict(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "previous": self.previous,
            "collection": self.collection,
            **self.report.to_dict(),
        }


def reindex(
    served: ChunkStore,
    settings: Settings,
    *,
    spaces: EmbeddingSpaces | None = None,
    roots: Sequence[Path] | None = None,
    progress: Progress | None = None,
) -> ReindexResult:
    """Build a new collection from the sources of ``served`` (opened through its alias) with
    ``spaces`` (default: the served ones) and switch the alias to it. ``roots``: the folders the
    job may read (the service's ``ingest.allowed_roots``); None: anywhere (the operator's CLI)."""
    backend = served.backend
    if not isinstance(backend, FollowingBackend):
        raise ConfigError("re-index needs the index opened through store.collection's alias")
    previous = backend.collection
    sources = sorted({Path(doc.source_root) for doc in served.documents().values()})
    if not sources:
        raise ReindexRefusedError(
            f"collection {previous!r} holds no documents to re-index; run 'ragsvc ingest' first"
        )
    name = versioned_name(backend.alias)
    built = ChunkStore(backend.open_collection(name), spaces or served.spaces)
    try:
        job = IngestJob(built, settings, roots, learned_from=served)
        report = job.run(sources, progress=progress)
    finally:
        built.close()
    if report.failed:
        first = report.failed[0]
        raise ReindexRefusedError(
            f"{len(report.failed)} files could not be indexed (first: {first.source}: "
            f"{first.reason}); alias {backend.alias!r} still points at {previous!r}, the new "
            f"collection {name!r} is kept for inspection. Fix or remove the files and re-index"
        )
    backend.aliases.switch(backend.alias, name)
    return ReindexResult(backend.alias, previous, name, report)
