"""FAQ-shaped evaluation sets built from public data (``../shared/data``, see its README).

Each set is FAQ entries plus real questions asked of them, with every question's gold entry:

- ``stackfaq``: StackFAQ threads as entries (question and answer), their reworded queries asked.
- ``banking77``: Banking77's 77 intents as entries. An intent's first ``known`` customer queries
  (seeded shuffle) are its question and phrasings, the next ``reserve`` are held back as phrasings
  an operator could confirm later (:attr:`FaqSet.reserve`), the rest are asked. The answer is the
  intent's label in words ("Card arrival"): a real FAQ would have an answer, the data has none,
  and the label is what a deployer knows of the entry.
- ``clinc150``: CLINC150's 150 in-scope intents, built the same way from its train and val queries.
- ``jsquad``: Japanese. JSQuAD paragraphs as entries (the answer is the paragraph, the question one
  of the questions asked of it), the paragraph's other questions asked.

``asked`` is capped per set (seeded sample), so sets weigh alike when pooled.
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.records import FaqEntry
from ragsvc.evaluation.datasets import CLINC150, JSQUAD, STACKFAQ, sample, stackfaq

BANKING77 = Path("faq/banking77/train.csv")
SET_NAMES = ("stackfaq", "banking77", "clinc150", "jsquad")


@dataclass(frozen=True, slots=True)
class Asked:
    question: str
    faq_id: str


@dataclass(slots=True)
class FaqSet:
    name: str
    language: str
    entries: list[FaqEntry]
    asked: list[Asked]
    reserve: dict[str, list[str]] = field(default_factory=dict)
    """Per entry, further real phrasings not asked (intent sets): the confirmed-phrasings supply."""


def _intent_set(
    name: str, rows: Iterable[tuple[str, str]], known: int, reserve: int, cap: int, seed: int
) -> FaqSet:
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in rows:
        if text.strip() and text.strip() not in by_intent[intent]:
            by_intent[intent].append(text.strip())
    rng = random.Random(seed)
    entries: list[FaqEntry] = []
    asked: list[Asked] = []
    held: dict[str, list[str]] = {}
    for intent in sorted(by_intent):
        queries = by_intent[intent]
        rng.shuffle(queries)
        entries.append(
            FaqEntry(
                faq_id=intent,
                question=queries[0],
                answer=intent.replace("_", " ").capitalize(),
                alternatives=tuple(queries[1:known]),
                language="en",
            )
        )
        held[intent] = queries[known : known + reserve]
        asked.extend(Asked(q, intent) for q in queries[known + reserve :])
    return FaqSet(name, "en", entries, sample(asked, cap, seed), held)


def stackfaq_set(data: Path, cap: int, seed: int) -> FaqSet:
    items = stackfaq(data / STACKFAQ)
    entries = [FaqEntry(f.faq_id, f.question, f.answer, language="en") for f in items]
    asked = [Asked(q, f.faq_id) for f in items for q in f.queries]
    return FaqSet("stackfaq", "en", entries, sample(asked, cap, seed))


def banking77_set(data: Path, cap: int, seed: int, known: int = 3, reserve: int = 8) -> FaqSet:
    with (data / BANKING77).open(encoding="utf-8", newline="") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    return _intent_set("banking77", rows, known, reserve, cap, seed)


def clinc150_set(data: Path, cap: int, seed: int, known: int = 3, reserve: int = 8) -> FaqSet:
    raw = json.loads((data / CLINC150).read_text(encoding="utf-8"))
    rows = [(text, intent) for split in ("train", "val") for text, intent in raw[split]]
    return _intent_set("clinc150", rows, known, reserve, cap, seed)


def jsquad_set(data: Path, cap: int, seed: int) -> FaqSet:
    entries: list[FaqEntry] = []
    asked: list[Asked] = []
    for doc in json.loads((data / JSQUAD).read_text(encoding="utf-8"))["data"]:
        for n, paragraph in enumerate(doc["paragraphs"]):
            questions = list(dict.fromkeys(qa["question"].strip() for qa in paragraph["qas"]))
            if len(questions) < 2:
                continue
            faq_id = f"{doc['title']}#{n}"
            entries.append(FaqEntry(faq_id, questions[0], paragraph["context"], language="ja"))
            asked.extend(Asked(q, faq_id) for q in questions[1:])
    return FaqSet("jsquad", "ja", entries, sample(asked, cap, seed))


BUILDERS: dict[str, Callable[[Path, int, int], FaqSet]] = {
    "stackfaq": stackfaq_set,
    "banking77": banking77_set,
    "clinc150": clinc150_set,
    "jsquad": jsquad_set,
}


def load_sets(data: Path, names: Iterable[str], cap: int = 1200, seed: int = 13) -> list[FaqSet]:
    unknown = set(names) - set(BUILDERS)
    if unknown:
        raise ValueError(f"unknown FAQ sets {sorted(unknown)}; valid: {', '.join(SET_NAMES)}")
    return [BUILDERS[name](data, cap, seed) for name in names]
