"""Follow-ups made self-contained by rules, and the trace that shows it."""

from __future__ import annotations

import pytest

from ragsvc.pipeline.followup import follow_up_rule, standalone

PREVIOUS = ("How many days of paid leave do I get?",)


@pytest.mark.parametrize(
    ("asked", "routed"),
    [
        ("and for contractors?", "How many days of paid leave do I get, for contractors?"),
        ("What about part-time staff?", "How many days of paid leave do I get, part-time staff?"),
        ("And how about interns", "How many days of paid leave do I get, interns?"),
        (
            "does that apply abroad?",
            "How many days of paid leave do I get, does that apply abroad?",
        ),
    ],
)
def test_english_follow_ups_carry_the_previous_question(asked: str, routed: str) -> None:
    rewrite = standalone(asked, PREVIOUS)
    assert rewrite is not None and rewrite.question == routed


@pytest.mark.parametrize(
    ("asked", "routed"),
    [
        ("それは海外出張でも？", "出張の日当はいくらですか（海外出張でも）？"),
        ("では、契約社員は？", "出張の日当はいくらですか（契約社員は）？"),
        ("海外の場合は？", "出張の日当はいくらですか（海外の場合は）？"),
    ],
)
def test_japanese_follow_ups_carry_the_previous_question(asked: str, routed: str) -> None:
    rewrite = standalone(asked, ("出張の日当はいくらですか？",))
    assert rewrite is not None and rewrite.question == routed


@pytest.mark.parametrize(
    "asked",
    [
        "How do I reset my password?",
        "Who approves travel requests for contractors working abroad?",  # long, names its subject
        "パスワードを忘れました",
        "VPNにつながりません。何を確認すればよいですか？",
        "Andrew's laptop is broken, whom do I call?",  # "and" only as part of a word
        "Is there a fee for transfers?",  # "there" and "this" point at the world as often
        "What is this charge?",
        "What if I lose my card?",
        "朝鮮半島の梅雨は?",  # leaves nothing out: longer than a bare "…は？"
    ],
)
def test_a_question_that_stands_alone_is_asked_as_written(asked: str) -> None:
    assert follow_up_rule(asked) is None
    assert standalone(asked, PREVIOUS) is None


def test_without_a_previous_question_nothing_is_rewritten() -> None:
    assert standalone("and for contractors?", ()) is None
    assert standalone("and for contractors?", ("   ",)) is None
