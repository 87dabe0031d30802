"""A sentence-transformers model's transformer as a TorchScript graph, for query embeddings.

Eager PyTorch runs a forward pass as a few hundred operator calls from Python, each taking the
GIL back. Under a burst the request threads' Python holds the GIL most of the time, so a lone
question's 10 ms MiniLM pass took 30-190 ms in the service (``bench/hardening.py`` phase c), and
2.3 s beside two spinning Python threads (``bench/embedding_contention.py``: 0.3 s traced). A
traced graph runs the whole pass in C++ after one release of the GIL; only tokenising and pooling
are Python.

The trace records the operators of one example; BERT-style encoders take no data-dependent branch
for a padded batch, so the graph serves any batch size and length up to ``max_seq_length``, with
vectors equal to the eager ones (cosine ≥ 0.9999 checked at load on other texts than the trace's,
and by the tests; 0.9999998 measured). Traced under the embedder's precision (bfloat16 autocast
records its casts into the graph), it runs as fast as the eager model in either precision.
Passages (ingest, large batches in a job of their own) stay eager. Imported only when a
sentence-transformers embedder warms up (torch loads with it). ``torch.jit.trace`` is deprecated
in torch 2.13; should it go, tracing fails and the embedder runs eager (logged).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import numpy as np
import torch

from ragsvc.embedding.base import Vectors, normalise

_TRACE_EXAMPLE = ["a question to trace the model with", "and a second, longer one to pad the first"]
_CHECK_EXAMPLE = ["How do I reset my password?", "VPN", "経費精算の承認者は誰ですか？"]
_MIN_COSINE = 0.9999


class GraphError(RuntimeError):
    """The model could not be traced, or its graph disagrees with the eager model."""


class QueryGraph:
    """``model``'s first module (the transformer) traced under ``precision()`` (the embedder's
    autocast, or none); its other modules (pooling, normalisation) run as they are."""

    def __init__(self, model: Any, precision: Callable[[], AbstractContextManager[Any]]) -> None:
        transformer = model[0]
        # sentence-transformers 6 renamed tokenize (now deprecated) to preprocess
        self._tokenize = getattr(transformer, "preprocess", None) or transformer.tokenize
        self._after = list(model)[1:]
        example = self._tokenize(_TRACE_EXAMPLE)
        with torch.inference_mode(), precision(), _quiet():
            try:
                self._graph = torch.jit.trace(  # type: ignore[no-untyped-call]
                    _LastHiddenState(transformer.auto_model).eval(),
                    (example["input_ids"], example["attention_mask"]),
                    check_trace=False,
                )
            except Exception as exc:  # an architecture tracing does not support
                raise GraphError(f"tracing failed: {type(exc).__name__}: {exc}") from exc
        with precision():
            eager = model.encode(
                _CHECK_EXAMPLE,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        cosine = float(np.min(np.sum(normalise(self.encode(_CHECK_EXAMPLE)) * eager, axis=1)))
        if cosine < _MIN_COSINE:
            raise GraphError(f"the traced model's vectors differ from the eager ones: {cosine:.6f}")

    def encode(self, texts: Sequence[str]) -> Vectors:
        with torch.inference_mode():
            features = dict(self._tokenize(list(texts)))
            features["token_embeddings"] = self._graph(
                features["input_ids"], features["attention_mask"]
            )
            for module in self._after:
                features = module(features)
            vectors: Vectors = features["sentence_embedding"].float().numpy()
        return vectors


@contextmanager
def _quiet() -> Iterator[None]:
    """Tracing without its noise: the tracer warns of the masking code's Python branches
    (constant for an encoder's padded batches; the graph is checked against the eager model),
    and it reads every property of the model, deprecated ones and the training loss included,
    which warn. Nothing there an operator can act on."""
    transformers_log = logging.getLogger("transformers")
    level = transformers_log.level
    transformers_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        transformers_log.setLevel(level)


class _LastHiddenState(torch.nn.Module):
    """The Hugging Face model with tensors in and the token embeddings out (traceable)."""

    def __init__(self, auto_model: Any) -> None:
        super().__init__()
        self.auto_model = auto_model

    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        return self.auto_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
