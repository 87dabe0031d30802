"""Is the shadow judge worth listening to? Its check against answers whose truth is known, and
its verdicts corrected for the errors the check found.

A misrouting estimate is only as good as the judge behind it: a small model that says "does not
answer" to everything reports every route as misrouting, and the fail-safe would then raise every
threshold. So the judge is put to the test on the FAQ the service holds: each sampled entry's own
answer (right) and the answer of the entry nearest to it (wrong: the near miss a misrouted FAQ
answer is), asked with one of the entry's phrasings, through the same prompt and model the live
sampler uses. Its sensitivity (right answers judged right) and specificity (wrong ones judged
wrong) give Youden's J = sensitivity + specificity - 1: 1 for a perfect judge, 0 for one at chance.
A judge is trusted while its last check, of the model now configured, has ``shadow.min_judge_pairs``
of each and J of at least ``shadow.min_judge_youden``; only then do its verdicts count as the
fail-safe's evidence, corrected for its errors (Rogan and Gladen, 1978).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ragsvc.control.compare import Estimate, wilson
from ragsvc.control.state import JudgeCheck
from ragsvc.settings import ShadowMethod, ShadowSettings


@dataclass(frozen=True, slots=True)
class FaqEntry:
    faq_id: str
    phrasings: tuple[str, ...]
    answer: str
    source: str
    """What a citation of the entry reads as (:func:`ragsvc.control.shadow.source_key`)."""
    vector: np.ndarray
    """The entry's question in the primary space (unit length), to find its nearest entry."""


@dataclass(frozen=True, slots=True)
class KnownAnswer:
    question: str
    answer: str
    source: str
    """The entry ``answer`` is from, as a citation of it reads."""
    answers: bool
    """Whether ``answer`` answers ``question`` (the entry's own answer) or not (its neighbour's)."""


Judge = Callable[[KnownAnswer], bool | None]
"""A known answer -> the judge's verdict: True it answers, False not, None unreadable."""


def known_answers(entries: Sequence[FaqEntry], pairs: int, seed: int = 13) -> list[KnownAnswer]:
    """Up to ``pairs`` entries, each asked with one of its phrasings: once with its own answer,
    once with the answer of the entry whose question is closest (a different answer)."""
    if len(entries) < 2:
        return []
    rng = random.Random(seed)
    matrix = np.stack([e.vector for e in entries])
    known: list[KnownAnswer] = []
    for i in rng.sample(range(len(entries)), min(pairs, len(entries))):
        entry = entries[i]
        order = np.argsort(-(matrix @ entry.vector))
        neighbour = next(
            (entries[j] for j in order if j != i and entries[j].answer != entry.answer), None
        )
        if neighbour is None:
            continue
        question = rng.choice(entry.phrasings)
        known.append(KnownAnswer(question, entry.answer, entry.source, True))
        known.append(KnownAnswer(question, neighbour.answer, neighbour.source, False))
    return known


def check_judge(
    judge: Judge, known: Sequence[KnownAnswer], model: str, method: ShadowMethod = "judge"
) -> JudgeCheck:
    counts = {True: [0, 0], False: [0, 0]}  # answers -> [asked, judged as the truth is]
    unclear = 0
    for k in known:
        verdict = judge(k)
        if verdict is None:
            unclear += 1
            continue
        counts[k.answers][0] += 1
        counts[k.answers][1] += verdict == k.answers
    return JudgeCheck(
        model=model,
        method=method,
        right_answers=counts[True][0],
        right_judged_right=counts[True][1],
        wrong_answers=counts[False][0],
        wrong_judged_wrong=counts[False][1],
        unclear=unclear,
    )


def readable(check: JudgeCheck) -> bool:
    """Whether any reply was a verdict; a check with none is not stored (the LLM was down, or
    its replies were no verdicts)."""
    return check.right_answers + check.wrong_answers > 0


def sensitivity(check: JudgeCheck) -> Estimate:
    return wilson(check.right_judged_right, check.right_answers)


def specificity(check: JudgeCheck) -> Estimate:
    return wilson(check.wrong_judged_wrong, check.wrong_answers)


def youden(check: JudgeCheck) -> float:
    return sensitivity(check).value + specificity(check).value - 1


def distrust(check: JudgeCheck | None, model: str, settings: ShadowSettings) -> str | None:
    """Why the judge's verdicts are not to be acted on; None when it is trusted."""
    if check is None:
        return (
            "the shadow judge was never checked (ragsvc routing check-judge, or POST "
            "/v1/routing/judge-check)"
        )
    if check.model != model:
        return f"the shadow judge's check was of the model {check.model!r}, not {model!r}"
    if check.method != settings.method:
        return (
            f"the shadow judge's check was of the method {check.method!r}, not "
            f"{settings.method!r} (shadow.method)"
        )
    if min(check.right_answers, check.wrong_answers) < settings.min_judge_pairs:
        return (
            f"the shadow judge's check had {check.right_answers} right and "
            f"{check.wrong_answers} wrong answers (fewer than {settings.min_judge_pairs})"
        )
    if youden(check) < settings.min_judge_youden:
        return (
            f"the shadow judge is near chance: sensitivity {sensitivity(check).value:.2f} + "
            f"specificity {specificity(check).value:.2f} - 1 = {youden(check):.2f} < "
            f"{settings.min_judge_youden:g}"
        )
    return None


def corrected(observed: Estimate, check: JudgeCheck) -> Estimate:
    """The misrouting rate given the share ``observed`` the judge called misrouted, and the
    judge's errors: a right answer is called misrouted with probability 1 - sensitivity, a wrong
    one with probability specificity, so the rate is (observed + sensitivity - 1) / J, clipped to
    [0, 1], the interval's ends mapped the same way (the check's own uncertainty is not in it).
    Only for a judge with J > 0."""
    sens, j = sensitivity(check).value, youden(check)
    if j <= 0:
        raise ValueError("a judge at or below chance cannot be corrected for")

    def mapped(p: float) -> float:
        return min(1.0, max(0.0, (p + sens - 1) / j))

    return Estimate(mapped(observed.value), mapped(observed.low), mapped(observed.high), observed.n)
