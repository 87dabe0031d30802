"""Ingest jobs run inside the service, one at a time, in a background thread; and the service's
other writes to the index (uploads, deletions, learned FAQ phrasings).

The embedded Qdrant store can be opened by one process only, so while the service holds it the
operator's ``ragsvc ingest`` hands its job to the service (``POST /v1/ingest``) and follows its
progress (``GET /v1/ingest/{job}``). Jobs are kept in memory: a restart forgets finished jobs, and
the index itself never holds a half-published document (see ``ingest.job``).

The service reads only under ``ingest.allowed_roots``: a job naming any other path is refused, and
one that meets a symlink leading out of them reports that file instead of reading it. Uploads are
stored in ``ingest.upload_dir`` (under the roots) and ingested by a job like any other.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

from ingest.job import IngestJob, Progress
from ingest.phrasings import PhrasingAdded, add_phrasings, entry_phrasings, remove_phrasing
from ingest.readers import READERS
from ingest.roots import outside_roots, resolve_roots
from ragsvc.errors import (
    ConfigError,
    InvalidRequestError,
    NotFoundError,
    ServiceUnavailableError,
)
from ragsvc.settings import Settings
from ragsvc.store.following import FollowingBackend
from ragsvc.store.qdrant_store import ChunkStore, IndexedDocument
from ragsvc.traces.schema import utc_now

log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "succeeded", "failed"]
JobKind = Literal["ingest", "reindex"]
_MAX_KEPT = 100
_WRITE_WAIT_S = 10.0


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
    kind: JobKind = "ingest"
    """``reindex``: a new collection built from the indexed documents' folders, then the alias
    switched to it (:mod:`ragsvc.reindex`); its report names both collections."""


def upload_name(filename: str) -> str:
    """``filename`` when it may be stored in ``ingest.upload_dir`` as it is; else
    :class:`InvalidRequestError` saying why. Names are checked, never rewritten."""
    if not filename or any(c in filename for c in "/\\\0"):
        problem = "must be a bare file name, without folders"
    elif filename.startswith("."):
        problem = "must not start with a dot"
    elif not filename.isprintable():
        problem = "must not contain control characters"
    elif len(filename.encode()) > 255:
        problem = "is longer than 255 bytes"
    elif Path(filename).suffix.lower() not in READERS:
        problem = f"has an unsupported type; supported: {', '.join(sorted(READERS))}"
    else:
        return filename
    raise InvalidRequestError(f"the uploaded file name {filename[:300]!r} {problem}")


class IngestRunner:
    """The service's ingest jobs, and its other changes to the index: uploads and deletions."""

    def __init__(self, store: ChunkStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.roots = resolve_roots(settings.ingest.allowed_roots)
        self.upload_dir = settings.ingest.upload_dir.expanduser().resolve()
        self._jobs: dict[str, IngestJobState] = {}
        self._queue: queue.Queue[IngestJobState | None] = queue.Queue()
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        """Held by a running job and by a phrasing change: a job rebuilding an FAQ file carries
        its learned phrasings over, so none may change between its read and its publish."""
        self._worker = threading.Thread(target=self._work, name="ingest", daemon=True)
        self._worker.start()

    def submit(self, paths: list[str], prune: bool) -> IngestJobState:
        if not paths:
            raise InvalidRequestError("paths must name at least one file or folder")
        refused = [reason for p in paths if (reason := outside_roots(Path(p), self.roots))]
        if refused:
            raise InvalidRequestError("; ".join(refused))
        missing = [p for p in paths if not Path(p).exists()]
        if len(missing) == len(paths):
            raise InvalidRequestError(
                f"none of the paths exist on the service's machine: {', '.join(missing)}; "
                "give absolute paths the service can read"
            )
        return self._queued(IngestJobState(job_id=uuid.uuid4().hex[:12], paths=paths, prune=prune))

    def submit_reindex(self) -> IngestJobState:
        """Queue a re-index of the whole index into a new collection (after the jobs queued)."""
        job = IngestJobState(job_id=uuid.uuid4().hex[:12], paths=[], prune=False, kind="reindex")
        return self._queued(job)

    def _queued(self, job: IngestJobState) -> IngestJobState:
        with self._lock:
            self._jobs[job.job_id] = job
            for old in list(self._jobs)[:-_MAX_KEPT]:
                del self._jobs[old]
        self._queue.put(job)
        return job

    def upload(self, files: Sequence[tuple[str, IO[bytes]]]) -> IngestJobState:
        """Store ``(file name, content)`` pairs in ``ingest.upload_dir``, each replacing a file
        of its name, and queue a job over them. Every name is checked before anything is written."""
        if refused := outside_roots(self.upload_dir, self.roots):
            raise ConfigError(f"uploads are off: ingest.upload_dir: {refused}")
        if not files:
            raise InvalidRequestError("an upload needs at least one file (form field 'files')")
        names = [upload_name(name) for name, _ in files]
        if len(set(names)) < len(names):
            raise InvalidRequestError(f"each file of an upload needs its own name, got {names}")
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        stored = [
            self._store(name, content) for name, (_, content) in zip(names, files, strict=True)
        ]
        return self.submit([str(path) for path in stored], prune=False)

    def _store(self, name: str, content: IO[bytes]) -> Path:
        """Write under a hidden name (never ingested), then rename: no job reads a partial file."""
        target = self.upload_dir / name
        partial = self.upload_dir / f".upload-{uuid.uuid4().hex}.part"
        try:
            with partial.open("xb") as out:
                shutil.copyfileobj(content, out)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def documents(self) -> list[IndexedDocument]:
        """The published documents, by folder and then file."""
        return sorted(self.store.documents().values(), key=lambda d: (d.source_root, d.source))

    def delete_document(self, doc_id: str) -> int:
        """Remove ``doc_id`` from the index, and its file when it was uploaded (a later ingest of
        ``ingest.upload_dir`` would bring it back); returns the points removed."""
        removed = self.store.delete_document(doc_id)
        if not removed:
            raise NotFoundError(
                f"no indexed document {doc_id!r}; GET /v1/documents lists the doc_ids"
            )
        path = Path(doc_id)
        if path.parent == self.upload_dir:
            path.unlink(missing_ok=True)
        log.info("deleted document %s (%d points)", doc_id, removed)
        return removed

    def add_phrasings(
        self, faq_id: str, phrasings: Sequence[str], doc_id: str | None = None
    ) -> list[PhrasingAdded]:
        """Add confirmed phrasings to a published FAQ entry (waits for a running ingest job)."""
        with self._write_slot():
            return add_phrasings(self.store, self.settings.lexical, faq_id, phrasings, doc_id)

    def phrasings(
        self, faq_id: str, doc_id: str | None = None
    ) -> tuple[str, list[tuple[str, str]]]:
        """The FAQ file and every ``(phrasing, field)`` of the entry."""
        return entry_phrasings(self.store, faq_id, doc_id)

    def remove_phrasing(self, faq_id: str, phrasing: str, doc_id: str | None = None) -> str:
        """Remove a learned phrasing (waits for a running ingest job, which would carry it over
        into the FAQ file's new version); returns the FAQ file."""
        with self._write_slot():
            return remove_phrasing(self.store, faq_id, phrasing, doc_id)

    @contextmanager
    def _write_slot(self) -> Iterator[None]:
        if not self._writing.acquire(timeout=_WRITE_WAIT_S):
            raise ServiceUnavailableError(
                "an ingest job is writing the index; change the phrasings when it is done",
                retry_after_s=30,
            )
        try:
            yield
        finally:
            self._writing.release()

    def jobs(self) -> list[IngestJobState]:
        """The jobs since the service started, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created_at, reverse=True)

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
        while (job := self._queue.get()) is not None:
            job.status = "running"

            def progress(source: str, done: int, total: int, state: IngestJobState = job) -> None:
                state.current, state.files_done, state.files_total = source, done, total

            try:
                with self._writing:
                    if job.kind == "reindex":
                        report = self._reindex(progress)
                    else:
                        runner = IngestJob(self.store, self.settings, self.roots)
                        paths = [Path(p) for p in job.paths]
                        report = runner.run(paths, prune=job.prune, progress=progress).to_dict()
            except Exception as exc:  # the job fails; the service and the other jobs go on
                log.exception("%s job %s failed", job.kind, job.job_id)
                job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
            else:
                job.status, job.report = "succeeded", report
            job.finished_at = utc_now()

    def _reindex(self, progress: Progress) -> dict[str, Any]:
        """Re-index into a new collection, switch the alias, and serve the new one at once."""
        from ragsvc.reindex import reindex

        result = reindex(self.store, self.settings, roots=self.roots, progress=progress)
        backend = self.store.backend
        if isinstance(backend, FollowingBackend):
            backend.refresh()
        log.info(
            "re-indexed %r: collection %r replaces %r",
            result.alias,
            result.collection,
            result.previous,
        )
        return result.to_dict()
