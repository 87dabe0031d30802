"""Readers for the public evaluation sets in ``../shared/data`` (see its README for licences)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@dataclass(frozen=True, slots=True)
class FaqItem:
    faq_id: str
    question: str
    answer: str
    queries: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Passage:
    passage_id: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class PassageQuestion:
    question: str
    passage_id: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class GoldQuestion:
    """One distinct question asked of one document, with every paragraph of it that answers it.

    PolicyQA asks the same generic question ("Do they share my location?") of many paragraphs of
    one policy and of many policies: a hit on any of the answering paragraphs is a hit.
    """

    question: str
    title: str
    passage_ids: frozenset[str]


def stackfaq(data: Path) -> list[FaqItem]:
    """StackFAQ (Karan & Šnajder 2018): 125 threads, reworded queries in ``rephr`` ("*" = none)."""
    raw = json.loads((data / "faq/stackfaq/stackExchange-FAQ.json").read_text())["root"]["qapair"]
    return [
        FaqItem(
            faq_id=f"sf-{n}",
            question=item["question"].strip(),
            answer="\n".join(a.strip() for a in item["answer"]),
            queries=tuple(q.strip() for q in item["rephr"] if q and q.strip() not in ("", "*")),
        )
        for n, item in enumerate(raw)
    ]


def squad_passages(path: Path) -> tuple[list[Passage], list[PassageQuestion]]:
    """A SQuAD-format file as passages (one per paragraph) and the questions asked of each."""
    passages: list[Passage] = []
    questions: list[PassageQuestion] = []
    for doc in json.loads(path.read_text())["data"]:
        for n, paragraph in enumerate(doc["paragraphs"]):
            passage_id = f"{doc['title']}#{n}"
            passages.append(Passage(passage_id, doc["title"], paragraph["context"]))
            questions.extend(
                PassageQuestion(qa["question"].strip(), passage_id, doc["title"])
                for qa in paragraph["qas"]
                if not qa.get("is_impossible")
            )
    return passages, questions


def sample(items: list[T], size: int, seed: int = 13) -> list[T]:
    if size <= 0 or size >= len(items):
        return items
    return random.Random(seed).sample(items, size)


def gold_questions(questions: list[PassageQuestion]) -> list[GoldQuestion]:
    """Questions grouped by (document, question text), in first-seen order."""
    groups: dict[tuple[str, str], set[str]] = {}
    for q in questions:
        groups.setdefault((q.title, q.question), set()).add(q.passage_id)
    return [GoldQuestion(q, title, frozenset(ids)) for (title, q), ids in groups.items()]
