"""The app factory: all wiring in one place; long-lived parts opened in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig

from ragsvc import __version__
from ragsvc.api.controllers.admin import IngestController
from ragsvc.api.controllers.ask import AskController
from ragsvc.api.controllers.ops import healthz, readyz
from ragsvc.api.controllers.search import SearchController
from ragsvc.api.controllers.traces import TraceController
from ragsvc.api.errors import domain_error, http_error
from ragsvc.errors import RagsvcError
from ragsvc.runtime import Runtime, open_runtime
from ragsvc.settings import Settings


def create_app(
    settings: Settings, open_parts: Callable[[Settings], Runtime] = open_runtime
) -> Litestar:
    """The service; ``open_parts`` builds the runtime at startup (tests may pass their own)."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.runtime = await anyio.to_thread.run_sync(open_parts, settings)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(app.state.runtime.close)

    cors = (
        CORSConfig(allow_origins=settings.api.cors_origins) if settings.api.cors_origins else None
    )
    return Litestar(
        route_handlers=[
            AskController,
            TraceController,
            IngestController,
            SearchController,
            healthz,
            readyz,
        ],
        lifespan=[lifespan],
        exception_handlers={RagsvcError: domain_error, HTTPException: http_error},
        cors_config=cors,
        openapi_config=OpenAPIConfig(title="ragsvc", version=__version__, path="/schema"),
        request_max_body_size=1 << 20,
    )
