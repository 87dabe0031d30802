"""Lexical tokens and BM25 sparse vectors.

Tokens: lower-cased Latin words and numbers, English stop words dropped, inflections folded by
step 1 of the Porter stemmer (plurals, -ed, -ing: "shared", "sharing", "shares" -> "share"); and
character bigrams over runs of Japanese script, which has no spaces to split on. A Japanese run is
first cut where the script changes (kanji / katakana / hiragana), so no bigram straddles a boundary
such as "データ|管理", and the hiragana pieces of a run that also holds kanji or katakana are
dropped: they are mostly particles and inflections (の, は, ました), the part stop words play in
English. A run written in hiragana only keeps its bigrams; a one-character piece is its own token.
Text is NFKC-normalised first (full-width Latin, half-width katakana).
Token ids are stable 31-bit hashes, so no vocabulary file is needed at service start and every
process (ingest, service, bench) maps a token to the same id. Any change here changes the index:
documents must be re-indexed (``settings_fingerprint`` in ``ingest/job.py``).

BM25 is split between ingest and Qdrant: a document's sparse vector holds the BM25 term-frequency
part ``tf*(k1+1) / (tf + k1*(1-b+b*len/avg_len))``; Qdrant's ``Modifier.IDF`` multiplies in the
inverse document frequency over the whole collection at query time; a query term weighs 1.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
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


_VOWELS = frozenset("aeiou")


def _is_consonant(word: str, i: int) -> bool:
    if word[i] in _VOWELS:
        return False
    if word[i] == "y":
        return i == 0 or not _is_consonant(word, i - 1)
    return True


def _measure(stem: str) -> int:
    """Porter's m: the number of vowel-consonant sequences in ``stem``."""
    m, after_vowel = 0, False
    for i in range(len(stem)):
        vowel = not _is_consonant(stem, i)
        if after_vowel and not vowel:
            m += 1
        after_vowel = vowel
    return m


def _has_vowel(stem: str) -> bool:
    return any(not _is_consonant(stem, i) for i in range(len(stem)))


def _ends_double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _is_consonant(word, len(word) - 1)


def _ends_cvc(word: str) -> bool:
    n = len(word)
    return (
        n >= 3
        and _is_consonant(word, n - 3)
        and not _is_consonant(word, n - 2)
        and _is_consonant(word, n - 1)
        and word[-1] not in "wxy"
    )


def porter_step1(word: str) -> str:
    """Step 1 (a, b, c) of Porter's stemmer: the inflectional suffixes, nothing derivational."""
    if word.endswith("sses") or word.endswith("ies"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    if word.endswith("eed"):
        if _measure(word[:-3]) > 0:
            word = word[:-1]
    else:
        for suffix in ("ed", "ing"):
            stem = word[: -len(suffix)]
            if word.endswith(suffix) and _has_vowel(stem):
                word = stem
                if word.endswith(("at", "bl", "iz")):
                    word += "e"
                elif _ends_double_consonant(word) and word[-1] not in "lsz":
                    word = word[:-1]
                elif _measure(word) == 1 and _ends_cvc(word):
                    word += "e"
                break
    if word.endswith("y") and _has_vowel(word[:-1]):
        word = word[:-1] + "i"
    return word


_HIRAGANA = re.compile(r"[\u3040-\u309f]")
_KATAKANA = re.compile(r"[\u30a0-\u30ff\uff66-\uff9fー]")


def _script(char: str) -> str:
    if _HIRAGANA.match(char):
        return "hiragana"
    if _KATAKANA.match(char):
        return "katakana"
    return "kanji"


def _bigrams(piece: str) -> list[str]:
    if len(piece) == 1:
        return [piece]
    return [piece[i : i + 2] for i in range(len(piece) - 1)]


def _japanese_tokens(run: str) -> list[str]:
    """Bigrams per same-script piece of ``run``; hiragana pieces only when the run is all kana."""
    pieces: list[tuple[str, str]] = []
    for char in run:
        script = _script(char)
        if pieces and pieces[-1][0] == script:
            pieces[-1] = (script, pieces[-1][1] + char)
        else:
            pieces.append((script, char))
    if all(script == "hiragana" for script, _ in pieces):
        return _bigrams(run)
    return [t for script, piece in pieces if script != "hiragana" for t in _bigrams(piece)]


def tokenize(text: str) -> list[str]:
    """Lexical tokens of ``text`` in order (Japanese runs become bigrams).

    NFKC first, so full-width Latin ("ＶＰＮ") and half-width katakana ("ﾊﾟｽﾜｰﾄﾞ") match their usual
    forms.
    """
    text = unicodedata.normalize("NFKC", text)
    tokens: list[str] = []
    position = 0
    for match in _JA_RUN.finditer(text):
        tokens.extend(_latin_tokens(text[position : match.start()]))
        tokens.extend(_japanese_tokens(match.group()))
        position = match.end()
    tokens.extend(_latin_tokens(text[position:]))
    return tokens


def _latin_tokens(text: str) -> Iterable[str]:
    for word in _WORD.findall(text.lower()):
        if word not in STOP_WORDS and (len(word) > 1 or word.isdigit()):
            yield porter_step1(word)


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
