"""Cheap, explainable checks of a generated answer against its passages and its question.

- grounding: the share of the answer's content tokens that occur in the passages it was given
  (an answer that invents facts uses words the passages do not have);
- completeness: the share of the question's content tokens that the answer or its best passage
  covers (a question about "refund" and "deadline" answered about refunds only covers half);
- drawn from: the share of the words an answer adds to its question that each text holds (an
  answer that cites nothing still says where it comes from; the shadow check's reading).
Grounding and completeness are in [0, 1]; the router escalates below
``routing.escalate_confidence`` (grounding) or ``routing.escalate_completeness``, the thresholds
the source articles use (0.7 and 0.6).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ragsvc.text.lexical import tokenize

_NOT_FOUND = re.compile(
    r"(don't|do not|cannot|can't) (know|find|answer)"
    r"|not (mentioned|covered|in the (passages|context))|no information"
    r"|分かりません|わかりません|見つかりません|記載がありません",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Quality:
    grounding: float
    completeness: float
    declined: bool


def _share(part: set[str], whole: set[str]) -> float:
    return len(part & whole) / len(part) if part else 0.0


def declines(answer: str) -> bool:
    """The answer says it cannot answer (or says nothing): a hand-off, not an answer."""
    return not answer.strip() or bool(_NOT_FOUND.search(answer))


DRAWN_MIN_SHARE = 0.5
"""An answer is drawn from a text holding at least this share of the words it adds ..."""
DRAWN_MIN_LEAD = 0.1
"""... and no other text holds this much more of them."""
DRAWN_MIN_WORDS = 3
"""Fewer words added to its question than this, and an answer does not say where it comes from
(a share of one or two words is all or nothing)."""


def added_words(answer: str, question: str) -> set[str]:
    """The content tokens ``answer`` adds to ``question``: the ones that can say where it comes
    from (the question's own words are in every passage about it)."""
    return set(tokenize(answer)) - set(tokenize(question))


def shares_of(words: set[str], texts: Sequence[str]) -> list[float]:
    """Each of ``texts``' share of ``words``."""
    return [_share(words, set(tokenize(text))) for text in texts]


def assess(question: str, answer: str, passages: Sequence[str]) -> Quality:
    answer_tokens = set(tokenize(answer))
    passage_tokens = set(tokenize(" ".join(passages)))
    best = set(tokenize(passages[0])) if passages else set()
    return Quality(
        grounding=_share(answer_tokens, passage_tokens),
        completeness=_share(set(tokenize(question)), answer_tokens | best),
        declined=declines(answer),
    )
