"""``embedder.precision``: how ``auto`` resolves, and (integration) bfloat16 MiniLM vectors against
float32 ones; ``embedder.query_graph``: the traced model's query vectors against the eager ones, and
the eager fallback. The speed itself is measured by ``bench/embedding.py`` and
``bench/embedding_contention.py``, not asserted here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from ragsvc.embedding import graph, sentence_transformer
from ragsvc.embedding.sentence_transformer import (
    PRECISIONS,
    Precision,
    SentenceTransformerEmbedder,
    resolve_precision,
)
from ragsvc.models.resolve import resolve_model
from ragsvc.settings import EmbedderSettings, load_settings
from tests.conftest import MODEL_CACHE

SENTENCES = [
    "How do I reset my password?",
    "The VPN client asks for a second factor from the authenticator app.",
    "We share your location with advertising partners only when you opt in to personalised ads.",
    "Expense reports over 500 EUR need the approval of your cost-centre manager before payment.",
]


@pytest.mark.parametrize(("hardware", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_auto_picks_bfloat16_only_on_bfloat16_hardware(
    monkeypatch: pytest.MonkeyPatch, hardware: bool, expected: str
) -> None:
    monkeypatch.setattr(sentence_transformer, "native_bfloat16", lambda: hardware)
    assert resolve_precision("auto") == expected
    assert resolve_precision("float32") == "float32"
    assert resolve_precision("bfloat16") == "bfloat16"


def test_precision_is_validated_and_left_out_of_the_name() -> None:
    with pytest.raises(ValueError, match="precision must be one of"):
        SentenceTransformerEmbedder(Path("model"), precision="int8")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        EmbedderSettings(precision="fp16")  # type: ignore[arg-type]
    names = {SentenceTransformerEmbedder(Path("model"), precision=p).name for p in PRECISIONS}
    assert names == {"sentence-transformers:model"}  # the index fingerprint does not change


@pytest.fixture(scope="module")
def model_path() -> Path:
    return resolve_model(load_settings().embedder.model, MODEL_CACHE)


@pytest.mark.integration
def test_bfloat16_vectors_match_float32(model_path: Path) -> None:
    fp32 = SentenceTransformerEmbedder(model_path, precision="float32")
    bf16 = SentenceTransformerEmbedder(model_path, precision="bfloat16")
    reference = fp32.embed_passages(SENTENCES)
    vectors = bf16.embed_passages(SENTENCES)
    assert (fp32.compute_dtype, bf16.compute_dtype) == ("float32", "bfloat16")
    assert vectors.dtype == np.float32
    assert vectors.shape == reference.shape == (len(SENTENCES), bf16.dimension)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.sum(vectors * reference, axis=1).min() > 0.98
    queries = bf16.embed_queries(SENTENCES[:1])
    assert float(queries[0] @ reference[0]) > 0.98


QUESTIONS = [
    "How do I reset my password?",
    "vpn",
    "経費精算の承認者は誰ですか？",
    "Can I book a hotel above the city limit when the conference hotel is full " * 40,  # cut
]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("precision", "batch"), [("float32", 1), ("float32", 4), ("float32", 64), ("bfloat16", 4)]
)
def test_the_query_graph_embeds_as_the_eager_model(
    model_path: Path, precision: Precision, batch: int
) -> None:
    eager = SentenceTransformerEmbedder(model_path, precision=precision)
    traced = SentenceTransformerEmbedder(
        model_path, batch_size=16, precision=precision, query_graph=True
    )  # 64 texts: four passes, their vectors put back in order
    texts = [f"{QUESTIONS[n % len(QUESTIONS)]} {n}" for n in range(batch)]
    reference = eager.embed_queries(texts)
    vectors = traced.embed_queries(texts)
    assert traced.queries_through_graph and not eager.queries_through_graph
    assert vectors.dtype == np.float32 and vectors.shape == reference.shape
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.sum(vectors * reference, axis=1).min() > 0.9999
    assert traced.embed_queries([]).shape == (0, traced.dimension)


@pytest.mark.integration
def test_a_model_that_cannot_be_traced_embeds_eagerly(
    model_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def untraceable(self: graph.QueryGraph, model: object, precision: object) -> None:
        raise graph.GraphError("tracing failed: an architecture with data-dependent control flow")

    monkeypatch.setattr(graph.QueryGraph, "__init__", untraceable)
    embedder = SentenceTransformerEmbedder(model_path, precision="float32", query_graph=True)
    vectors = embedder.embed_queries(QUESTIONS[:1])
    assert not embedder.queries_through_graph
    assert vectors.shape == (1, embedder.dimension)
    assert "queries run eager" in caplog.text
