"""Lexical tokens and BM25 sparse vectors.

Tokens: lower-cased Latin words and numbers (English stop words dropped, a light plural strip), and
overlapping character bigrams over runs of Japanese script (no spaces to split on), plus the single
character of a one-character run. Token ids are stable 31-bit hashes, so no vocabulary file is
needed at service start and every process (ingest, service, bench) maps a token to the same id.

BM25 is split between ingest and Qdrant: a document's sparse vector holds the BM25 term-frequency
part ``tf*(k1+1) / (tf + k1*(1-b+b*len/avg_len))``; Qdrant's ``Modifier.IDF`` multiplies in the
inverse document frequency over the whole collection at query time; a query term weighs 1.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ragsvc.settings import LexicalSettings

_JA_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9fー々〆]+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)


def _strip_plural(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _japanese_bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def tokenize(text: str) -> list[str]:
    """Lexical tokens of ``text`` in order (Japanese runs become bigrams)."""
    tokens: list[str] = []
    position = 0
    for match in _JA_RUN.finditer(text):
        tokens.extend(_latin_tokens(text[position : match.start()]))
        tokens.extend(_japanese_bigrams(match.group()))
        position = match.end()
    tokens.extend(_latin_tokens(text[position:]))
    return tokens


def _latin_tokens(text: str) -> Iterable[str]:
    for word in _WORD.findall(text.lower()):
        if word not in STOP_WORDS and (len(word) > 1 or word.isdigit()):
            yield _strip_plural(word)


def token_id(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=4).digest(), "big") >> 1


@dataclass(frozen=True, slots=True)
class SparseTerms:
    indices: list[int]
    values: list[float]


def _merge(weights: dict[int, float]) -> SparseTerms:
    ordered = sorted(weights.items())
    return SparseTerms([i for i, _ in ordered], [w for _, w in ordered])


def document_terms(text: str, settings: LexicalSettings) -> SparseTerms:
    """BM25 term-frequency weights of a passage (IDF is applied by Qdrant)."""
    counts = Counter(tokenize(text))
    length = sum(counts.values())
    norm = settings.k1 * (1 - settings.b + settings.b * length / settings.avg_doc_tokens)
    weights: dict[int, float] = {}
    for token, tf in counts.items():
        idx = token_id(token)
        weights[idx] = weights.get(idx, 0.0) + tf * (settings.k1 + 1) / (tf + norm)
    return _merge(weights)


def query_terms(text: str) -> SparseTerms:
    """Weight 1 per distinct query term, as in BM25."""
    return _merge({token_id(token): 1.0 for token in set(tokenize(text))})
