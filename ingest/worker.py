"""Reading files in a worker process, each within ``ingest.parse_timeout_s``.

A parser stuck on a hostile file (a backtracking regex, a PDF that loops) would hold the job, and
in the service its ingest thread, for good; a worker past the limit is killed instead, the file is
reported, and the next file gets a fresh worker. Any exception a parser raises is that file's
problem too, and so is a worker that dies (out of memory, a crash in a C extension).

The worker is spawned, never forked: the service holds torch and llama.cpp threads, and a forked
child would inherit their locks in whatever state they were. Spawning costs a fresh interpreter
(about a third of a second), so one worker serves a whole job; each file then costs a round trip
through a pipe (the path out, the read content back).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from ingest.readers import read_file
from ingest.records import ReadError, ReadLimits, ReadResult

if TYPE_CHECKING:
    from ragsvc.settings import IngestSettings

log = logging.getLogger(__name__)

_START_TIMEOUT_S = 120.0
"""How long a new worker may take to import the readers and report ready."""

Outcome = ReadResult | str
"""What the worker sends back for a file: its content, or why it could not be read."""


def _read(path: Path, limits: ReadLimits) -> Outcome:
    try:
        return read_file(path, limits)
    except ReadError as exc:
        return str(exc)
    except Exception as exc:  # whatever a parser raises on a bad file fails that file only
        return f"the parser failed: {type(exc).__name__}: {exc}"


def _serve(connection: Connection, limits: ReadLimits) -> None:
    """The worker's loop: a path in, its :data:`Outcome` out, until None or the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    connection.send(None)
    try:
        while (path := connection.recv()) is not None:
            connection.send(_read(path, limits))
    except EOFError:  # the parent went away
        pass


class ReadWorker:
    """``read_file`` in a spawned process, bounded by ``ingest.parse_timeout_s``; started on
    first use, replaced after a timeout or a crash. Use it as a context manager."""

    def __init__(self, settings: IngestSettings) -> None:
        self.timeout_s = settings.parse_timeout_s
        self.limits = ReadLimits.of(settings)
        self._context = multiprocessing.get_context("spawn")
        self._process: BaseProcess | None = None
        self._connection: Connection | None = None

    def __enter__(self) -> ReadWorker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The running worker's process id (None before the first read)."""
        return self._process.pid if self._process is not None else None

    def read(self, path: Path) -> ReadResult:
        """The file's content; raises :class:`ReadError` for a file that cannot be read, takes
        longer than the limit, or kills the worker."""
        connection = self._started()
        connection.send(path)
        limit = self.timeout_s
        if not connection.poll(limit):
            self._stop()
            raise ReadError(
                f"reading took longer than ingest.parse_timeout_s ({limit:g} s) and was stopped; "
                "split the file, or raise the setting if it is merely large"
            )
        try:
            outcome: Outcome = connection.recv()
        except EOFError:
            code = self._stop()
            raise ReadError(
                f"the reader process died reading the file (exit code {code}: out of memory, or "
                "a crash in the parser)"
            ) from None
        if isinstance(outcome, str):
            raise ReadError(outcome)
        return outcome

    def close(self) -> None:
        """Stop the worker (it finishes nothing: only an idle worker is ever closed)."""
        if self._connection is not None:
            with contextlib.suppress(OSError):  # it is gone already
                self._connection.send(None)
        self._stop(grace_s=5)

    def _started(self) -> Connection:
        if self._connection is not None:
            return self._connection
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(theirs, self.limits), name="ingest-reader", daemon=True
        )
        process.start()
        theirs.close()
        self._process, self._connection = process, ours
        try:
            ready = ours.poll(_START_TIMEOUT_S) and ours.recv() is None
        except EOFError:
            code = self._stop()
            raise RuntimeError(
                f"the ingest reader process exited while starting (exit code {code}); its error "
                "is above. A script that runs an ingest job needs the "
                "'if __name__ == \"__main__\":' guard, as the process imports the main module"
            ) from None
        if not ready:
            self._stop()
            raise RuntimeError(
                f"the ingest reader process did not start within {_START_TIMEOUT_S:g} s"
            )
        return ours

    def _stop(self, grace_s: float = 0) -> int | None:
        """End the worker (killed unless it exits within ``grace_s``); returns its exit code."""
        process, connection = self._process, self._connection
        self._process = self._connection = None
        if connection is not None:
            connection.close()
        if process is None:
            return None
        process.join(grace_s)
        if process.is_alive():
            log.info("stopping ingest reader process %s", process.pid)
            process.kill()
            process.join()
        code = process.exitcode
        process.close()
        return code
