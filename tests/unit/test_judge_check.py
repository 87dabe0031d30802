"""The shadow judge's check: known answers from the FAQ (each entry's own answer, and its nearest
neighbour's), the judge's sensitivity and specificity, when it is trusted, and its verdicts
corrected for its errors."""

from __future__ import annotations

import numpy as np
import pytest

from ragsvc.control.compare import Estimate
from ragsvc.control.judge_check import (
    FaqEntry,
    KnownAnswer,
    check_judge,
    corrected,
    distrust,
    known_answers,
    youden,
)
from ragsvc.control.shadow import NO_PASSAGE, attributed, citation_verdict, source_key
from ragsvc.control.state import JudgeCheck
from ragsvc.retrieval.fusion import Hit
from ragsvc.settings import ShadowSettings


def entry(faq_id: str, answer: str, *vector: float) -> FaqEntry:
    v = np.asarray(vector, dtype=np.float32)
    return FaqEntry(faq_id, (f"{faq_id}?",), answer, f"faq:{faq_id}", v / np.linalg.norm(v))


def check(right: tuple[int, int], wrong: tuple[int, int], model: str = "judge") -> JudgeCheck:
    return JudgeCheck(
        model=model,
        right_answers=right[1],
        right_judged_right=right[0],
        wrong_answers=wrong[1],
        wrong_judged_wrong=wrong[0],
    )


def test_each_entry_is_asked_with_its_own_answer_and_its_nearest_neighbours() -> None:
    entries = [
        entry("vpn", "Use the VPN client.", 1, 0, 0),
        entry("vpn-mac", "Install the Mac VPN client.", 0.9, 0.1, 0),
        entry("lunch", "Lunch is at noon.", 0, 0, 1),
    ]
    known = known_answers(entries, pairs=3)
    assert len(known) == 6
    by_question = {(k.question, k.answers): k.answer for k in known}
    assert by_question[("vpn?", True)] == "Use the VPN client."
    assert by_question[("vpn?", False)] == "Install the Mac VPN client."
    assert by_question[("lunch?", False)] in {"Use the VPN client.", "Install the Mac VPN client."}
    assert known_answers(entries[:1], pairs=3) == []  # nothing to be wrong with


def test_a_neighbour_with_the_same_answer_is_passed_over() -> None:
    entries = [
        entry("a", "Same.", 1, 0),
        entry("b", "Same.", 1, 0.01),
        entry("c", "Other.", 0, 1),
    ]
    wrong = {k.question: k.answer for k in known_answers(entries, pairs=3) if not k.answers}
    assert wrong["a?"] == "Other." and wrong["b?"] == "Other."


def test_the_check_counts_what_the_judge_got_right_and_what_it_could_not_say() -> None:
    known = [
        KnownAnswer("q1", "right", "faq:1", True),
        KnownAnswer("q1", "wrong", "faq:2", False),
        KnownAnswer("q2", "right", "faq:2", True),
        KnownAnswer("q2", "wrong", "faq:1", False),
        KnownAnswer("q3", "right", "faq:3", True),
    ]
    replies = iter([True, False, False, True, None])
    found = check_judge(lambda _known: next(replies), known, "judge")
    assert (found.right_answers, found.right_judged_right) == (2, 1)
    assert (found.wrong_answers, found.wrong_judged_wrong) == (2, 1)
    assert found.unclear == 1 and youden(found) == 0.0


def test_a_judge_that_always_says_no_is_not_trusted() -> None:
    settings = ShadowSettings(method="judge")
    assert distrust(check((10, 10), (9, 10)), "judge", settings) is None
    always_no = distrust(check((0, 15), (15, 15)), "judge", settings)
    assert always_no is not None and "near chance" in always_no
    other_model = distrust(check((10, 10), (9, 10), model="old"), "judge", settings)
    assert other_model is not None and "'old'" in other_model
    too_few = distrust(check((3, 3), (3, 3)), "judge", settings)
    assert too_few is not None and "fewer than 10" in too_few
    by_citations = ShadowSettings(method="citations")
    other_method = distrust(check((10, 10), (9, 10)), "judge", by_citations)
    assert other_method is not None and "method 'judge', not 'citations'" in other_method
    assert "never checked" in (distrust(None, "judge", settings) or "")


def test_the_misrouting_estimate_is_corrected_for_the_judges_errors() -> None:
    judge = check((9, 10), (8, 10))  # calls 10% of right answers wrong, finds 80% of wrong ones
    real = corrected(Estimate(0.3, 0.2, 0.45, 40), judge)
    assert real.value == pytest.approx((0.3 + 0.9 - 1) / 0.7)
    assert (real.low, real.high, real.n) == (pytest.approx(0.1 / 0.7), pytest.approx(0.5), 40)
    assert corrected(Estimate(0.05, 0.0, 0.1, 40), judge).value == 0.0  # under the noise
    with pytest.raises(ValueError, match="chance"):
        corrected(Estimate(0.5, 0.4, 0.6, 40), check((0, 10), (10, 10)))


def test_the_citations_method_reads_whether_the_llm_cited_the_answers_source() -> None:
    assert source_key("sf-1", "point-9") == "faq:sf-1"  # any point of the entry
    assert source_key(None, "chunk-3") == "chunk-3"
    assert citation_verdict(["chunk-3", "faq:sf-1"], {"faq:sf-1"}) is True
    assert citation_verdict(["chunk-3"], {"faq:sf-1"}) is False
    assert citation_verdict([], {"faq:sf-1"}) is None  # no citation, no verdict


def _faq_point(point: str, faq_id: str, text: str) -> Hit:
    return Hit(point, {"text": text, "faq": {"faq_id": faq_id}}, 0.9, 0.0)


GIVEN = [
    _faq_point("p1", "vpn", "How do I connect to the VPN from home?"),
    _faq_point("p2", "vpn", "Install the client, sign in with your badge number and choose Home."),
    Hit("chunk-7", {"text": "Passwords expire every 90 days; reset one at the portal."}, 0.8, 0.0),
]


def test_an_answer_citing_nothing_is_attributed_to_the_source_its_words_come_from() -> None:
    cited, reason = attributed("See the manual [3].", GIVEN)
    assert cited == ("chunk-7",) and reason == "the LLM cited chunk-7"  # a citation comes first
    # the entry's points are one source: the answer's words are in its phrasing and its answer
    cited, reason = attributed("Install the VPN client and sign in with your badge number.", GIVEN)
    assert cited == ("faq:vpn",)
    assert reason.startswith("the LLM cited no passage; its answer is drawn from faq:vpn (1.00")
    # a refusal, or words from no source: the passages do not hold the answer, a cheap answer
    # resting on one of them is wrong
    refused, reason = attributed("I don't know: the VPN client is not mentioned.", GIVEN)
    assert refused == (NO_PASSAGE,) and reason == "the LLM found no answer in the passages"
    elsewhere, reason = attributed("Ask the front desk about parking permits.", GIVEN)
    assert elsewhere == (NO_PASSAGE,) and "answered from none of the passages (0.00" in reason
    assert citation_verdict(elsewhere, {"faq:vpn"}) is False
    # two sources holding as much of the answer: none stands out, no verdict
    assert attributed("Reset it at home.", GIVEN)[0] == ()
