"""Answer metrics in the SQuAD tradition, for English and Japanese, and a percentile.

English answers are compared word by word after the SQuAD normalisation (lowercase, no
punctuation, no articles). Japanese has no spaces between words, and the usual JSQuAD figure is
character-level F1: NFKC (full-width and half-width forms compare equal), no punctuation or
whitespace, then one token per character.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Literal

Language = Literal["en", "ja"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _is_punctuation(char: str) -> bool:
    # ASCII punctuation as SQuAD drops it (symbols such as $ and % included), plus Unicode
    # punctuation: curly quotes in English, 、。「」？ in Japanese.
    return char in string.punctuation or unicodedata.category(char).startswith("P")


def normalize_answer(text: str, language: Language) -> str:
    if language == "ja":
        text = unicodedata.normalize("NFKC", text)
        return "".join(c for c in text if not (c.isspace() or _is_punctuation(c)))
    text = "".join(c for c in text.lower() if not _is_punctuation(c))
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_tokens(text: str, language: Language) -> list[str]:
    normalized = normalize_answer(text, language)
    return list(normalized) if language == "ja" else normalized.split()


def token_f1(prediction: str, golds: Sequence[str], language: Language) -> float:
    """The best F1 of the prediction's tokens against any gold answer; 0.0 without golds."""
    predicted = answer_tokens(prediction, language)
    return max((_f1(predicted, answer_tokens(g, language)) for g in golds), default=0.0)


def _f1(predicted: list[str], gold: list[str]) -> float:
    if not predicted or not gold:
        return float(predicted == gold)  # SQuAD: two empty answers agree
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def contains_answer(prediction: str, golds: Sequence[str], language: Language) -> bool:
    """Whether a gold span, normalised, appears in the normalised prediction.

    English matches whole words ("cat" is not inside "concatenate"); Japanese, having no word
    boundaries, matches characters. A gold that normalises to nothing matches nothing.
    """
    text = normalize_answer(prediction, language)
    for gold in golds:
        span = normalize_answer(gold, language)
        if span and (span in text if language == "ja" else f" {span} " in f" {text} "):
            return True
    return False


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), interpolating linearly between ranks as numpy does by default.

    0.0 for no values, so that a report on an empty run still renders.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {q}")
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))
