"""Paging through a Qdrant collection: every record, one page at a time."""

from __future__ import annotations

from collections.abc import Iterator
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
