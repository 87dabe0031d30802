"""Paging through a Qdrant collection: every record, one page at a time."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from qdrant_client import QdrantClient, models

PAGE = 256


def scroll_records(
    client: QdrantClient,
    collection: str,
    flt: models.Filter | None = None,
    with_vectors: bool = False,
) -> Iterator[models.Record]:
    offset: Any = None
    while True:
        records, offset = client.scroll(
            collection,
            scroll_filter=flt,
            limit=PAGE,
            offset=offset,
            with_payload=True,
            with_vectors=with_vectors,
        )
        yield from records
        if offset is None:
            return


def texts_of(client: QdrantClient, collection: str, ids: Collection[str]) -> dict[str, str]:
    """The stored text of each of the points ``ids`` that exists, by id."""
    if not ids:
        return {}
    records = client.retrieve(collection, list(ids), with_payload=["text"])
    return {str(r.id): str((r.payload or {}).get("text", "")) for r in records}
