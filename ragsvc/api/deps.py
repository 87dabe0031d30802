"""Dependency providers: handlers receive the long-lived parts opened in the app's lifespan."""

from __future__ import annotations

from litestar import Request

from ragsvc.api.limits import RequestLimits
from ragsvc.runtime import Runtime


def provide_runtime(request: Request) -> Runtime:  # type: ignore[type-arg]
    runtime: Runtime = request.app.state.runtime
    return runtime


def provide_limits(request: Request) -> RequestLimits:  # type: ignore[type-arg]
    limits: RequestLimits = request.app.state.limits
    return limits
