"""A help-desk-shaped question mix built from the public sets in ``../shared/data``.

Corpus: the 125 StackFAQ threads as one FAQ file, the 20 PolicyQA privacy policies as one text
document each (paragraphs in order). Questions, sampled with a fixed seed:
- ``faq``: StackFAQ reworded user queries (gold: the FAQ they reword);
- ``policy``: PolicyQA questions (gold: the paragraph holding the answer, and the answer spans);
- ``multi_part``: two PolicyQA questions about different policies joined as "A, and also b?"
  (gold: both parts);
- ``out_of_scope``: CLINC150 out-of-scope validation queries (no gold: the honest answer is a
  hand-off).
Any set in the same formats (StackFAQ JSON, SQuAD JSON, CLINC JSON) works through the same loaders.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.datasets import PassageQuestion, squad_passages, stackfaq

Category = Literal["faq", "policy", "multi_part", "out_of_scope"]
CATEGORIES: tuple[Category, ...] = ("faq", "policy", "multi_part", "out_of_scope")


@dataclass(frozen=True, slots=True)
class MixQuestion:
    question: str
    category: Category
    parts: tuple[str, ...] = ()
    gold: tuple[str, ...] = ()


def write_corpus(data: Path, folder: Path) -> None:
    """The FAQ file and the policy documents, as an operator would hand them to the ingest job."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = [{"id": f.faq_id, "question": f.question, "answer": f.answer} for f in stackfaq(data)]
    (folder / "stackfaq.json").write_text(json.dumps({"faqs": entries}))
    passages, _ = squad_passages(data / "policy/policyqa/dev.json")
    by_title: dict[str, list[str]] = {}
    for p in passages:
        by_title.setdefault(p.title, []).append(p.text)
    for title, paragraphs in by_title.items():
        (folder / f"{title}.txt").write_text(title + "\n\n" + "\n\n".join(paragraphs))


def _join(first: str, second: str) -> str:
    head = first.strip().rstrip("?").rstrip()
    tail = second.strip()
    return f"{head}, and also {tail[:1].lower()}{tail[1:]}"


def build_mix(data: Path, per_category: int, seed: int = 13) -> list[MixQuestion]:
    rng = random.Random(seed)
    faq_queries = [(q, f.faq_id) for f in stackfaq(data) for q in f.queries]
    _, policy = squad_passages(data / "policy/policyqa/dev.json")
    oos = json.loads((data / "oos/clinc150/dev.json").read_text())["oos_val"]
    mix = [MixQuestion(q, "faq", gold=(g,)) for q, g in rng.sample(faq_queries, per_category)]
    mix += [
        MixQuestion(p.question, "policy", gold=(p.passage_id,))
        for p in rng.sample(policy, per_category)
    ]
    mix += [_multi_part(rng, policy) for _ in range(per_category)]
    mix += [MixQuestion(q, "out_of_scope") for q, _ in rng.sample(oos, per_category)]
    rng.shuffle(mix)
    return mix


def _multi_part(rng: random.Random, questions: Sequence[PassageQuestion]) -> MixQuestion:
    while True:
        a, b = rng.sample(list(questions), 2)
        if a.passage_id.split("#")[0] != b.passage_id.split("#")[0]:
            return MixQuestion(
                _join(a.question, b.question),
                "multi_part",
                parts=(a.question, b.question),
                gold=(a.passage_id, b.passage_id),
            )
