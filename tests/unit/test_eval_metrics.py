"""Answer metrics on inputs small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ragsvc.evaluation.metrics import (
    answer_tokens,
    contains_answer,
    normalize_answer,
    percentile,
    token_f1,
)


def test_english_normalisation_is_squad_style():
    assert normalize_answer("The  Cat, sat!", "en") == "cat sat"
    assert normalize_answer("An apple a day — “fresh”", "en") == "apple day fresh"
    assert answer_tokens("14,000 JPY.", "en") == ["14000", "jpy"]


def test_japanese_normalisation_is_nfkc_without_punctuation_or_spaces():
    assert normalize_answer("「東京 タワー」？", "ja") == "東京タワー"
    assert normalize_answer("ＫＰＮ　Ｍｏｂｉｌｅ。", "ja") == "KPNMobile"
    assert answer_tokens("東京、都", "ja") == ["東", "京", "都"]


def test_english_f1_by_hand():
    # prediction {cat, sat} ("the" dropped), gold {cat, sat, down} ("a" dropped): 2 in common,
    # precision 2/2, recall 2/3, F1 = 2 * 1 * 2/3 / (1 + 2/3) = 0.8
    assert token_f1("the cat sat", ["a cat sat down"], "en") == pytest.approx(0.8)
    assert token_f1("the cat sat", ["dog", "Cat sat."], "en") == 1.0  # the best gold counts
    assert token_f1("a dog", ["cat"], "en") == 0.0


def test_japanese_f1_counts_characters():
    # 東京都です vs 東京: 2 characters in common, precision 2/5, recall 2/2, F1 = 0.8 / 1.4 = 4/7
    assert token_f1("東京都です。", ["東京"], "ja") == pytest.approx(4 / 7)
    assert token_f1("ＫＰＮ Ｍｏｂｉｌｅ", ["KPN Mobile"], "ja") == 1.0


def test_no_gold_means_zero():
    assert token_f1("anything", [], "en") == 0.0
    assert not contains_answer("anything", [], "en")


def test_containment_ignores_case_punctuation_and_articles():
    assert contains_answer(
        "We share it With advertising partners.", ["with the advertising partners"], "en"
    )
    assert contains_answer("The limit is 14,000 JPY per night.", ["14000 jpy"], "en")
    assert not contains_answer("Please concatenate them.", ["cat"], "en")  # whole words only
    assert not contains_answer("the answer", ["the"], "en")  # a gold that normalises to nothing


def test_japanese_containment_matches_characters():
    assert contains_answer("答えは「小笠原諸島」です。", ["小笠原 諸島"], "ja")
    assert contains_answer("ＫＰＮ Ｍｏｂｉｌｅです", ["KPN Mobile"], "ja")
    assert not contains_answer("北海道です", ["小笠原諸島"], "ja")


def test_percentile_interpolates_like_numpy():
    assert percentile([], 50) == 0.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10, 20], 95) == pytest.approx(19.5)
    values = [7.0, 1.0, 4.0, 9.0, 3.0]
    for q in (0, 25, 50, 90, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile(values, 101)
