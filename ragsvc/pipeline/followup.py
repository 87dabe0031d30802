"""Follow-ups in a conversation made self-contained before routing, by rules.

"and for contractors?" after "How many vacation days do employees get?" means nothing alone: the
FAQ check, retrieval and the models would see only "contractors". A follow-up is recognised by how
it starts ("and", "what about", 「それは」, 「では」...) or by being short and leaning on a word
that points back ("it", "that", 「それ」); it is then asked as the previous question carrying the
follow-up's new words: "How many vacation days do employees get, for contractors?". Anything
else is asked as written. The trace keeps both (``Trace.rewrite``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_EN_LEAD = re.compile(
    r"^(?:and|also|but|so|then)?\s*(?:what|how)\s+about\b|^(?:and|also|but|same for)\b",
    re.IGNORECASE,
)
_EN_DROP = re.compile(
    r"^(?:(?:and|also|but|so|then)\s+)?(?:(?:what|how)\s+about|what if|same for)\s*"
    r"|^(?:and|also|but)\s+",
    re.IGNORECASE,
)
_EN_POINTER = re.compile(r"\b(?:it|that|they|them|those|these)\b", re.IGNORECASE)
"""Not "there" or "this", nor a leading "what if": as often about the world as about the last
turn ("is there a fee?", "what is this charge?"); with them, 1.1% of Banking77's and 3.0% of
CLINC150's questions read as follow-ups, without them 0.3% and 2.1% (bench/followup.py)."""
_EN_SHORT_WORDS = 6
_JA_LEAD = re.compile(
    r"^(?:それって|それなら|それは|それも|それで|その場合|それ|その|そこ|では|じゃあ|じゃ|あと|また"
    r"|ちなみに|なら)[、,，\s]*"
)
_JA_POINTER = re.compile(r"それ|その|そこ|あれ|この場合")
_JA_SHORT_CHARS = 20
_JA_ELLIPTIC_END = re.compile(r"(?:は|でも|も|の場合|なら|だと|では)[？?]?$")
_JA_ELLIPTIC_CHARS = 6
"""An ending that leaves the subject out marks a follow-up only this short (「海外出張でも？」):
at up to 20 characters it took 13% of JSQuAD's stand-alone questions (「梅雨の期間は？」), at 6
0.1%."""
_END = re.compile(r"[\s?？.。!！]+$")


@dataclass(frozen=True, slots=True)
class Rewrite:
    question: str
    """What is routed: the previous question with the follow-up's words."""
    rule: str
    """Why the message was taken for a follow-up."""


def _japanese(text: str) -> bool:
    return any("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff" for c in text)


def follow_up_rule(question: str) -> str | None:
    """Why ``question`` reads as a follow-up of the previous turn, or None."""
    if _japanese(question):
        if _JA_LEAD.match(question):
            return "starts like a follow-up (ja)"
        length = len(_END.sub("", question))
        if length <= _JA_SHORT_CHARS and _JA_POINTER.search(question):
            return "short, and points back (ja)"
        if length <= _JA_ELLIPTIC_CHARS and _JA_ELLIPTIC_END.search(question):
            return "very short, and leaves its subject out (ja)"
        return None
    if _EN_LEAD.match(question):
        return "starts like a follow-up"
    if len(question.split()) <= _EN_SHORT_WORDS and _EN_POINTER.search(question):
        return "short, and points back (it, that, they...)"
    return None


def standalone(question: str, previous: Sequence[str]) -> Rewrite | None:
    """``question`` made self-contained with the last of ``previous`` (the conversation's
    earlier questions, each as it was routed), or None when it stands on its own."""
    if not previous or not previous[-1].strip():
        return None
    rule = follow_up_rule(question)
    if rule is None:
        return None
    before = _END.sub("", " ".join(previous[-1].split()))
    if _japanese(question):
        added = _END.sub("", _JA_LEAD.sub("", question))
        return Rewrite(f"{before}（{added}）？" if added else f"{before}？", rule)
    added = _END.sub("", _EN_DROP.sub("", question))
    return Rewrite(f"{before}, {added}?" if added else f"{before}?", rule)
