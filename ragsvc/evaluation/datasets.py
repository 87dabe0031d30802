"""Readers for public evaluation sets (see ``../shared/data/README.md`` for sources and licences).

Each reader takes the path of one file, so any set in the same format works through it: a StackFAQ
JSON (``root.qapair[]`` with ``question``, ``answer[]``, ``rephr[]``), a SQuAD JSON (``data[]`` of
titled documents, ``paragraphs[]`` with ``context`` and ``qas[]``), a CLINC150 JSON (splits of
``[query, intent]`` rows). The paths below are where ``../shared/data`` keeps each set.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

T = TypeVar("T")

STACKFAQ = Path("faq/stackfaq/stackExchange-FAQ.json")
POLICYQA = Path("policy/policyqa/dev.json")
JSQUAD = Path("ja/jsquad_valid.json")
CLINC150 = Path("oos/clinc150/dev.json")

ClincSplit = Literal["train", "val", "oos_train", "oos_val"]


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
    answers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GoldQuestion:
    """One distinct question asked of one document, with every paragraph of it that answers it.

    PolicyQA asks the same generic question ("Do they share my location?") of many paragraphs of
    one policy and of many policies: a hit on any of the answering paragraphs is a hit, and any of
    their answer spans is a right answer.
    """

    question: str
    title: str
    passage_ids: frozenset[str]
    answers: tuple[str, ...] = ()


def stackfaq(path: Path) -> list[FaqItem]:
    """StackFAQ (Karan & Šnajder 2018): threads with reworded user queries in ``rephr``.

    ``"*"`` marks a missing rewording. Ids are ``sf-<position>``, so they are stable for one file.
    """
    raw = json.loads(path.read_text(encoding="utf-8"))["root"]["qapair"]
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
    """A SQuAD-format file as passages (one per paragraph) and the questions asked of each.

    Questions and answers are stripped (JSQuAD carries stray spaces) and repeated answers (several
    annotators marking the same span) kept once; unanswerable SQuAD 2.0 questions are skipped.
    """
    passages: list[Passage] = []
    questions: list[PassageQuestion] = []
    for doc in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for n, paragraph in enumerate(doc["paragraphs"]):
            passage_id = f"{doc['title']}#{n}"
            passages.append(Passage(passage_id, doc["title"], paragraph["context"]))
            questions.extend(
                PassageQuestion(
                    qa["question"].strip(),
                    passage_id,
                    doc["title"],
                    _distinct(a["text"] for a in qa.get("answers", [])),
                )
                for qa in paragraph["qas"]
                if not qa.get("is_impossible")
            )
    return passages, questions


def clinc_queries(path: Path, split: ClincSplit) -> list[str]:
    """The queries of one split of a CLINC150 file (rows are ``[query, intent]``)."""
    return [row[0] for row in json.loads(path.read_text(encoding="utf-8"))[split]]


def clinc_out_of_scope(path: Path) -> list[str]:
    """CLINC150's out-of-scope validation queries: questions a help desk has no answer for."""
    return clinc_queries(path, "oos_val")


def sample(items: list[T], size: int, seed: int = 13) -> list[T]:
    if size <= 0 or size >= len(items):
        return items
    return random.Random(seed).sample(items, size)


def gold_questions(questions: list[PassageQuestion]) -> list[GoldQuestion]:
    """Questions grouped by (document, question text), in first-seen order."""
    groups: dict[tuple[str, str], list[PassageQuestion]] = {}
    for q in questions:
        groups.setdefault((q.title, q.question), []).append(q)
    return [
        GoldQuestion(
            question,
            title,
            frozenset(q.passage_id for q in group),
            _distinct(a for q in group for a in q.answers),
        )
        for (title, question), group in groups.items()
    ]


def _distinct(texts: Iterable[str]) -> tuple[str, ...]:
    """Stripped, non-empty, each once, in first-seen order."""
    return tuple(dict.fromkeys(t.strip() for t in texts if t.strip()))
