"""Extractive answers: the sentences of the best passage that are closest to the question."""

from __future__ import annotations

import re

import numpy as np

from ragsvc.embedding.base import Embedder, Vectors

_SENTENCE = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def extract_answer(
    passage: str,
    query_vector: Vectors,
    embedder: Embedder,
    max_sentences: int = 3,
    max_chars: int = 600,
) -> str:
    """The ``max_sentences`` sentences most similar to the question, in passage order."""
    candidates = sentences(passage)
    if len(candidates) <= 1:
        return passage.strip()[:max_chars]
    scores = embedder.embed_passages(candidates) @ query_vector
    best = sorted(int(i) for i in np.argsort(-scores)[:max_sentences])
    text = ""
    for i in best:
        piece = candidates[i]
        if text and len(text) + len(piece) > max_chars:
            break
        glue = "" if not text or text.endswith(("。", "！", "？")) else " "
        text += glue + piece
    return text or candidates[best[0]][:max_chars]
