"""Structure-aware chunking: token bound, whole-sentence overlap, sections and pages, Japanese."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest

from ingest.chunking import chunk_blocks, count_tokens
from ingest.records import Block
from ragsvc.settings import ChunkingSettings

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]


def _sentence(n: int, length: int = 6) -> str:
    """A distinct English sentence of ``length`` tokens (a number, then words)."""
    return " ".join([f"S{n}", *WORDS[: length - 1]]) + "."


def _sentences_of(chunk_text: str) -> list[str]:
    return re.findall(r"S\d+ [^.]*\.", chunk_text)


def test_token_count_is_latin_words_plus_single_cjk_characters() -> None:
    assert count_tokens("Reset the password, then sign in (step 2).") == 8
    assert count_tokens("パスワード") == 5
    assert count_tokens("VPNに接続") == 4  # a Latin word stops where Japanese script starts
    assert count_tokens("KumoConnectの使い方を教えてください") == 13


def test_every_chunk_respects_the_token_bound() -> None:
    settings = ChunkingSettings(max_tokens=20, overlap_tokens=6)
    blocks = [Block(" ".join(_sentence(n) for n in range(k, k + 5))) for k in range(0, 40, 5)]
    chunks = chunk_blocks(blocks, settings)
    assert len(chunks) > 5
    assert all(count_tokens(c.text) <= 20 for c in chunks)
    # nothing is lost: every sentence is in some chunk
    assert {s for c in chunks for s in _sentences_of(c.text)} == {_sentence(n) for n in range(40)}


def test_a_sentence_longer_than_the_bound_is_cut_at_token_boundaries() -> None:
    settings = ChunkingSettings(max_tokens=15, overlap_tokens=0)
    long_sentence = " ".join(f"word{n}" for n in range(50))
    chunks = chunk_blocks([Block(long_sentence)], settings)
    assert [count_tokens(c.text) for c in chunks] == [15, 15, 15, 5]
    assert " ".join(c.text for c in chunks) == long_sentence


def test_consecutive_chunks_overlap_by_whole_sentences_within_the_overlap_budget() -> None:
    settings = ChunkingSettings(max_tokens=20, overlap_tokens=8)
    text = " ".join(_sentence(n, length=6) for n in range(12))
    chunks = chunk_blocks([Block(text)], settings)
    assert len(chunks) >= 3
    for previous, current in pairwise(chunks):
        before, after = _sentences_of(previous.text), _sentences_of(current.text)
        assert previous.text == " ".join(before)  # chunks are made of whole sentences
        assert current.text == " ".join(after)
        shared = [s for s in after if s in before]
        assert shared == before[-len(shared) :] == after[: len(shared)]
        assert 0 < sum(count_tokens(s) for s in shared) <= settings.overlap_tokens


def test_no_overlap_when_the_overlap_budget_is_zero() -> None:
    settings = ChunkingSettings(max_tokens=20, overlap_tokens=0)
    text = " ".join(_sentence(n) for n in range(12))
    chunks = chunk_blocks([Block(text)], settings)
    seen = [s for c in chunks for s in _sentences_of(c.text)]
    assert seen == [_sentence(n) for n in range(12)]


def test_sections_are_kept_and_never_share_a_chunk_or_an_overlap() -> None:
    settings = ChunkingSettings(max_tokens=40, overlap_tokens=10)
    blocks = [
        Block(_sentence(1), ("Policy", "Hotels")),
        Block(_sentence(2), ("Policy", "Hotels")),
        Block(_sentence(3), ("Policy", "Meals")),
    ]
    chunks = chunk_blocks(blocks, settings)
    assert [(c.section, c.text) for c in chunks] == [
        (("Policy", "Hotels"), f"{_sentence(1)} {_sentence(2)}"),
        (("Policy", "Meals"), _sentence(3)),
    ]


def test_pages_are_kept() -> None:
    settings = ChunkingSettings(max_tokens=40, overlap_tokens=10)
    blocks = [Block(_sentence(1), page=1), Block(_sentence(2), page=2), Block(_sentence(3), page=2)]
    chunks = chunk_blocks(blocks, settings)
    assert [(c.page, c.text) for c in chunks] == [
        (1, _sentence(1)),
        (2, f"{_sentence(2)} {_sentence(3)}"),
    ]
    assert all(c.section == () for c in chunks)


JA_SENTENCES = [
    "在宅勤務は事前に上長の承認を得てください。",
    "申請はポータルから行います！",
    "承認までに何日かかりますか？",
    "VPNに接続するにはKumoConnectを起動します。",
]


def test_japanese_sentences_split_after_full_width_punctuation_and_join_without_spaces() -> None:
    settings = ChunkingSettings(max_tokens=30, overlap_tokens=0)
    chunks = chunk_blocks([Block("".join(JA_SENTENCES))], settings)
    texts = [c.text for c in chunks]
    assert "".join(texts) == "".join(JA_SENTENCES)
    assert all(" " not in t for t in texts)
    # every cut falls at a sentence end
    assert all(t.endswith(("。", "！", "？")) for t in texts)
    assert all(count_tokens(t) <= 30 for t in texts)
    assert len(chunks) >= 2


def test_japanese_overlap_repeats_whole_sentences_that_fit_the_budget() -> None:
    s1, s2, s3, s4 = JA_SENTENCES  # 21, 13, 13 and 14 tokens
    settings = ChunkingSettings(max_tokens=30, overlap_tokens=14)
    chunks = chunk_blocks([Block("".join(JA_SENTENCES))], settings)
    # s1 is over the overlap budget, so it is not repeated; s3 is
    assert [c.text for c in chunks] == [s1, s2 + s3, s3 + s4]


@pytest.mark.parametrize("max_tokens", [12, 25])
def test_japanese_text_with_latin_words_respects_the_bound(max_tokens: int) -> None:
    settings = ChunkingSettings(max_tokens=max_tokens, overlap_tokens=4)
    text = "KumoConnectの使い方を確認してからVPNに接続してサインインしてください。" * 4
    chunks = chunk_blocks([Block(text)], settings)
    # counted independently of count_tokens: ASCII words plus Japanese characters
    sizes = [
        len(re.findall(r"[A-Za-z0-9]+", c.text)) + len(re.findall(r"[\u3040-\u9fff]", c.text))
        for c in chunks
    ]
    assert max(sizes) <= max_tokens
