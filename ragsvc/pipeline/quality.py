"""Cheap, explainable checks of a generated answer against its passages and its question.

- grounding: the share of the answer's content tokens that occur in the passages it was given
  (an answer that invents facts uses words the passages do not have);
- completeness: the share of the question's content tokens that the answer or its best passage
  covers (a question about "refund" and "deadline" answered about refunds only covers half);
- drawn from: the one text an answer takes its words from, when one stands out (an answer that
  cites nothing still says where it comes from; the shadow check's reading).
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
"""An answer is drawn from a text holding at least this share of its content tokens ..."""
DRAWN_MIN_LEAD = 0.1
"""... and this much more of them than any other text holds."""


@dataclass(frozen=True, slots=True)
class Drawn:
    index: int | None
    """The text the answer is drawn from (None: none stands out)."""
    share: float
    """The best text's share of the answer's content tokens."""
    runner_up: float
    """The next text's share."""


def drawn_from(answer: str, texts: Sequence[str]) -> Drawn:
    """Which of ``texts`` ``answer`` takes its words from: the one holding the largest share of
    its content tokens, at least :data:`DRAWN_MIN_SHARE` and :data:`DRAWN_MIN_LEAD` ahead of
    the next."""
    words = set(tokenize(answer))
    shares = sorted(
        ((_share(words, set(tokenize(text))), n) for n, text in enumerate(texts)), reverse=True
    )
    if not shares:
        return Drawn(None, 0.0, 0.0)
    (best, index), runner_up = shares[0], (shares[1][0] if len(shares) > 1 else 0.0)
    stands_out = best >= DRAWN_MIN_SHARE and best - runner_up >= DRAWN_MIN_LEAD
    return Drawn(index if stands_out else None, best, runner_up)


def assess(question: str, answer: str, passages: Sequence[str]) -> Quality:
    answer_tokens = set(tokenize(answer))
    passage_tokens = set(tokenize(" ".join(passages)))
    best = set(tokenize(passages[0])) if passages else set()
    return Quality(
        grounding=_share(answer_tokens, passage_tokens),
        completeness=_share(set(tokenize(question)), answer_tokens | best),
        declined=declines(answer),
    )
