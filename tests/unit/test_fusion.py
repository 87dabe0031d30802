"""Fusing dense and lexical scores: the weight's extremes, FAQ phrasings, validation.

The tests state what any fusion must do (the extremes reproduce one retriever, a hit better on both
sides ranks higher) rather than the fused values, which depend on the normalisation chosen.
"""

from __future__ import annotations

from typing import Any

import pytest

from ragsvc.retrieval.fusion import Hit, fuse

# (id, dense cosine, BM25 score): the two retrievers disagree on the order
SCORES = [("a", 0.9, 1.0), ("b", 0.7, 6.0), ("c", 0.5, 3.0), ("d", 0.3, 9.0), ("e", 0.1, 0.0)]
DENSE_ORDER = ["a", "b", "c", "d", "e"]
LEXICAL_ORDER = ["d", "b", "c", "a", "e"]


def _hits(payloads: dict[str, dict[str, Any]] | None = None) -> list[Hit]:
    payloads = payloads or {}
    return [
        Hit(id_, payloads.get(id_, {"doc_id": f"doc-{id_}"}), dense, lexical)
        for id_, dense, lexical in SCORES
    ]


def _faq(faq_id: str, doc_id: str = "faq.csv") -> dict[str, Any]:
    return {"doc_id": doc_id, "faq": {"faq_id": faq_id}}


def _order(hits: list[Hit], weight: float, top_k: int = 10) -> list[str]:
    return [h.id for h in fuse(hits, dense_weight=weight, top_k=top_k)]


def test_weight_1_reproduces_the_dense_order() -> None:
    assert _order(_hits(), 1.0) == DENSE_ORDER


def test_weight_0_reproduces_the_lexical_order() -> None:
    assert _order(_hits(), 0.0) == LEXICAL_ORDER


def test_fused_scores_are_set_and_sorted() -> None:
    ranked = fuse(_hits(), dense_weight=0.5, top_k=5)
    scores = [h.score for h in ranked]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) == len(scores)


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 0.7, 1.0])
def test_a_hit_better_on_both_sides_ranks_higher_at_any_weight(weight: float) -> None:
    # b beats c on both scores, and d beats e on both
    order = _order(_hits(), weight)
    assert order.index("b") < order.index("c")
    assert order.index("d") < order.index("e")


def test_moving_the_weight_moves_the_winner_from_lexical_to_dense() -> None:
    winners = [_order(_hits(), w)[0] for w in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert winners[0] == "d"
    assert winners[-1] == "a"
    # the dense favourite's rank only improves as the dense weight grows
    ranks = [_order(_hits(), w).index("a") for w in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert ranks == sorted(ranks, reverse=True)


def test_top_k_cuts_the_ranking() -> None:
    assert _order(_hits(), 1.0, top_k=2) == ["a", "b"]


def test_negative_cosine_ranks_below_a_positive_one() -> None:
    hits = [Hit("x", {}, -0.5, 0.0), Hit("y", {}, 0.1, 0.0)]
    assert _order(hits, 1.0) == ["y", "x"]


@pytest.mark.parametrize("weight", [0.2, 0.5, 1.0])
def test_without_any_lexical_score_the_dense_order_holds(weight: float) -> None:
    hits = [Hit(i, {}, dense, 0.0) for i, dense, _ in SCORES]
    assert _order(hits, weight) == DENSE_ORDER


def test_phrasings_of_one_faq_entry_count_once_with_their_best_phrasing() -> None:
    payloads = {"a": _faq("pw"), "b": _faq("pw"), "c": _faq("vpn"), "d": _faq("pw")}
    ranked = fuse(_hits(payloads), dense_weight=1.0, top_k=5)
    assert [h.id for h in ranked] == ["a", "c", "e"]
    assert [h.payload.get("faq", {}).get("faq_id") for h in ranked] == ["pw", "vpn", None]
    # with the lexical order, d is the best phrasing of the same entry
    assert _order(_hits(payloads), 0.0) == ["d", "c", "e"]


def test_same_faq_id_in_two_files_are_two_entries() -> None:
    payloads = {"a": _faq("1", "en.csv"), "b": _faq("1", "ja.jsonl")}
    assert _order(_hits(payloads), 1.0, top_k=2) == ["a", "b"]


def test_top_k_counts_faq_entries_not_phrasings() -> None:
    payloads = {"a": _faq("pw"), "b": _faq("pw"), "c": _faq("vpn")}
    assert _order(_hits(payloads), 1.0, top_k=2) == ["a", "c"]


@pytest.mark.parametrize("weight", [-0.1, 1.5])
def test_a_weight_outside_0_to_1_is_rejected_with_its_value(weight: float) -> None:
    with pytest.raises(ValueError, match="dense_weight") as error:
        fuse(_hits(), dense_weight=weight, top_k=3)
    assert str(weight) in str(error.value)


def test_no_hit_gives_an_empty_ranking() -> None:
    assert fuse([], dense_weight=0.7, top_k=5) == []


def test_a_single_hit_is_returned() -> None:
    assert _order([Hit("only", {}, 0.4, 2.0)], 0.5) == ["only"]
