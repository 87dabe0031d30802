"""Prompts of the answering models. Passages are numbered; answers cite them as [n]."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragsvc.retrieval.fusion import Hit

_LANGUAGE_NAMES = {"en": "English", "ja": "Japanese"}
_CITATION = re.compile(r"\[(\d{1,2})\]")

SLM_SYSTEM = (
    "You answer help-desk questions using only the numbered passages given. Answer in at most "
    "three sentences, in {language}, and cite the passage you used as [n]. If the passages do "
    "not contain the answer, reply exactly: I don't know."
)
LLM_SYSTEM = (
    "You are a help-desk assistant. Answer using only the numbered passages given; never invent "
    "facts. Write in {language}. The question has these parts:\n{parts}\nAddress every part in "
    "order. Cite the passages you use as [n] right after the sentence they support. When the "
    "passages do not answer a part, say plainly that you could not find it for that part."
)


def language_name(language: str) -> str:
    return _LANGUAGE_NAMES.get(language, "the language of the question")


def numbered_passages(hits: Sequence[Hit], max_chars: int = 900) -> str:
    blocks = []
    for n, hit in enumerate(hits, start=1):
        p = hit.payload
        where = " > ".join([str(p.get("title", "")), *p.get("section", [])])
        blocks.append(f"[{n}] ({where})\n{hit.text[:max_chars]}")
    return "\n\n".join(blocks)


def slm_messages(question: str, hits: Sequence[Hit], language: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SLM_SYSTEM.format(language=language_name(language))},
        {
            "role": "user",
            "content": f"Passages:\n{numbered_passages(hits, 600)}\n\nQuestion: {question}",
        },
    ]


def llm_messages(
    question: str, parts: Sequence[str], hits: Sequence[Hit], language: str
) -> list[dict[str, str]]:
    listed = "\n".join(f"{i}. {part}" for i, part in enumerate(parts, start=1))
    system = LLM_SYSTEM.format(language=language_name(language), parts=listed)
    return [
        {"role": "system", "content": system},
        {
            "role": "user",
            "content": f"Passages:\n{numbered_passages(hits)}\n\nQuestion: {question}",
        },
    ]


def cited(answer: str, available: int) -> list[int]:
    """Citation numbers used in ``answer`` that refer to a given passage, in first-use order."""
    numbers = (int(m) for m in _CITATION.findall(answer))
    return list(dict.fromkeys(n for n in numbers if 1 <= n <= available))


def renumber_citations(answer: str, mapping: dict[int, int]) -> str:
    """Rewrite [old] as [new]; citations not in ``mapping`` are dropped."""

    def replace(match: re.Match[str]) -> str:
        new = mapping.get(int(match.group(1)))
        return f"[{new}]" if new else ""

    return _CITATION.sub(replace, answer)
