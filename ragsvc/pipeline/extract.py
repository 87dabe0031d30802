"""Extractive answers: the sentences of the best passage that are closest to the question.

Embedding every sentence of a long passage is most of a direct answer's time on a small CPU (13
sentences: ~90 ms on one thread). When a passage has more than ``embedded`` sentences, the ones
sharing the most lexical tokens with the question (ties: the earlier) are embedded and ranked,
the others are not considered.
"""

from __future__ import annotations

import re

import numpy as np

from ragsvc.embedding.base import Embedder, Vectors
from ragsvc.text.lexical import tokenize

_SENTENCE = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def lexical_shortlist(question: str, candidates: list[str], size: int) -> list[int]:
    """Indexes of the ``size`` candidates sharing the most tokens with the question, in order."""
    if len(candidates) <= size:
        return list(range(len(candidates)))
    asked = set(tokenize(question))
    overlap = [len(asked & set(tokenize(c))) for c in candidates]
    best = sorted(range(len(candidates)), key=lambda i: (-overlap[i], i))[:size]
    return sorted(best)


def extract_answer(
    question: str,
    passage: str,
    query_vector: Vectors,
    embedder: Embedder,
    max_sentences: int = 3,
    max_chars: int = 600,
    embedded: int = 6,
) -> str:
    """The ``max_sentences`` sentences most similar to the question, in passage order."""
    candidates = sentences(passage)
    if len(candidates) <= 1:
        return passage.strip()[:max_chars]
    shortlist = lexical_shortlist(question, candidates, embedded)
    scores = embedder.embed_passages([candidates[i] for i in shortlist]) @ query_vector
    best = sorted(shortlist[int(i)] for i in np.argsort(-scores)[:max_sentences])
    text = ""
    for i in best:
        piece = candidates[i]
        if text and len(text) + len(piece) > max_chars:
            break
        glue = "" if not text or text.endswith(("。", "！", "？")) else " "
        text += glue + piece
    return text or candidates[best[0]][:max_chars]
