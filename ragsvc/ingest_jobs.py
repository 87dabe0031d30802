"""Ingest jobs run inside the service, one at a time, in a background thread.

The embedded Qdrant store can be opened by one process only, so while the service holds it the
operator's ``ragsvc ingest`` hands its job to the service (``POST /v1/ingest``) and follows its
progress (``GET /v1/ingest/{job}``). Jobs are kept in memory: a restart forgets finished jobs, and
the index itself never holds a half-published document (see ``ingest.job``).
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from ragsvc.embedding.base import Embedder
from ragsvc.errors import InvalidRequestError, NotFoundError
from ragsvc.settings import Settings
from ragsvc.store.qdrant_store import ChunkStore
from ragsvc.traces.schema import utc_now

log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "succeeded", "failed"]
_MAX_KEPT = 100


@dataclass(slots=True)
class IngestJobState:
    job_id: str
    paths: list[str]
    prune: bool
    status: JobStatus = "queued"
    created_at: datetime = field(default_factory=utc_now)
    finished_at: datetime | None = None
    files_done: int = 0
    files_total: int = 0
    current: str = ""
    report: dict[str, Any] | None = None
    error: str | None = None


class IngestRunner:
    def __init__(self, store: ChunkStore, embedder: Embedder, settings: Settings) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self._jobs: dict[str, IngestJobState] = {}
        self._queue: queue.Queue[IngestJobState | None] = queue.Queue()
        self._lock = threading.Lock()
        self._worker = threading.Thread(target=self._work, name="ingest", daemon=True)
        self._worker.start()

    def submit(self, paths: list[str], prune: bool) -> IngestJobState:
        if not paths:
            raise InvalidRequestError("paths must name at least one file or folder")
        missing = [p for p in paths if not Path(p).exists()]
        if len(missing) == len(paths):
            raise InvalidRequestError(
                f"none of the paths exist on the service's machine: {', '.join(missing)}; "
                "give absolute paths the service can read"
            )
        job = IngestJobState(job_id=uuid.uuid4().hex[:12], paths=paths, prune=prune)
        with self._lock:
            self._jobs[job.job_id] = job
            for old in list(self._jobs)[:-_MAX_KEPT]:
                del self._jobs[old]
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> IngestJobState:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(
                f"no ingest job {job_id!r} (finished jobs are forgotten on restart)"
            )
        return job

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=600)

    def _work(self) -> None:
        from ingest.job import IngestJob

        while (job := self._queue.get()) is not None:
            job.status = "running"

            def progress(source: str, done: int, total: int, state: IngestJobState = job) -> None:
                state.current, state.files_done, state.files_total = source, done, total

            try:
                runner = IngestJob(self.store, self.embedder, self.settings)
                paths = [Path(p) for p in job.paths]
                report = runner.run(paths, prune=job.prune, progress=progress)
            except Exception as exc:  # the job fails; the service and the other jobs go on
                log.exception("ingest job %s failed", job.job_id)
                job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
            else:
                job.status, job.report = "succeeded", report.to_dict()
            job.finished_at = utc_now()
