"""Admission control for model work: bounded concurrency, a bounded queue and a deadline.

An LLM call or an SLM call takes seconds; a request thread waiting for one is a thread the cheap
routes (FAQ, retrieval-direct, hand-off) cannot use. :class:`ModelSlots` lets ``concurrency`` calls
run and ``queue`` more wait, each for at most ``wait_s``; any other caller is refused at once with
:class:`OverloadedError`, and the pipeline answers from a cheaper route instead (and says so in the
trace). So at most ``concurrency + queue`` request threads are ever held by one model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ragsvc.analysis.slm import ChoiceLike, SlmBackend
from ragsvc.errors import RagsvcError
from ragsvc.pipeline.ports import ChatOutput
from ragsvc.traces.schema import PartTrace


class OverloadedError(RagsvcError):
    """No slot for a model call within its deadline; the caller answers a cheaper way."""


@dataclass(frozen=True, slots=True)
class SlotLoad:
    name: str
    running: int
    waiting: int
    concurrency: int
    queue: int
    refused: int


class ModelSlots:
    def __init__(self, name: str, concurrency: int, queue: int, wait_s: float) -> None:
        if concurrency <= 0:
            raise ValueError(f"concurrency must be greater than 0, got {concurrency}")
        if queue < 0 or wait_s < 0:
            raise ValueError(f"queue and wait_s must not be negative, got {queue}, {wait_s}")
        self.name = name
        self.concurrency = concurrency
        self.queue = queue
        self.wait_s = wait_s
        self._running = threading.Semaphore(concurrency)
        self._admitted = threading.Semaphore(concurrency + queue)
        self._lock = threading.Lock()
        self._inside = 0
        self._active = 0
        self._refused = 0

    @contextmanager
    def slot(self, wait_s: float | None = None) -> Iterator[float]:
        """Hold one slot for the block; yields the milliseconds spent waiting for it, at most
        ``wait_s`` (None: the slots' own; 0: only a slot free now, as a background call takes)."""
        wait_s = self.wait_s if wait_s is None else wait_s
        if not self._admitted.acquire(blocking=False):
            self._refuse()
            raise OverloadedError(
                f"{self.name}: {self.concurrency} calls running and {self.queue} waiting"
            )
        started = time.perf_counter()
        with self._lock:
            self._inside += 1
        try:
            if not self._running.acquire(timeout=wait_s):
                self._refuse()
                raise OverloadedError(f"{self.name}: no free slot within {wait_s:g} s")
            with self._lock:
                self._active += 1
            try:
                yield 1000 * (time.perf_counter() - started)
            finally:
                with self._lock:
                    self._active -= 1
                self._running.release()
        finally:
            with self._lock:
                self._inside -= 1
            self._admitted.release()

    def _refuse(self) -> None:
        with self._lock:
            self._refused += 1

    def load(self) -> SlotLoad:
        with self._lock:
            return SlotLoad(
                self.name,
                self._active,
                self._inside - self._active,
                self.concurrency,
                self.queue,
                self._refused,
            )


class AdmittedSlm:
    """The in-process SLM behind its slots: llama.cpp runs one call at a time, so a caller
    waits at most ``wait_s`` for it (analysis and answers alike) instead of queueing forever."""

    def __init__(self, slm: SlmBackend, slots: ModelSlots) -> None:
        self.slm = slm
        self.slots = slots

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> ChatOutput:
        with self.slots.slot():
            return self.slm.chat(
                messages, max_tokens=max_tokens, temperature=temperature, json_schema=json_schema
            )

    def choose(self, messages: list[dict[str, str]], options: Sequence[str]) -> ChoiceLike:
        with self.slots.slot():
            return self.slm.choose(messages, options)


CPU_WAIT_S = 10.0
"""Longest wait for a CPU slot before a step runs regardless."""


class CpuSlots:
    """The CPU-heavy steps of a question that missed the FAQ (analysis, retrieval, extraction)
    run at most ``slots`` at once, so under a burst the FAQ path and the probes share the cores
    with a few busy threads instead of every waiting one. A step that waited ``CPU_WAIT_S`` goes
    ahead anyway: this orders work, it never refuses it."""

    def __init__(self, slots: int) -> None:
        self._free = threading.BoundedSemaphore(slots)

    @contextmanager
    def held(self, record: PartTrace) -> Iterator[None]:
        """Hold a slot for the block; a wait is added to ``record``'s ``cpu_queue`` timing."""
        started = time.perf_counter()
        acquired = self._free.acquire(timeout=CPU_WAIT_S)
        waited_ms = 1000 * (time.perf_counter() - started)
        if waited_ms >= 1:
            timings = record.timings_ms
            timings["cpu_queue"] = round(timings.get("cpu_queue", 0) + waited_ms, 2)
        try:
            yield
        finally:
            if acquired:
                self._free.release()
