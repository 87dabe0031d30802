"""The app factory: all wiring in one place; long-lived clients opened in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import anyio
from litestar import Controller, Litestar, MediaType, Request, Response, get
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.params import Parameter

from ragsvc.api.schemas import FaqMatchResponse, Health, SearchHit, SearchResponse
from ragsvc.errors import RagsvcError
from ragsvc.index import Index, open_index
from ragsvc.retrieval.hybrid import SearchFilters
from ragsvc.settings import Settings

MAX_QUERY_CHARS = 2000

Query = Annotated[str, Parameter(min_length=1, max_length=MAX_QUERY_CHARS, description="question")]


def _index(request: Request) -> Index:  # type: ignore[type-arg]
    index: Index = request.app.state.index
    return index


def _require_text(q: str) -> str:
    if not q.strip():
        raise ValidationException("q must not be blank")
    return q


class SearchController(Controller):
    path = "/v1"
    tags = ["retrieval"]  # noqa: RUF012 - litestar reads these class attributes
    dependencies = {"index": Provide(_index, sync_to_thread=False)}  # noqa: RUF012

    @get("/search")
    async def search(
        self,
        index: Index,
        q: Query,
        top_k: Annotated[int, Parameter(ge=1, le=50)] = 5,
        kind: str | None = None,
        language: str | None = None,
        tag: list[str] | None = None,
    ) -> SearchResponse:
        filters = SearchFilters(kind=kind, language=language, tags=tuple(tag or ()))
        hits = await anyio.to_thread.run_sync(
            lambda: index.retriever.search(_require_text(q), filters, top_k=top_k)
        )
        return SearchResponse(query=q, hits=[SearchHit.of(h) for h in hits])

    @get("/faq/match")
    async def faq_match(self, index: Index, q: Query) -> list[FaqMatchResponse]:
        matches = await anyio.to_thread.run_sync(lambda: index.faq.match(_require_text(q)))
        return [FaqMatchResponse.of(m) for m in matches[:3]]


@get("/healthz", tags=["ops"], sync_to_thread=False)
def healthz(request: Request) -> Health:  # type: ignore[type-arg]
    index: Index = request.app.state.index
    return Health(status="ok", points=index.store.count())


def _domain_error(_: Request, exc: RagsvcError) -> Response[dict[str, str]]:  # type: ignore[type-arg]
    return Response({"detail": str(exc)}, status_code=503, media_type=MediaType.JSON)


def create_app(settings: Settings, index: Index | None = None) -> Litestar:
    """The service; pass ``index`` to reuse one already open (tests), else it is opened here."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.index = index or await anyio.to_thread.run_sync(open_index, settings)
        try:
            yield
        finally:
            if index is None:
                app.state.index.close()

    return Litestar(
        route_handlers=[SearchController, healthz],
        lifespan=[lifespan],
        exception_handlers={RagsvcError: _domain_error},
    )
