"""Multi-part messages: does the splitter find the parts, and does each part's answer come back?

    python bench/splitting.py [--data ../shared/data] [--per-set 300]
                              [--similarity 0.2:0.76,0.3:0.8]

Material, real questions from four FAQ sets (``ragsvc/evaluation/faq_sets.py``: StackFAQ,
Banking77, CLINC150 in English, JSQuAD in Japanese), each question with its gold FAQ entry:
- singles: ``--per-set`` asked questions per set, as written (many contain "and", a comma or two
  sentences: "My card expires next week. How do I get a new one?");
- joined: ``--per-set`` messages per set, each two (70%) or three (30%) asked questions with
  different gold entries, joined in a style of ``ragsvc/evaluation/joins.py``, the styles taken
  in turn. Dev styles are the ones the splitter was written from; held-out styles no rule was
  written from, reported apart.

Arms, all in this run: no splitting (the whole message retrieved, the baseline), the rules alone,
and the rules with the embedding test at each ``--similarity`` pair EN:JA
(``analysis.split_max_similarity`` : ``multilingual.split_max_similarity``).

Figures per language and style group: single vs multi-part macro-F1 (singles and joined of that
group), joined split into two or more parts, into exactly as many parts as were joined, every
part's gold entry among the top ``--top-k`` entries of some part's FAQ retrieval, singles split
(wrongly), and the splitter's p50/p95 latency (its embedding batch included).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import DEFAULT_DATA
from bench.analysis import f1_macro
from bench.faq import index_set
from bench.harness import pct
from ragsvc.analysis.split import QuestionSplitter, split_thresholds
from ragsvc.embedding.spaces import EmbeddingSpaces
from ragsvc.evaluation.faq_sets import SET_NAMES, Asked, FaqSet, load_sets
from ragsvc.evaluation.joins import is_held_out, join_parts, style_names
from ragsvc.index import build_spaces
from ragsvc.retrieval.faq import FaqMatcher
from ragsvc.retrieval.hybrid import HybridRetriever
from ragsvc.settings import Settings, load_settings


@dataclass(frozen=True, slots=True)
class Message:
    text: str
    language: str
    gold: tuple[str, ...]
    """Each part's gold entry (one for a single)."""
    style: str = ""
    """The join style ("" for a single)."""

    @property
    def joined(self) -> bool:
        return len(self.gold) >= 2


@dataclass(slots=True)
class Outcome:
    message: Message
    parts: int
    found_all: bool
    latency_ms: float


def build_messages(faq_set: FaqSet, count: int, rng: random.Random) -> list[Message]:
    singles = [Message(a.question, faq_set.language, (a.faq_id,)) for a in faq_set.asked]
    messages = rng.sample(singles, min(count, len(singles)))
    styles = style_names(faq_set.language, "dev") + style_names(faq_set.language, "held_out")
    for n in range(count):
        size = 3 if rng.random() < 0.3 else 2
        asked: list[Asked] = []
        while len(asked) < size:
            candidate = rng.choice(faq_set.asked)
            if all(candidate.faq_id != a.faq_id for a in asked):
                asked.append(candidate)
        style = styles[n % len(styles)]
        text = join_parts([a.question for a in asked], faq_set.language, style)
        gold = tuple(a.faq_id for a in asked)
        messages.append(Message(text, faq_set.language, gold, style))
    return messages


def run_arm(
    splitter: QuestionSplitter | None,
    matcher: FaqMatcher,
    spaces: EmbeddingSpaces,
    messages: Sequence[Message],
    top_k: int,
) -> list[Outcome]:
    outcomes = []
    for message in messages:
        started = time.perf_counter()
        parts = splitter.split(message.text, message.language).parts if splitter else []
        latency = 1000 * (time.perf_counter() - started)
        parts = parts or [message.text]
        vectors = spaces.embed_queries(parts, [message.language] * len(parts))
        found: set[str] = set()
        for part, vector in zip(parts, vectors, strict=True):
            found |= {m.faq_id for m in matcher.match(part, query_vector=vector)[:top_k]}
        outcomes.append(Outcome(message, len(parts), set(message.gold) <= found, latency))
    return outcomes


def group_rows(arm: str, outcomes: Sequence[Outcome]) -> list[str]:
    rows = []
    for language in sorted({o.message.language for o in outcomes}):
        singles = [o for o in outcomes if o.message.language == language and not o.message.joined]
        for group in ("dev", "held_out"):
            joined = [
                o
                for o in outcomes
                if o.message.language == language
                and o.message.joined
                and is_held_out(language, o.message.style) == (group == "held_out")
            ]
            if not joined:
                continue
            both = [*singles, *joined]
            gold = ["complex" if o.message.joined else "simple" for o in both]
            guess = ["complex" if o.parts >= 2 else "simple" for o in both]
            rows.append(
                f"| {arm} | {language} | {group} | {len(joined)} | "
                f"{f1_macro(gold, guess):.3f} | {np.mean([o.parts >= 2 for o in joined]):.3f} | "
                f"{np.mean([o.parts == len(o.message.gold) for o in joined]):.3f} | "
                f"{np.mean([o.found_all for o in joined]):.3f} | "
                f"{np.mean([o.parts >= 2 for o in singles]):.3f} | "
                f"{np.mean([o.found_all for o in singles]):.3f} | "
                f"{pct([o.latency_ms for o in both], 50):.2f} / "
                f"{pct([o.latency_ms for o in both], 95):.2f} |"
            )
    return rows


def style_rows(outcomes: Sequence[Outcome]) -> list[str]:
    rows = []
    keys = sorted({(o.message.language, o.message.style) for o in outcomes if o.message.joined})
    for language, style in keys:
        these = [o for o in outcomes if (o.message.language, o.message.style) == (language, style)]
        group = "held out" if is_held_out(language, style) else "dev"
        rows.append(
            f"| {language} | {style} | {group} | {len(these)} | "
            f"{np.mean([o.parts >= 2 for o in these]):.3f} | "
            f"{np.mean([o.found_all for o in these]):.3f} |"
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--per-set", type=int, default=300)
    parser.add_argument("--similarity", default="0.2:0.76,0.3:0.8,0.4:0.84")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--sets", default=",".join(SET_NAMES))
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    if not (args.data / "README.md").is_file():
        parser.error(f"no evaluation data at {args.data}; pass --data ../shared/data")
    settings: Settings = load_settings()
    spaces = build_spaces(settings)
    spaces.warm_up()
    pairs = [tuple(float(x) for x in pair.split(":")) for pair in args.similarity.split(",")]
    shipped = (settings.analysis.split_max_similarity, settings.multilingual.split_max_similarity)
    arms: dict[str, QuestionSplitter | None] = {"no splitting": None, "rules": QuestionSplitter()}
    for en, ja in pairs:
        marker = " (shipped)" if (en, ja) == shipped else ""
        arms[f"rules + embedder {en}:{ja}{marker}"] = QuestionSplitter(
            spaces.unit_vectors, split_thresholds(en, ja, ["ja"])
        )
    rng = random.Random(args.seed)
    results: dict[str, list[Outcome]] = {arm: [] for arm in arms}
    for faq_set in load_sets(args.data, args.sets.split(","), cap=2000, seed=args.seed):
        messages = build_messages(faq_set, args.per_set, rng)
        store = index_set(spaces, faq_set, settings)
        matcher = FaqMatcher(HybridRetriever(store, settings.retrieval))
        for arm, splitter in arms.items():
            results[arm] += run_arm(splitter, matcher, spaces, messages, args.top_k)
        store.close()
    print(f"sets: {args.sets}; {args.per_set} singles and {args.per_set} joined per set; ")
    print(f"top-k {args.top_k}; seed {args.seed}; embedder {spaces.name}\n")
    print(
        "| arm | lang | styles | joined | macro-F1 | joined split >= 2 | exact part count | "
        "all parts' gold retrieved | singles split | singles' gold retrieved | "
        "split p50 / p95 ms |"
    )
    print("|---" * 11 + "|")
    for arm, outcomes in results.items():
        print("\n".join(group_rows(arm, outcomes)))
    best = next((a for a in arms if "(shipped)" in a), "rules")
    print(f"\nper join style ({best}):\n")
    print("| lang | style | group | joined | split >= 2 | all parts' gold retrieved |")
    print("|---" * 6 + "|")
    print("\n".join(style_rows(results[best])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
