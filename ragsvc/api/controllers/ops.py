"""Liveness and readiness for the load balancer."""

from __future__ import annotations

from litestar import Request, Response, get

from ragsvc.api.limits import RequestLimits
from ragsvc.api.schemas import Health, ModelLoad, Readiness, ReadyStatus
from ragsvc.runtime import Runtime


@get("/healthz", tags=["ops"], sync_to_thread=False)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@get("/readyz", tags=["ops"], sync_to_thread=True)
def readyz(request: Request) -> Response[Readiness]:  # type: ignore[type-arg]
    """503 until the index and the models are usable; 200 "degraded" when the LLM is unreachable
    or the trace writer is failing (answers still come from the cheaper routes, so the instance
    stays in rotation); the model slots' load either way."""
    runtime: Runtime = request.app.state.runtime
    limits: RequestLimits = request.app.state.limits
    detail: list[str] = []
    try:
        points: int | None = runtime.index.store.count()
    except Exception as exc:  # any client error means "not reachable"
        points = None
        detail.append(f"qdrant: {type(exc).__name__}: {exc}")
    llm = runtime.llm.ping()
    if not llm:
        detail.append(f"llm: {runtime.settings.llm.base_url} does not answer")
    slm = runtime.slm is not None or not runtime.settings.slm.enabled
    if not slm:
        detail.append("slm: configured but not loaded (see the service log)")
    writer = runtime.traces.health()
    traces = writer.alive and writer.last_write_ok
    if not traces:
        detail.append(
            f"traces: writer {'alive' if writer.alive else 'stopped'}, {writer.pending} pending, "
            f"{writer.dropped} dropped; last error: {writer.last_error}"
        )
    status: ReadyStatus = "ready" if llm and slm and traces else "degraded"
    if points is None:
        status = "unavailable"
    body = Readiness(
        status=status,
        qdrant=points is not None,
        points=points,
        embedder=True,
        slm=slm,
        llm=llm,
        traces=traces,
        models=[
            ModelLoad.model_validate(load, from_attributes=True) for load in runtime.ask.load()
        ],
        asks_in_flight=limits.asks.count,
        streams_open=limits.streams.count,
        detail=detail,
    )
    return Response(body, status_code=503 if status == "unavailable" else 200)
