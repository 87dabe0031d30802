"""Concurrent questions share forward passes: each caller gets its own rows, a lone question runs
at once, a failing pass fails only its callers, and nothing is lost under many threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from ragsvc.embedding.base import Vectors
from ragsvc.embedding.batching import BatchingEmbedder
from tests.fakes import FakeEmbedder


class SlowCountingEmbedder(FakeEmbedder):
    """The fake embedder, 20 ms per pass, recording the size of each pass."""

    def __init__(self) -> None:
        self.passes: list[int] = []
        self.fail_on: str | None = None

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        self.passes.append(len(texts))
        time.sleep(0.02)
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError("the model failed")
        return super().embed_queries(texts)


def test_each_caller_gets_its_own_rows_from_shared_passes() -> None:
    inner = SlowCountingEmbedder()
    batching = BatchingEmbedder(inner)
    questions = [
        [f"question {n} about hotels"] if n % 3 else [f"q{n} a", f"q{n} b"] for n in range(40)
    ]
    results: dict[int, Vectors] = {}

    def ask(n: int) -> None:
        results[n] = batching.embed_queries(questions[n])

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n, texts in enumerate(questions):
        np.testing.assert_allclose(results[n], FakeEmbedder().embed_queries(texts))
    assert sum(inner.passes) == sum(len(q) for q in questions)
    assert len(inner.passes) < 40, "questions waiting together share a pass"


def test_a_lone_question_runs_at_once_and_empty_input_needs_no_pass() -> None:
    inner = SlowCountingEmbedder()
    batching = BatchingEmbedder(inner)
    assert batching.embed_queries(["hotel limit"]).shape == (1, inner.dimension)
    assert batching.embed_queries([]).shape == (0, inner.dimension)
    assert inner.passes == [1]


def test_a_failing_pass_fails_its_callers_and_the_next_pass_runs() -> None:
    inner = SlowCountingEmbedder()
    inner.fail_on = "poison"
    batching = BatchingEmbedder(inner)
    with pytest.raises(RuntimeError, match="the model failed"):
        batching.embed_queries(["poison"])
    inner.fail_on = None
    assert batching.embed_queries(["fine"]).shape == (1, inner.dimension)
