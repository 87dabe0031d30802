"""Liveness and readiness for the load balancer."""

from __future__ import annotations

from litestar import Request, Response, get

from ragsvc.api.schemas import Health, Readiness, ReadyStatus
from ragsvc.runtime import Runtime


@get("/healthz", tags=["ops"], sync_to_thread=False)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@get("/readyz", tags=["ops"], sync_to_thread=True)
def readyz(request: Request) -> Response[Readiness]:  # type: ignore[type-arg]
    """503 until the index and the models are usable; 200 "degraded" when the LLM is unreachable
    (answers still come from the cheaper routes, so the instance stays in rotation)."""
    runtime: Runtime = request.app.state.runtime
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
    status: ReadyStatus = "ready" if llm and slm else "degraded"
    if points is None:
        status = "unavailable"
    body = Readiness(
        status=status,
        qdrant=points is not None,
        points=points,
        embedder=True,
        slm=slm,
        llm=llm,
        detail=detail,
    )
    return Response(body, status_code=503 if status == "unavailable" else 200)
