"""The complexity head: P(complex) of a question, from its embedding and its character n-grams.

A logistic regression per language over the query embedding (computed for retrieval anyway) and
hashed character 1-4-grams of the normalised text; microseconds per question. Adaptive-RAG's
recipe: single-hop questions (NQ-open, JSQuAD) are labelled simple and multi-hop ones (HotpotQA,
JEMHopQA) complex by their dataset of origin. Case and punctuation are folded away before the
n-grams, because they give the datasets away (NQ-open is lower-case without question marks) and a
user's question carries neither signal.

``bench/train_head.py`` fits it on one half of ``../shared/data/routing`` (:func:`in_training_half`:
a hash of the question) plus the project's own help-desk examples (``exemplars.yaml``: open-domain
trivia is not how staff ask), and writes ``complexity_head.npz`` beside this module;
``bench/analysis.py`` measures it on the other half only. The head is tied to the embedder it was
fitted with: with another embedder it is not used and the nearest examples decide (logged).
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ragsvc.embedding.base import Vectors
from ragsvc.errors import ConfigError
from ragsvc.logistic import fit_logistic, sigmoid

log = logging.getLogger(__name__)

DEFAULT_HEAD = Path(__file__).with_name("complexity_head.npz")
NGRAM_DIMENSIONS = 1 << 14
NGRAM_SIZES = (1, 2, 3, 4)
_NOT_WORD = re.compile(r"[^\w\s]")


def in_training_half(question: str) -> bool:
    """Whether a question of the routing data belongs to the half the head is fitted on."""
    return hashlib.sha1(question.encode("utf-8")).digest()[0] % 2 == 0


def normalise(question: str) -> str:
    """NFKC, lower case, punctuation replaced by spaces, runs of spaces collapsed."""
    text = _NOT_WORD.sub(" ", unicodedata.normalize("NFKC", question).lower())
    return " ".join(text.split())


def ngram_features(question: str) -> Vectors:
    """Hashed character n-gram counts of the normalised question, log-scaled, L2-normalised."""
    text = f" {normalise(question)} "
    counts = np.zeros(NGRAM_DIMENSIONS, dtype=np.float32)
    for n in NGRAM_SIZES:
        for i in range(len(text) - n + 1):
            digest = hashlib.blake2b(text[i : i + n].encode("utf-8"), digest_size=4).digest()
            counts[int.from_bytes(digest, "little") % NGRAM_DIMENSIONS] += 1.0
    features: Vectors = np.log1p(counts)
    norm = float(np.linalg.norm(features))
    return features / norm if norm else features


def features(question: str, vector: Vectors) -> Vectors:
    embedding = np.asarray(vector, dtype=np.float32)
    joined: Vectors = np.concatenate([embedding, ngram_features(question)])
    return joined


@dataclass(frozen=True, slots=True)
class LanguageHead:
    weights: Vectors
    bias: float

    def probability(self, row: Vectors) -> float:
        return sigmoid(float(row @ self.weights) + self.bias)


@dataclass(frozen=True, slots=True)
class ComplexityHead:
    embedder: str
    heads: dict[str, LanguageHead]

    def probability(self, question: str, vector: Vectors, language: str) -> float | None:
        """P(complex), or None when no head was fitted for ``language``."""
        head = self.heads.get(language)
        if head is None or len(vector) + NGRAM_DIMENSIONS != len(head.weights):
            return None
        return head.probability(features(question, vector))

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {"embedder": np.array(self.embedder)}
        for language, head in self.heads.items():
            arrays[f"{language}.weights"] = head.weights
            arrays[f"{language}.bias"] = np.array(head.bias)
        with path.open("wb") as out:
            np.savez_compressed(out, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> ComplexityHead:
        try:
            with np.load(path) as data:
                languages = sorted({key.split(".")[0] for key in data.files if "." in key})
                heads = {
                    language: LanguageHead(
                        data[f"{language}.weights"].astype(np.float32),
                        float(data[f"{language}.bias"]),
                    )
                    for language in languages
                }
                return cls(str(data["embedder"]), heads)
        except (OSError, KeyError, ValueError) as exc:
            raise ConfigError(f"cannot read the complexity head {path}: {exc}") from exc


def load_head(path: Path | None, embedder: str) -> ComplexityHead | None:
    """The configured head when it was fitted for ``embedder``; else None, and the reason logged."""
    head = ComplexityHead.load(path or DEFAULT_HEAD)
    if head.embedder != embedder:
        log.warning(
            "the complexity head was fitted with the embedder %s, the service uses %s: "
            "the nearest-example classifier decides simple vs complex instead",
            head.embedder,
            embedder,
        )
        return None
    return head


def fit_language_head(
    rows: Sequence[Vectors],
    labels: Sequence[int],
    weights: Sequence[float] | None = None,
    l2: float = 1e-3,
    iterations: int = 200,
) -> LanguageHead:
    """Class-balanced, L2-regularised logistic regression; ``weights`` scale each row's share of
    the loss."""
    coefficients, bias = fit_logistic(
        rows, labels, weights, balanced=True, l2=l2, iterations=iterations
    )
    return LanguageHead(coefficients, bias)
