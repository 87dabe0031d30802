"""Concurrent questions embedded together: one forward pass for every question waiting.

Under a burst, each request thread used to run its own forward pass of the embedder, all at once,
on the same cores: every question, an FAQ asked in the middle of it included, waited for the
whole burst's passes. Here a thread that finds no pass running runs one for every question that
is waiting (first come, first served, at most ``max_batch`` texts), then hands over to the next
waiting thread. Nothing waits for company: a lone question runs at once, as before; questions
arriving during a pass are embedded together by the next. Passages (ingest) are not batched
here: they come in batches already.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragsvc.embedding.base import Embedder, Vectors


@dataclass(slots=True)
class _Request:
    texts: list[str]
    vectors: Vectors | None = None
    error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.vectors is not None or self.error is not None


class BatchingEmbedder:
    """``inner`` with concurrent :meth:`embed_queries` calls served by shared forward passes."""

    def __init__(self, inner: Embedder, max_batch: int = 64) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_batch = max_batch
        self._pending: deque[_Request] = deque()
        self._running = False
        self._changed = threading.Condition()

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def warm_up(self) -> None:
        self.inner.warm_up()

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self.inner.embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        request = _Request(list(texts))
        with self._changed:
            self._pending.append(request)
            while not request.done and self._running:
                self._changed.wait()
            if not request.done:
                self._running = True  # this thread runs the passes until its own is done
        if not request.done:
            self._run_until(request)
        if request.error is not None:
            raise request.error
        assert request.vectors is not None
        return request.vectors

    def _run_until(self, own: _Request) -> None:
        try:
            while not own.done:
                with self._changed:
                    batch = self._take()
                self._embed(batch)
                with self._changed:
                    self._changed.notify_all()
        finally:
            with self._changed:
                self._running = False
                self._changed.notify_all()

    def _take(self) -> list[_Request]:
        """The oldest waiting requests, at most ``max_batch`` texts (at least one request)."""
        batch = [self._pending.popleft()]
        size = len(batch[0].texts)
        while self._pending and size + len(self._pending[0].texts) <= self.max_batch:
            size += len(self._pending[0].texts)
            batch.append(self._pending.popleft())
        return batch

    def _embed(self, batch: list[_Request]) -> None:
        texts = [text for request in batch for text in request.texts]
        try:
            vectors = self.inner.embed_queries(texts)
        except Exception as exc:  # each caller gets the error of its own pass
            for request in batch:
                request.error = exc
            return
        offsets = np.cumsum([0, *(len(r.texts) for r in batch)])
        for request, start, end in zip(batch, offsets[:-1], offsets[1:], strict=True):
            request.vectors = vectors[start:end]
