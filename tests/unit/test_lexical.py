"""Lexical tokens (English words, Japanese bigrams) and the BM25 sparse vectors built from them.

The tests state properties (a plural and its singular make one token) rather than the exact stems,
so that the stemmer can be refined without rewriting them.
"""

from __future__ import annotations

import pytest

from ragsvc.settings import LexicalSettings
from ragsvc.text.lexical import document_terms, query_terms, token_id, tokenize


def test_english_drops_stop_words_and_one_letter_words_and_lowercases() -> None:
    assert tokenize("How do I reset MY Password for the VPN?") == ["reset", "password", "vpn"]
    assert tokenize("a b x") == []


@pytest.mark.parametrize(
    ("plural", "singular"),
    [("passwords", "password"), ("laptops", "laptop"), ("policies", "policy"), ("VPNs", "VPN")],
)
def test_a_plural_and_its_singular_are_one_token(plural: str, singular: str) -> None:
    assert tokenize(plural) == tokenize(singular)
    assert len(tokenize(plural)) == 1


def test_plural_strip_leaves_double_s_alone() -> None:
    assert tokenize("class access") == ["class", "access"]


def test_numbers_are_tokens_even_single_digits() -> None:
    assert tokenize("ext 2100 step 3") == ["ext", "2100", "step", "3"]


def test_japanese_runs_become_overlapping_bigrams() -> None:
    assert tokenize("パスワード") == ["パス", "スワ", "ワー", "ード"]
    assert tokenize("情報管理") == ["情報", "報管", "管理"]


def test_one_character_japanese_run_is_kept_whole() -> None:
    assert tokenize("社") == ["社"]


def test_punctuation_separates_japanese_runs() -> None:
    assert tokenize("申請、承認。") == ["申請", "承認"]


def test_mixed_text_keeps_latin_words_and_japanese_tokens_in_order() -> None:
    tokens = tokenize("VPNに接続 3回")
    assert tokens[0] == "vpn"
    assert "接続" in tokens
    assert tokens[-2:] == ["3", "回"]
    assert tokenize("KumoConnectの使い方")[0] == "kumoconnect"


def test_japanese_question_shares_tokens_with_its_answer() -> None:
    question = set(tokenize("パスワードを変更するにはどうすればよいですか？"))
    answer = set(tokenize("新しいパスワードはポータルで変更できます。"))
    assert {"パス", "スワ", "ワー", "ード"} <= question & answer


def test_full_width_latin_matches_ascii() -> None:
    assert tokenize("ＶＰＮ") == tokenize("VPN")


def test_token_ids_are_stable_31_bit_integers() -> None:
    assert token_id("vpn") == token_id("vpn")
    assert token_id("vpn") != token_id("password")
    assert all(0 <= token_id(t) < 2**31 for t in ("vpn", "パス", "2100"))


def test_query_terms_weigh_each_distinct_term_once_with_sorted_indices() -> None:
    terms = query_terms("VPN vpn password passwords")
    assert terms.indices == sorted({token_id(t) for t in tokenize("vpn password")})
    assert terms.values == [1.0, 1.0]


def test_query_terms_of_stop_words_only_are_empty() -> None:
    terms = query_terms("how do I")
    assert terms.indices == []
    assert terms.values == []


def test_document_terms_have_one_weight_per_distinct_term() -> None:
    terms = document_terms("password reset password VPN", LexicalSettings())
    assert terms.indices == sorted(terms.indices)
    assert len(terms.indices) == len(set(terms.indices)) == 3
    assert len(terms.values) == 3
    assert all(v > 0 for v in terms.values)


def _weight(text: str, token: str, settings: LexicalSettings) -> float:
    terms = document_terms(text, settings)
    return terms.values[terms.indices.index(token_id(token))]


def test_bm25_term_frequency_saturates_at_k1_plus_1() -> None:
    settings = LexicalSettings(k1=1.2, b=0.0)  # no length normalisation: tf alone moves the weight
    weights = [_weight(" ".join(["vpn"] * tf), "vpn", settings) for tf in (1, 2, 4, 50)]
    assert weights == sorted(weights)
    assert weights[0] == pytest.approx(1.0)  # tf * (k1 + 1) / (tf + k1) with tf = 1
    assert weights[1] == pytest.approx(2 * 2.2 / 3.2)
    assert weights[1] - weights[0] > weights[2] - weights[1]  # diminishing returns
    assert weights[-1] < settings.k1 + 1


def test_bm25_longer_passages_weigh_a_term_less() -> None:
    settings = LexicalSettings(k1=1.2, b=0.75, avg_doc_tokens=10)
    short = _weight("vpn gateway", "vpn", settings)
    long = _weight("vpn " + " ".join(f"word{n}" for n in range(40)), "vpn", settings)
    assert long < short
