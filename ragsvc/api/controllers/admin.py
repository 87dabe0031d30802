"""Admin: ingest jobs run inside the service (the embedded store admits one process)."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import Provide

from ragsvc.api.deps import provide_runtime, require_admin
from ragsvc.api.schemas import IngestJobResponse, IngestRequest
from ragsvc.runtime import Runtime


class IngestController(Controller):
    path = "/v1/ingest"
    tags = ["admin"]  # noqa: RUF012 - litestar reads these class attributes
    dependencies = {  # noqa: RUF012
        "runtime": Provide(provide_runtime, sync_to_thread=False),
        "admin": Provide(require_admin, sync_to_thread=False),
    }

    @post("/", status_code=202, sync_to_thread=False)
    def start(self, runtime: Runtime, admin: None, data: IngestRequest) -> IngestJobResponse:
        """Queue an ingest job over files on the service's machine; poll its progress."""
        return IngestJobResponse.of(runtime.ingest.submit(data.paths, data.prune))

    @get("/{job_id:str}", sync_to_thread=False)
    def status(self, runtime: Runtime, admin: None, job_id: str) -> IngestJobResponse:
        """Progress while running; the ingest summary when done."""
        return IngestJobResponse.of(runtime.ingest.get(job_id))
