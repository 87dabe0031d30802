"""Cheap surface cues, English and Japanese: greetings, comparison/reasoning markers and the
task (multi-part messages: ``split.py``). Pure functions of the text, microseconds each."""

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
