"""Stage 2, for what the fast classifier could not settle: the SLM picks one letter (one forward
pass over the question's tokens: the instructions stay in the KV cache), and only a multi-part
question pays for generation: its sub-queries, under a JSON-schema grammar."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ragsvc.analysis.schema import QueryKind
from ragsvc.analysis.split import split_question
from ragsvc.pipeline.ports import ChatOutput, LocalChat

LABELS: dict[str, QueryKind] = {
    "A": "simple_factual",
    "B": "multi_part",
    "C": "complex",
    "D": "chitchat",
}
CLASSIFY_SYSTEM = """\
You sort help-desk questions. Reply with one letter only.
A = one simple question asking for one fact or one procedure.
B = several different questions in one message.
C = one question that needs reasoning: comparing things, or combining facts about several things.
D = greeting, thanks or small talk; no information needed.
Examples:
"How do I reset my password?" -> A
"What is the hotel limit in Tokyo?" -> A
"パスワードを忘れました" -> A
"How do I book a trip and what is the meal allowance?" -> B
"有給休暇の日数と申請方法を教えてください" -> B
"Which office opened first, Tokyo or Osaka?" -> C
"The author of the book was born in which city?" -> C
"どちらの規程が厳しいですか？" -> C
"thanks!" -> D
"こんにちは" -> D"""
SPLIT_SYSTEM = """\
Split the user's message into its separate questions. Each must stand alone: repeat the subject \
instead of "it" or "they", and keep the user's language. Reply as JSON: {"sub_queries": [...]}"""
SPLIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sub_queries": {
            "type": "array",
            "items": {"type": "string", "minLength": 3, "maxLength": 300},
            "minItems": 2,
            "maxItems": 4,
        }
    },
    "required": ["sub_queries"],
}


class ChoiceLike(Protocol):
    @property
    def probabilities(self) -> dict[str, float]: ...


class SlmBackend(LocalChat, Protocol):
    """What the SLM stage needs from ``ragsvc.models.llama.LocalLlm`` (a fake in unit tests)."""

    def choose(self, messages: list[dict[str, str]], options: Sequence[str]) -> ChoiceLike: ...


class InvalidSplitError(ValueError):
    """The SLM's sub-queries are not a JSON list of at least two questions."""


@dataclass(frozen=True, slots=True)
class SlmVerdict:
    kind: QueryKind
    confidence: float
    sub_queries: list[str]
    detail: str
    prompt_tokens: int
    completion_tokens: int


def parse_sub_queries(text: str, question: str) -> list[str]:
    """Validated sub-queries: a JSON object with >= 2 distinct non-empty strings."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSplitError(f"not JSON: {exc.msg}") from exc
    items = data.get("sub_queries") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise InvalidSplitError("no 'sub_queries' list")
    parts = list(dict.fromkeys(str(i).strip() for i in items if str(i).strip()))
    parts = [p for p in parts if p != question.strip()]
    if len(parts) < 2:
        raise InvalidSplitError(f"{len(parts)} distinct sub-queries, need at least 2")
    return parts


class SlmAnalyzer:
    def __init__(self, backend: SlmBackend, max_split_tokens: int = 160) -> None:
        if max_split_tokens <= 0:
            raise ValueError(f"max_split_tokens must be greater than 0, got {max_split_tokens}")
        self.backend = backend
        self.max_split_tokens = max_split_tokens

    def label(self, question: str) -> tuple[QueryKind, float, str]:
        """The kind as one constrained token, its probability, and every option's."""
        messages = [
            {"role": "system", "content": CLASSIFY_SYSTEM},
            {"role": "user", "content": question},
        ]
        choice = self.backend.choose(messages, list(LABELS))
        letter = max(choice.probabilities, key=choice.probabilities.__getitem__)
        detail = ", ".join(f"{LABELS[k]} {v:.2f}" for k, v in choice.probabilities.items())
        return LABELS[letter], choice.probabilities[letter], f"label: {detail}"

    def split(self, question: str, language: str) -> tuple[list[str], str, ChatOutput]:
        """Sub-queries generated under the JSON-schema grammar; the rules split when invalid."""
        result = self.backend.chat(
            [{"role": "system", "content": SPLIT_SYSTEM}, {"role": "user", "content": question}],
            max_tokens=self.max_split_tokens,
            json_schema=SPLIT_SCHEMA,
        )
        try:
            return parse_sub_queries(result.text, question), "sub-queries generated", result
        except InvalidSplitError as exc:
            note = f"generated sub-queries rejected ({exc}); split by rules"
            return split_question(question, language), note, result

    def classify(self, question: str, language: str) -> SlmVerdict:
        kind, confidence, detail = self.label(question)
        if kind != "multi_part":
            return SlmVerdict(kind, confidence, [], detail, 0, 1)
        parts, note, result = self.split(question, language)
        return SlmVerdict(
            kind,
            confidence,
            parts,
            f"{detail}; {note}",
            result.prompt_tokens,
            result.completion_tokens,
        )
