"""The splitter on every dev join style, in both languages, and on single questions that must stay
whole; the embedding test with a fake similarity (the real embedders: bench/splitting.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from ragsvc.analysis.split import QuestionSplitter, split_question
from ragsvc.evaluation.joins import join_parts, style_names

EN = ["How do I reset my password?", "Can I use the VPN from home?", "Where is the printer?"]
JA = [
    "パスワードの変更方法は？",
    "経費精算の締め切りはいつですか",
    "入館証の再発行はどこでできますか",
]


@pytest.mark.parametrize("style", style_names("en", "dev"))
@pytest.mark.parametrize("count", [2, 3])
def test_every_english_dev_style_is_split_into_its_parts(style: str, count: int) -> None:
    parts = split_question(join_parts(EN[:count], "en", style), "en")
    assert [p.lower().rstrip("?.") for p in parts] == [q.lower().rstrip("?") for q in EN[:count]]


@pytest.mark.parametrize("style", style_names("ja", "dev"))
def test_every_japanese_dev_style_is_split_into_its_parts(style: str) -> None:
    """「…は、…」 is as often a topic as a question's end: two topics need the embedding test."""
    splitter = QuestionSplitter(_similarity(0.5), {"ja": 0.8})
    parts = splitter.split(join_parts(JA, "ja", style), "ja").parts
    assert [p.rstrip("？。") for p in parts] == [q.rstrip("？") for q in JA]


@pytest.mark.parametrize(
    "question",
    [
        "I want to exchange USD and GBP with the app",
        "What are the terms and conditions of the loan?",
        "Tom and Jerry: who created them?",
        "My card expires next week. How do I get a new one?",
        "I'd like to constrain my mail search in gmail to a time period. Is this possible?",
        "Is there a problem with my account? When I tried to withdraw cash I was denied.",
        "Do you share my information with others? If yes, then who?",
        "what and when is the next holiday",
        "東カリブにて、カリブ族が残っているのはどこの国？",
        "可採年数は、原油価格が上がるとどうなる？",
        "入館証をなくしました",
    ],
)
def test_single_questions_stay_whole(question: str) -> None:
    language = "ja" if any("\u3040" <= c <= "\u9fff" for c in question) else "en"
    assert split_question(question, language) == [question]


def test_a_part_that_leans_on_the_one_before_gets_its_subject() -> None:
    assert split_question("What is the hotel limit and how do I book it?", "en") == [
        "What is the hotel limit?",
        "How do I book it (What is the hotel limit)?",
    ]


def _similarity(cosine: float):  # type: ignore[no-untyped-def]
    """Unit vectors whose neighbours have cosine ``cosine``."""

    def unit_vectors(texts: Sequence[str], language: str) -> np.ndarray:
        angle = np.arccos(cosine)
        return np.array([[np.cos(n * angle), np.sin(n * angle)] for n in range(len(texts))])

    return unit_vectors


def _two_topics_everywhere() -> QuestionSplitter:
    """A splitter whose embedding test finds every two neighbouring pieces on two topics."""
    return QuestionSplitter(lambda texts, _: np.eye(len(texts)), {"": 0.3})


def test_two_statements_on_two_topics_are_split_by_the_embedding_test() -> None:
    message = "password reset / vpn from home"
    assert split_question(message, "en") == [message]  # rules alone: one topic assumed
    far = QuestionSplitter(_similarity(0.1), {"": 0.3}).split(message, "en")
    assert far.parts == ["password reset?", "vpn from home?"]  # as written, no "Vpn"
    near = QuestionSplitter(_similarity(0.6), {"": 0.3}).split(message, "en")
    assert near.parts == [message]
    assert "one topic (cosine 0.60)" in near.merged[0]


def test_japanese_topic_comma_is_split_only_on_two_topics() -> None:
    message = "世界最大の石油輸出地域は、建築家を推挙する制度ができたのはいつか"
    assert len(split_question(message, "ja")) == 1
    splitter = QuestionSplitter(_similarity(0.7), {"ja": 0.8})
    assert len(splitter.split(message, "ja").parts) == 2


@pytest.mark.parametrize(
    "single",
    [
        "If I get another card, what kind of fees am I looking at?",
        "in austin, what are some tourist things to do",
        "using my salary as a basis, what taxes will i owe",
        "As a student i cannot afford microsoft office, are google docs an alternative?",
    ],
)
def test_a_lead_in_stays_with_the_question_it_sets_up(single: str) -> None:
    far = _two_topics_everywhere()
    split = far.split(single, "en")
    assert split.parts == [split.parts[0]] and "lead-in" in split.merged[0]


@pytest.mark.parametrize(
    ("message", "parts"),
    [
        (
            "my card has not arrived and why was my exchange rate different",
            ["My card has not arrived?", "Why was my exchange rate different?"],
        ),
        (
            "the vpn drops every hour. Is there a fee for a second card?",
            ["The vpn drops every hour.", "Is there a fee for a second card?"],
        ),
        (
            "the vpn drops every hour. Can I have more than one login?",
            ["The vpn drops every hour.", "Can I have more than one login?"],
        ),
        (
            "the printer is jammed. How do I set a filter so that mails from my boss are starred?",
            [
                "The printer is jammed.",
                "How do I set a filter so that mails from my boss are starred?",
            ],
        ),
    ],
)
def test_a_question_of_its_own_is_not_taken_for_a_follow_up(message: str, parts: list[str]) -> None:
    """A "why" that asks its own question, existential "is there", a counting "one" and a "that"
    joining a clause point back at nothing: the embedding test (two topics here) decides."""
    far = _two_topics_everywhere()
    assert far.split(message, "en").parts == parts


@pytest.mark.parametrize(
    "message",
    [
        "Is it free? Why not?",
        "Why was I charged twice? Why?",
        "My card was declined. Is that normal?",
        "The app shows two accounts. Which one is mine?",
        "I lost my badge. Is there a replacement for it?",
    ],
)
def test_a_part_that_points_back_stays_with_the_one_before(message: str) -> None:
    far = _two_topics_everywhere()
    assert far.split(message, "en").parts == [message]


@pytest.mark.parametrize(
    "single",
    [
        "Can I export my twitter data (tweets and everything) in order to make a backup.",
        "Specific characters (e.g. punctuation) are ignored in google search",
        "Which files (photos / videos) count against my quota?",
        "Some characters e.g. punctuation marks get ignored in google search",
        "My data is shared i.e. sold to others",
    ],
)
def test_an_aside_in_brackets_or_an_abbreviation_is_not_a_boundary(single: str) -> None:
    """Real singles that were split "(tweets?", "everything) ..." and "(e.", "g. punctuation)"."""
    assert _two_topics_everywhere().split(single, "en").parts == [single]


def test_a_message_with_an_aside_still_splits_between_its_requests() -> None:
    message = "how do i reset my password (the old one expired) and can I use the vpn from home"
    assert _two_topics_everywhere().split(message, "en").parts == [
        "How do i reset my password (the old one expired)?",
        "Can I use the vpn from home?",
    ]


@pytest.mark.parametrize(
    ("message", "parts"),
    [
        (
            "Which countries can I use the card in. There's been a transfer to the wrong account.",
            [
                "Which countries can I use the card in.",
                "There's been a transfer to the wrong account.",
            ],
        ),
        (
            "the vpn drops every hour. Is it possible to get a second badge?",
            ["The vpn drops every hour.", "Is it possible to get a second badge?"],
        ),
        (
            "my card was declined. How long has it been since my last top-up?",
            ["My card was declined.", "How long has it been since my last top-up?"],
        ),
        (
            "can gmail mark a message as spam plus having two dropbox accounts on the same laptop",
            [
                "Can gmail mark a message as spam?",
                "having two dropbox accounts on the same laptop?",
            ],
        ),
        (
            "tell me what is owed for my water and gas bills plus set a timer for 15 minutes",
            ["Tell me what is owed for my water and gas bills?", "set a timer for 15 minutes?"],
        ),
        (
            "I'd like a table at Chili's. Can I pay with my card abroad?",
            ["I'd like a table at Chili's.", "Can I pay with my card abroad?"],
        ),
        (
            "i would like to delete my account now, please and how soon will my card arrive",
            ["I would like to delete my account now, please?", "How soon will my card arrive?"],
        ),
    ],
)
def test_a_second_request_is_found_past_words_that_point_at_nothing(
    message: str, parts: list[str]
) -> None:
    """Existential "there is", "it" standing for what follows, a bare "plus" (past a short piece
    joined by "and"), a stop after "Chili's", and a request whose last piece ("please") is short:
    none of them holds the next request back."""
    assert _two_topics_everywhere().split(message, "en").parts == parts


@pytest.mark.parametrize(
    "single",
    [
        "Help me!  I lost my card.  What should I do?",
        "Hi, my card was declined at the shop",
        "I've been charged an extra fee and I don't know why",
        "My statement shows a charge of one pound and I am not sure why.",
        "Money transfer help? How long?",
        "How can I make google use the .com domain instead of my local domain every time.",
        "Given a choice, I'd rather have Mastercard.",
    ],
)
def test_a_plea_a_greeting_or_a_follow_up_is_not_a_part(single: str) -> None:
    """Real singles that were split: "Help me!" and "Hi" ask nothing, "I don't know why" and "How
    long?" ask about the piece before, ".com" is no full stop, "Given ..." sets up what follows."""
    assert _two_topics_everywhere().split(single, "en").parts == [single]


def test_a_japanese_question_in_short_pieces_stays_one_part() -> None:
    """「生命は、いつ、どこで、…」: each piece is too short to stand alone, and so is the next one's
    neighbour, however many pieces came before."""
    message = "生命は、いつ、どこで、いかにして誕生したのか。それから、伝染病は何と呼ばれる？"
    splitter = QuestionSplitter(_similarity(0.1), {"ja": 0.8})
    assert splitter.split(message, "ja").parts == [
        "生命は、いつ、どこで、いかにして誕生したのか。",
        "伝染病は何と呼ばれる？",
    ]
