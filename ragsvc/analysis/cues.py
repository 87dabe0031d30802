"""Cheap surface cues, English and Japanese: greetings, multi-part questions and how to split
them, comparison/reasoning markers, and the task. Pure functions of the text, microseconds each."""

from __future__ import annotations

import re

from ragsvc.analysis.schema import Task

_GREETING = re.compile(
    r"^\s*(hi|hello|hey|good (morning|afternoon|evening)|thanks?( you)?|thank you( very much)?|"
    r"bye|goodbye|how are you|who are you|what can you do|ok(ay)?|great|cool|"
    r"こんにちは|こんばんは|おはよう(ございます)?|ありがとう(ございます|ございました)?|"
    r"よろしく(お願いします)?|さようなら|お疲れ(様|さま)です|あなたは誰)[\s!！。.?？]*$",
    re.IGNORECASE,
)
_WH = (
    r"what|how|when|where|who|whom|whose|which|why|can|could|do|does|did|is|are|was|were|"
    r"should|will|would|may|tell|explain|give|list|show"
)
_EN_JOIN = re.compile(
    rf",?\s+(?:and\s+also|and\s+then|and|also|plus|as\s+well\s+as)\s+(?=(?:{_WH})\b)",
    re.IGNORECASE,
)
_EN_ALSO = re.compile(r"(?<=[.?!])\s+(?:also|and|plus|additionally),?\s+", re.IGNORECASE)
_QUESTION_END = re.compile(r"(?<=[?？])\s*(?=\S)")
_JA_CONNECTOR = re.compile(r"(?:^|。|、|\s)(?:それと|それから|あと|また|ついでに|加えて|さらに)、?")
_JA_BUT = re.compile(r"(?:のですが|んですが|のですけど|んだけど|けれど|けど)、")
_JA_NOUN_END = (
    "方法|手順|やり方|仕方|期限|締め切り|場所|連絡先|条件|金額|上限|時間|申請|設定|手続き|"
    "ルール|規定|担当|窓口|費用|料金|日数|回数|理由|可否|有無"
)
_JA_AND = re.compile(rf"({_JA_NOUN_END})と(?=\S)")
_JA_REQUEST_TAIL = re.compile(
    r"(も|を|について)?(教えて(ください|下さい)?|知りたい(です)?|ください)[。？?]*$"
)
_PRONOUN = re.compile(r"\b(it|its|they|them|their|this|that|these|those|he|she|his|her)\b", re.I)
_COMPLEX = re.compile(
    r"\b(which (one |of the two )?(is|was|came|has|had|did)\b.*\b(first|older|younger|earlier|"
    r"later|longer|shorter|larger|bigger|smaller|more|less|higher|lower)|both\b|the same\b|"
    r"in common|difference between|compared? (to|with)|versus|\bvs\.?\b|older than|younger than|"
    r"more than one|why (did|does|is|are|was|were))",
    re.IGNORECASE,
)
_JA_COMPLEX = re.compile(
    r"どちら|どっち|両方|共通|同じ|違い|比べ|比較|より(先|早|後|多|長|高|大|古|新)|なぜ|理由は"
)
_TROUBLE = re.compile(
    r"not work|doesn't work|does not work|won't|can't|cannot|unable|error|fail|broken|stuck|"
    r"problem|issue|crash|locked out|"
    r"できない|できません|つながらない|繋がらない|エラー|動かない|失敗|使えない",
    re.IGNORECASE,
)
_COMPARISON = re.compile(r"differen|compare|versus|\bvs\b|better|違い|比較|どちら", re.IGNORECASE)
_HOW_TO = re.compile(
    r"\bhow (do|can|should|to)\b|\bsteps?\b|方法|手順|やり方|どうすれば|どうやって", re.IGNORECASE
)
_POLICY = re.compile(
    r"polic|allowed|permitted|rules?\b|limit|entitle|eligib|reimburs|may i|am i allowed|"
    r"規程|規定|規則|ルール|上限|認められ|可能ですか|してもいい|できますか",
    re.IGNORECASE,
)
_TASKS: tuple[tuple[Task, re.Pattern[str]], ...] = (
    ("troubleshooting", _TROUBLE),
    ("comparison", _COMPARISON),
    ("how_to", _HOW_TO),
    ("policy", _POLICY),
)


def is_greeting(text: str) -> bool:
    return bool(_GREETING.match(text)) and len(text) <= 60


def looks_complex(text: str) -> bool:
    return bool(_COMPLEX.search(text) or _JA_COMPLEX.search(text))


def task_of(text: str) -> Task:
    return next((task for task, pattern in _TASKS if pattern.search(text)), "lookup")


def _clean(part: str) -> str:
    return part.strip(" ,、;；")


def _resolve_pronouns(parts: list[str]) -> list[str]:
    """A later part leaning on an earlier one ("... and how do I book it?") repeats its context."""
    resolved = [parts[0]]
    for part in parts[1:]:
        if _PRONOUN.search(part) and len(part.split()) <= 8:
            part = f"{part.rstrip('?')} ({parts[0].rstrip('?')})?"
        resolved.append(part)
    return resolved


def split_english(text: str) -> list[str]:
    pieces = [p for p in _QUESTION_END.split(text) if p.strip()]
    parts: list[str] = []
    for piece in pieces:
        for sentence in _EN_ALSO.split(piece):
            parts.extend(_clean(p) for p in _EN_JOIN.split(sentence) if _clean(p))
    parts = [p if p.endswith(("?", ".", "!")) else f"{p}?" for p in parts]
    parts = [p[:1].upper() + p[1:] for p in parts]
    return _resolve_pronouns(parts) if len(parts) >= 2 else [text.strip()]


def split_japanese(text: str) -> list[str]:
    """「AのですがBとCも教えてください」 -> A, B, C; also splits at それと/また and at 「？」."""
    parts: list[str] = []
    for sentence in (p for p in _QUESTION_END.split(text) if p.strip()):
        for clause in _JA_CONNECTOR.split(sentence):
            head, _, rest = clause.partition("、") if _JA_BUT.search(clause) else ("", "", clause)
            if head:
                problem = _JA_BUT.split(clause, maxsplit=1)[0]
                parts.append(f"{problem}場合はどうすればよいですか？")
                rest = _JA_BUT.split(clause, maxsplit=1)[1]
            tail = _JA_REQUEST_TAIL.search(rest)
            body = rest[: tail.start()] if tail else rest
            items = [i for i in _JA_AND.sub("\\1\0", body).split("\0") if i.strip()]
            if len(items) >= 2:
                parts.extend(f"{_clean(i)}を教えてください。" for i in items)
            elif rest.strip():
                parts.append(_clean(rest))
    parts = [p for p in parts if p.strip("。？?")]
    return parts if len(parts) >= 2 else [text.strip()]


def split_question(text: str, language: str) -> list[str]:
    """The parts of a multi-part question (at least two), or ``[text]`` when no cue splits it."""
    return split_japanese(text) if language == "ja" else split_english(text)
