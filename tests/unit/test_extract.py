"""Extractive answers: sentence splitting, the lexical shortlist, and the sentences chosen."""

from __future__ import annotations

from collections.abc import Sequence

from ragsvc.embedding.base import Vectors
from ragsvc.pipeline.extract import extract_answer, lexical_shortlist, sentences
from tests.fakes import FakeEmbedder

FILLER = [f"Section {n} covers unrelated office matters." for n in range(10)]
HOTEL = "The hotel limit is 15000 yen per night in Tokyo."


class CountingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        self.embedded += list(texts)
        return self.embed_queries(texts)


def test_sentences_split_english_and_japanese() -> None:
    assert sentences("One. Two? Three!") == ["One.", "Two?", "Three!"]
    assert sentences("経費は月末までです。遅れた場合は？連絡してください") == [
        "経費は月末までです。",
        "遅れた場合は？",
        "連絡してください",
    ]


def test_shortlist_keeps_the_most_overlapping_sentences_in_passage_order() -> None:
    candidates = [*FILLER[:4], HOTEL, *FILLER[4:]]
    assert lexical_shortlist("hotel limit in Tokyo", candidates, 2) == [0, 4]
    assert lexical_shortlist("hotel", candidates[:2], 5) == [0, 1]


def test_long_passages_embed_only_the_shortlist_and_find_the_answer() -> None:
    embedder = CountingEmbedder()
    question = "What is the hotel limit per night in Tokyo?"
    passage = " ".join([*FILLER[:5], HOTEL, *FILLER[5:]])
    vector = embedder.embed_queries([question])[0]
    answer = extract_answer(question, passage, vector, embedder, max_sentences=1, embedded=4)
    assert answer == HOTEL
    assert len(embedder.embedded) == 4 and HOTEL in embedder.embedded


def test_a_one_sentence_passage_is_returned_whole() -> None:
    embedder = CountingEmbedder()
    vector = embedder.embed_queries(["hotel"])[0]
    assert extract_answer("hotel", f"  {HOTEL}  ", vector, embedder) == HOTEL
    assert embedder.embedded == []
