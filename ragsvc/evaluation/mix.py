"""The help-desk mix: labelled questions shaped like help-desk traffic, built from public data.

``build_mix(data, per_category, seed)`` reads the sets in ``../shared/data`` (file paths in
``ragsvc.evaluation.datasets``); ``write_mix`` writes the questions as JSONL beside the corpus they
are asked of, which is what ``ragsvc eval`` runs on.

Corpus (``write_corpus``), as an operator would hand it to the ingest job:
- ``stackfaq.json``: the StackFAQ threads as one FAQ file, ``{"faqs": [{"id": "sf-N", "question",
  "answer"}]}``; the FAQ reader keeps ``id`` as the chunks' ``faq.faq_id``;
- ``<policy>.txt``: each PolicyQA privacy policy (e.g. ``walmart.com.txt``);
- ``ja/<article>.txt``: each JSQuAD Wikipedia article (e.g. ``ja/梅雨.txt``).
A document is its title on the first line, then its paragraphs in order, separated by blank lines
(JSQuAD's ``<title> [SEP]`` before each paragraph is dropped: the title line says it once). File
names are titles with path separators and characters Windows forbids replaced by ``_``, plus a
short hash of the title whenever anything was replaced, so that two titles never share a file.

Questions, ``per_category`` of each category (a category with fewer candidates gives all it has):
- ``faq`` (en, simple_factual): a StackFAQ reworded user query; gold: the entry it rewords
  (``faq_id``) and that entry's answer;
- ``policy`` (en, simple_factual): a distinct (policy, question) pair of PolicyQA; gold: the
  policy's file and every answer span of that question in any paragraph of that policy, since
  PolicyQA asks the same generic question of several paragraphs;
- ``passage_ja`` (ja, simple_factual): a distinct (article, question) pair of JSQuAD; gold: the
  article's file and the answer spans (annotators' repeats kept once);
- ``multi_part`` (multi_part): two or three (``THREE_PART_SHARE``) real questions from
  different topics joined into one message, each part with its own gold. The first half (rounded
  up) is English: a StackFAQ query and a PolicyQA question (three parts: a second StackFAQ query
  between them); the rest Japanese: JSQuAD questions about different articles. Each is joined in
  a style of ``ragsvc/evaluation/joins.py``, dev and held-out styles in turn (``join_style``);
- ``out_of_scope`` (en, out_of_scope): a CLINC150 out-of-scope validation query; no parts, as the
  right outcome is a hand-off.
Each category is sampled by its own generator, seeded with ``seed`` and the category's name, so
resizing the mix does not reshuffle what a category picks. Ids count within a category
(``faq-0001``); the questions are then shuffled together (same seed), so the first N of the file
are a fair mix. JSQuAD questions and answers are stripped of stray whitespace.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from ragsvc.errors import ConfigError
from ragsvc.evaluation.datasets import (
    CLINC150,
    JSQUAD,
    POLICYQA,
    STACKFAQ,
    FaqItem,
    GoldQuestion,
    Passage,
    clinc_out_of_scope,
    gold_questions,
    squad_passages,
    stackfaq,
)
from ragsvc.evaluation.joins import join_parts, style_names
from ragsvc.evaluation.metrics import Language

T = TypeVar("T")

Category = Literal["faq", "policy", "passage_ja", "multi_part", "out_of_scope"]
ExpectedKind = Literal["simple_factual", "multi_part", "out_of_scope"]
PartCategory = Literal["faq", "policy", "passage_ja"]
CATEGORIES: tuple[Category, ...] = get_args(Category)
EXPECTED_KIND: dict[Category, ExpectedKind] = {
    "faq": "simple_factual",
    "policy": "simple_factual",
    "passage_ja": "simple_factual",
    "multi_part": "multi_part",
    "out_of_scope": "out_of_scope",
}
FAQ_FILE = "stackfaq.json"
JA_FOLDER = "ja"


class PartGold(BaseModel):
    """One answerable question and what a right answer to it cites and says."""

    model_config = ConfigDict(extra="forbid")

    question: str
    category: PartCategory
    faq_id: str | None = None
    """The FAQ entry the question rewords (faq)."""
    document: str | None = None
    """The gold document's path in the corpus folder, e.g. ``Amazon.txt`` (policy, passage_ja)."""
    answers: list[str] = []
    """Gold answer spans (policy, passage_ja); for faq, the FAQ's answer."""


class LabelledQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    question: str
    language: Language
    category: Category
    expected_kind: ExpectedKind
    """The routing label."""
    parts: list[PartGold]
    """One for a single question, two or more for multi_part, none for out_of_scope."""
    join_style: str = ""
    """How a multi_part question's parts were joined (``ragsvc/evaluation/joins.py``)."""

    @model_validator(mode="after")
    def _parts_fit_the_kind(self) -> LabelledQuestion:
        count, kind = len(self.parts), self.expected_kind
        if kind == "out_of_scope" and count != 0:
            raise ValueError(f"an out_of_scope question has no parts, got {count}")
        if kind == "multi_part" and count < 2:
            raise ValueError(f"a multi_part question has two or more parts, got {count}")
        if kind == "simple_factual" and count != 1:
            raise ValueError(f"a simple_factual question has one part, got {count}")
        return self


# -- corpus --------------------------------------------------------------------------------------
def document_file(title: str) -> str:
    """A document title as a file name the ingest job will read (not hidden, no separators)."""
    safe = re.sub(r'[\x00-\x1f\\/:*?"<>|]', "_", title).strip().lstrip(".")
    if safe != title or not safe or len(title.encode()) > 200:
        safe = f"{safe[:60]}-{hashlib.sha1(title.encode()).hexdigest()[:8]}"
    return f"{safe}.txt"


def write_faq_file(faqs: Sequence[FaqItem], path: Path) -> None:
    """The FAQ entries as one JSON FAQ file (``ingest/readers/faq.py``); ``id`` is the faq_id."""
    entries = [{"id": f.faq_id, "question": f.question, "answer": f.answer} for f in faqs]
    path.write_text(json.dumps({"faqs": entries}), encoding="utf-8")


def write_documents(passages: Sequence[Passage], folder: Path) -> None:
    """One text document per title: the title line, then its paragraphs in order."""
    folder.mkdir(parents=True, exist_ok=True)
    by_title: dict[str, list[str]] = {}
    for p in passages:
        by_title.setdefault(p.title, []).append(p.text.removeprefix(f"{p.title} [SEP] "))
    for title, paragraphs in by_title.items():
        text = "\n\n".join([title, *paragraphs])
        (folder / document_file(title)).write_text(text, encoding="utf-8")


def write_corpus(data: Path, folder: Path) -> None:
    """The FAQ file, the policies and the Japanese articles, as an operator would ingest them."""
    folder.mkdir(parents=True, exist_ok=True)
    write_faq_file(stackfaq(data / STACKFAQ), folder / FAQ_FILE)
    write_documents(squad_passages(data / POLICYQA)[0], folder)
    write_documents(squad_passages(data / JSQUAD)[0], folder / JA_FOLDER)


# -- questions -----------------------------------------------------------------------------------
Draft = tuple[str, Language, list[PartGold], str]
"""A question before it has an id: its text, its language, its parts, its join style."""
THREE_PART_SHARE = 0.3


def build_mix(data: Path, per_category: int, seed: int = 13) -> list[LabelledQuestion]:
    if per_category < 1:
        raise ValueError(f"per_category must be at least 1, got {per_category}")
    faqs = [(query, faq) for faq in stackfaq(data / STACKFAQ) for query in faq.queries]
    policy = gold_questions(squad_passages(data / POLICYQA)[1])
    japanese = gold_questions(squad_passages(data / JSQUAD)[1])

    def pick(category: Category, items: Sequence[T]) -> list[T]:
        return _rng(seed, category).sample(list(items), min(per_category, len(items)))

    drafts: dict[Category, list[Draft]] = {
        "faq": [_single(_faq_part(q, f), "en") for q, f in pick("faq", faqs)],
        "policy": [_single(_policy_part(g), "en") for g in pick("policy", policy)],
        "passage_ja": [_single(_ja_part(g), "ja") for g in pick("passage_ja", japanese)],
        "multi_part": _multi_part(_rng(seed, "multi_part"), per_category, faqs, policy, japanese),
        "out_of_scope": [
            (q, "en", [], "") for q in pick("out_of_scope", clinc_out_of_scope(data / CLINC150))
        ],
    }
    mix = [
        LabelledQuestion(
            id=f"{category}-{n:04d}",
            question=text,
            language=language,
            category=category,
            expected_kind=EXPECTED_KIND[category],
            parts=parts,
            join_style=style,
        )
        for category in CATEGORIES
        for n, (text, language, parts, style) in enumerate(drafts[category], start=1)
    ]
    random.Random(seed).shuffle(mix)
    return mix


def _rng(seed: int, category: Category) -> random.Random:
    return random.Random(f"{seed}:{category}")  # a str seed is hashed the same in every process


def _single(part: PartGold, language: Language) -> Draft:
    return part.question, language, [part], ""


def _faq_part(query: str, faq: FaqItem) -> PartGold:
    return PartGold(question=query, category="faq", faq_id=faq.faq_id, answers=[faq.answer])


def _policy_part(gold: GoldQuestion) -> PartGold:
    return PartGold(
        question=gold.question,
        category="policy",
        document=document_file(gold.title),
        answers=list(gold.answers),
    )


def _ja_part(gold: GoldQuestion) -> PartGold:
    return PartGold(
        question=gold.question,
        category="passage_ja",
        document=f"{JA_FOLDER}/{document_file(gold.title)}",
        answers=list(gold.answers),
    )


def _multi_part(
    rng: random.Random,
    count: int,
    faqs: Sequence[tuple[str, FaqItem]],
    policy: Sequence[GoldQuestion],
    japanese: Sequence[GoldQuestion],
) -> list[Draft]:
    drafts: list[Draft] = []
    en_styles = style_names("en", "dev") + style_names("en", "held_out")
    for n in range(count - count // 2):
        first = rng.choice(faqs)
        parts = [_faq_part(*first), _policy_part(rng.choice(policy))]
        if rng.random() < THREE_PART_SHARE:
            parts.insert(1, _faq_part(*rng.choice([f for f in faqs if f[1] != first[1]])))
        style = en_styles[n % len(en_styles)]
        drafts.append((join_parts([p.question for p in parts], "en", style), "en", parts, style))
    ja_styles = style_names("ja", "dev") + style_names("ja", "held_out")
    articles = len({g.title for g in japanese})
    if count // 2 and articles < 2:
        raise ValueError("Japanese multi-part questions need questions about two articles")
    for n in range(count // 2):
        golds = [rng.choice(japanese)]
        size = min(articles, 3 if rng.random() < THREE_PART_SHARE else 2)
        while len(golds) < size:
            others = [g for g in japanese if all(g.title != o.title for o in golds)]
            golds.append(rng.choice(others))
        parts = [_ja_part(g) for g in golds]
        style = ja_styles[n % len(ja_styles)]
        drafts.append((join_parts([p.question for p in parts], "ja", style), "ja", parts, style))
    return drafts


# -- files ---------------------------------------------------------------------------------------
def write_mix(data: Path, folder: Path, per_category: int, seed: int = 13) -> Path:
    """``folder/corpus/`` and ``folder/questions.jsonl`` (one LabelledQuestion a line)."""
    questions = build_mix(data, per_category, seed)
    write_corpus(data, folder / "corpus")
    path = folder / "questions.jsonl"
    path.write_text("".join(q.model_dump_json() + "\n" for q in questions), encoding="utf-8")
    return path


def load_questions(path: Path) -> list[LabelledQuestion]:
    """Labelled questions from JSONL (blank lines skipped); a bad line is named by its number."""
    if not path.is_file():
        raise ConfigError(f"no labelled questions at {path}: pass a JSONL file")
    questions: list[LabelledQuestion] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            question = LabelledQuestion.model_validate_json(line)
        except ValidationError as exc:
            raise ConfigError(f"{path}:{n}: not a labelled question: {_reasons(exc)}") from None
        if question.id in seen:
            raise ConfigError(f"{path}:{n}: question id {question.id!r} is used twice")
        seen.add(question.id)
        questions.append(question)
    return questions


def _reasons(exc: ValidationError) -> str:
    errors = exc.errors()
    shown = [f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in errors[:3]]
    return "; ".join(shown) + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "")
