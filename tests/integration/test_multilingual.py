"""The multilingual space on the real models (MiniLM and multilingual-e5 from their registry
packages) over the demo corpus: Japanese questions get a dense signal and reach English entries,
and a Japanese phrasing learned on an English entry reaches it next time."""

from __future__ import annotations

import pytest

from ingest.phrasings import add_phrasings, remove_phrasing
from ragsvc.embedding.spaces import MULTILINGUAL
from ragsvc.index import Index
from ragsvc.settings import Settings


def test_a_japanese_question_reaches_the_vpn_entries(demo_index: Index) -> None:
    """MiniLM alone (BM25 for Japanese) answered this with the expense FAQ ja-011."""
    (top, *_) = demo_index.faq.match("家からVPNにつなぐ方法を教えて")
    assert top.faq_id in {"ja-001", "it-001"}
    assert top.space == MULTILINGUAL and top.calibrated


@pytest.mark.parametrize(
    "question", ["海外出張の日当はいくらですか", "飛行機はビジネスクラスに乗れますか"]
)
def test_a_japanese_question_finds_the_english_policy(demo_index: Index, question: str) -> None:
    """The answer is only in the English travel policy (a PDF); the passages the SLM or the LLM
    reads (routing.passages: 4) include it. BM25 alone never matched a Japanese question there."""
    hits = demo_index.retriever.search(question, top_k=4)
    travel = [h for h in hits if h.payload["source"].endswith("travel-and-expense-policy.pdf")]
    assert travel, [h.payload["source"] for h in hits]
    assert travel[0].space == MULTILINGUAL and travel[0].payload["language"] == "en"


def test_a_japanese_phrasing_learned_on_an_english_entry(
    demo_index: Index, demo_settings: Settings
) -> None:
    """e5-small does not place 日当 near "per diem": one confirmed phrasing does, and a reworded
    question reaches the entry too."""
    phrasing = "出張の日当はいくらですか"
    add_phrasings(demo_index.store, demo_settings.lexical, "hr-009", [phrasing])
    try:
        for question in (phrasing, "出張したら日当は出ますか"):
            (top, *_) = demo_index.faq.match(question)
            assert top.faq_id == "hr-009", question
    finally:
        remove_phrasing(demo_index.store, "hr-009", phrasing)
