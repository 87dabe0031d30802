"""The multilingual space on the real models (MiniLM and multilingual-e5 from their registry
packages) over the demo corpus: Japanese questions get a dense signal and reach English entries
and policies, and a Japanese phrasing learned on an English entry reaches it next time."""

from __future__ import annotations

import pytest

from ingest.phrasings import add_phrasings, remove_phrasing
from ragsvc.embedding.spaces import MULTILINGUAL
from ragsvc.index import Index
from ragsvc.settings import Settings

ENGLISH_ONLY = [
    "出張の日当はいくらですか",
    "海外出張の日当はいくらですか",
    "飛行機はビジネスクラスに乗れますか",
]


def test_a_japanese_question_reaches_the_vpn_entries(demo_index: Index) -> None:
    """MiniLM alone (BM25 for Japanese) answered this with the expense FAQ ja-011."""
    (top, *_) = demo_index.faq.match("家からVPNにつなぐ方法を教えて")
    assert top.faq_id in {"ja-001", "it-001"}
    assert top.space == MULTILINGUAL and top.calibrated


@pytest.mark.parametrize("question", ENGLISH_ONLY)
def test_a_japanese_question_finds_the_english_policy(demo_index: Index, question: str) -> None:
    """The answer is only in the English travel policy (a PDF); the passages the SLM or the LLM
    reads (routing.passages: 4) include it. BM25 alone never matched a Japanese question there,
    and without the cross-language offset the Japanese expense and allowance entries outranked
    it for 日当 (per diem)."""
    hits = demo_index.retriever.search(question, top_k=4)
    travel = [h for h in hits if h.payload["source"].endswith("travel-and-expense-policy.pdf")]
    assert travel, [h.payload["source"] for h in hits]
    assert travel[0].space == MULTILINGUAL and travel[0].payload["language"] == "en"
    assert travel[0].dense_offset > 0


def test_a_japanese_question_finds_the_english_entry(demo_index: Index) -> None:
    hits = demo_index.retriever.search("出張のホテル代の上限はいくらですか", top_k=4)
    faq_ids = [h.payload["faq"]["faq_id"] for h in hits if h.payload.get("faq")]
    assert "hr-009" in faq_ids  # English only: the hotel limits of business trips


def test_a_japanese_phrasing_learned_on_an_english_entry(
    demo_index: Index, demo_settings: Settings
) -> None:
    """The English entry that mentions the per diem is not the top FAQ match for 日当 (the
    Japanese expense entry is): one confirmed Japanese phrasing makes it so, and a reworded
    question reaches it too."""
    phrasing = "出張の日当はいくらですか"
    add_phrasings(demo_index.store, demo_settings.lexical, "hr-009", [phrasing])
    try:
        for question in (phrasing, "出張したら日当は出ますか"):
            (top, *_) = demo_index.faq.match(question)
            assert top.faq_id == "hr-009", question
    finally:
        remove_phrasing(demo_index.store, "hr-009", phrasing)
