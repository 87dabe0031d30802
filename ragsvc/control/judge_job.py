"""The judge's check run inside the service (``POST /v1/routing/judge-check``): the same check as
``ragsvc routing check-judge``, without stopping the service (the CLI opens the index itself, which
an embedded store does not allow while the service holds it). One check at a time, in a thread of
its own; its result goes into the routing state as the CLI's does, and its progress is polled."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ragsvc.control.judge_check import readable
from ragsvc.control.state import JudgeCheck
from ragsvc.errors import ConflictError
from ragsvc.traces.schema import utc_now

log = logging.getLogger(__name__)

JobStatus = Literal["idle", "running", "done", "failed"]


class JudgeCheckRun(BaseModel):
    """The check this process ran last (``idle``: none since it started)."""

    status: JobStatus = "idle"
    pairs: int | None = Field(default=None, description="FAQ entries asked, each twice")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = Field(default=None, description="why it failed: nothing was stored")


class JudgeCheckJob:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._run = JudgeCheckRun()
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()
        """Set when the service stops: the check ends at its next call, storing nothing."""

    def start(
        self,
        check: Callable[[threading.Event], JudgeCheck],
        record: Callable[[JudgeCheck], object],
        pairs: int,
    ) -> JudgeCheckRun:
        """Run ``check`` in the background and ``record`` what it found; ConflictError while one
        runs."""
        with self._lock:
            if self._run.status == "running":
                raise ConflictError("a judge check is running already: poll it, then start another")
            self._run = JudgeCheckRun(status="running", pairs=pairs, started_at=utc_now())
            started = self._run
            self._thread = threading.Thread(
                target=self._work, args=(check, record), name="judge-check", daemon=True
            )
            self._thread.start()
        return started

    def status(self) -> JudgeCheckRun:
        with self._lock:
            return self._run.model_copy()

    def close(self, timeout_s: float = 5.0) -> None:
        self.stopping.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    def _work(
        self, check: Callable[[threading.Event], JudgeCheck], record: Callable[[JudgeCheck], object]
    ) -> None:
        error = None
        try:
            found = check(self.stopping)
            if not readable(found):
                error = "no readable verdict came back (the LLM down, or no verdict in its replies)"
                log.warning("the judge check stored nothing: %s", error)
            else:
                record(found)
        except Exception as exc:  # the thread's boundary: a failure is reported, never "running"
            log.exception("the judge check failed")
            error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self._run = self._run.model_copy(
                update={
                    "status": "failed" if error else "done",
                    "finished_at": utc_now(),
                    "error": error,
                }
            )
