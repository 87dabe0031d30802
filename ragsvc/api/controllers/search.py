"""Retrieval as it is, for operators checking what the index returns."""

from __future__ import annotations

from typing import Annotated

import anyio
from litestar import Controller, get
from litestar.di import Provide
from litestar.params import Parameter

from ragsvc.api.access import access
from ragsvc.api.deps import provide_runtime
from ragsvc.api.schemas import FaqMatchResponse, SearchHit, SearchResponse
from ragsvc.errors import InvalidRequestError
from ragsvc.runtime import Runtime
from ragsvc.store.schema import SearchFilters

Query = Annotated[str, Parameter(min_length=1, max_length=2000, description="question")]


def _require_text(q: str) -> str:
    if not q.strip():
        raise InvalidRequestError("q must not be blank")
    return q


class SearchController(Controller):
    path = "/v1"
    tags = ["retrieval"]  # noqa: RUF012 - litestar reads these class attributes
    dependencies = {"runtime": Provide(provide_runtime, sync_to_thread=False)}  # noqa: RUF012

    @get("/search", **access("operator"))
    async def search(
        self,
        runtime: Runtime,
        q: Query,
        top_k: Annotated[int, Parameter(ge=1, le=50)] = 5,
        kind: str | None = None,
        language: str | None = None,
        tag: list[str] | None = None,
    ) -> SearchResponse:
        """Hybrid search hits with their dense, lexical and fused scores."""
        filters = SearchFilters(kind=kind, language=language, tags=tuple(tag or ()))
        retriever = runtime.index.retriever
        hits = await anyio.to_thread.run_sync(
            lambda: retriever.search(_require_text(q), filters, top_k=top_k)
        )
        return SearchResponse(query=q, hits=[SearchHit.of(h) for h in hits])

    @get("/faq/match", **access("operator"))
    async def faq_match(self, runtime: Runtime, q: Query) -> list[FaqMatchResponse]:
        """The best FAQ entries with the confidence the router compares with its threshold."""
        matches = await anyio.to_thread.run_sync(lambda: runtime.index.faq.match(_require_text(q)))
        return [FaqMatchResponse.of(m) for m in matches[:3]]
