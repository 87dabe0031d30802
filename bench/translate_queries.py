"""Cross-lingual evaluation sets: real user queries machine-translated between English and Japanese.

Takes real queries from public sets (``../shared/data``, see its README) and translates them with
the local Qwen2.5-Coder-1.5B-Instruct GGUF (llama.cpp, temperature 0), so a benchmark can ask
Japanese questions of English FAQ entries and English policy passages, and English questions of
Japanese passages:

- ``banking77``, ``clinc150``: the first ``--per-set`` asked queries of
  ``ragsvc.evaluation.faq_sets.load_sets(data, [name], cap=800, seed=13)``; ``gold`` is the
  intent (the FAQ entry id).
- ``policyqa``: ``--per-set`` PolicyQA dev questions, picked the way ``bench/retrieval.py`` picks
  them (``sample(gold_questions(...), n, seed=13)``); ``gold`` is the sorted list of passage ids
  that answer the question (PolicyQA asks one question of several paragraphs) and ``title`` the
  policy asked (retrieval scopes by it).
- ``jsquad`` (the other direction): ``--per-set`` JSQuAD questions (``sample(..., seed=21)``)
  translated to English; ``gold`` is the paragraph id.

Output: ``var/xling/<set>.ja.jsonl`` (``<set>.en.jsonl`` for ``jsquad``), one row ``{"en", "ja",
"gold"}`` per query. Resume-safe:
rows already in the file are kept and their queries skipped; new rows are appended.

Limitation: the translated side is a machine translation by a small (1.5B, 4-bit) model, not
queries written by Japanese (or English) users. Expect translationese, occasional
wrong meaning and English left in; results on it measure cross-lingual retrieval of translated
queries, not of native Japanese ones.

Run (from the checkout root; about 1-3 s per query on 2 cores)::

    .venv/bin/python bench/translate_queries.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import DEFAULT_DATA
from ragsvc.evaluation.datasets import (
    JSQUAD,
    POLICYQA,
    gold_questions,
    sample,
    squad_passages,
)
from ragsvc.evaluation.faq_sets import load_sets
from ragsvc.models.catalog import QWEN_CODER_15B
from ragsvc.models.llama import LocalLlm
from ragsvc.models.resolve import resolve_model
from ragsvc.text.language import detect_language

SETS = ("banking77", "clinc150", "policyqa", "jsquad")
INTO_ENGLISH = frozenset({"jsquad"})
SEED = 13
FAQ_CAP = 800
PROGRESS_EVERY = 25

SYSTEM = (
    "Translate the user's message into natural Japanese, the way a Japanese employee or "
    "customer would write it. Keep product names, brand names and URLs as they are. "
    "Reply with the Japanese translation only."
)
STRICT_SYSTEM = (
    "You are an English-to-Japanese translator. Output the Japanese translation of the user's "
    "message, written in Japanese characters (hiragana, katakana, kanji). Do not answer the "
    "message, do not explain, do not repeat the English. Output one line of Japanese only."
)
INTO_ENGLISH_SYSTEM = (
    "Translate the user's question into natural English. Keep names as they are. Reply with the "
    "English translation only."
)
QUOTES = "\"'`「」『』“”‘’"


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    """The original, in the set's language (English, or Japanese for ``INTO_ENGLISH`` sets)."""
    gold: str | list[str]
    title: str = ""

    def key(self) -> str:
        return json.dumps([self.text, self.gold], ensure_ascii=False)


def queries(data: Path, name: str, per_set: int) -> list[Query]:
    """The first ``per_set`` queries of one set, in a fixed (seeded) order."""
    if name == "policyqa":
        _, questions = squad_passages(data / POLICYQA)
        picked = sample(gold_questions(questions), per_set, seed=SEED)
        return [Query(q.question, sorted(q.passage_ids), q.title) for q in picked]
    if name == "jsquad":
        _, questions = squad_passages(data / JSQUAD)
        return [Query(q.question, q.passage_id) for q in sample(questions, per_set, seed=21)]
    (faq_set,) = load_sets(data, [name], cap=FAQ_CAP, seed=SEED)
    return [Query(a.question, a.faq_id) for a in faq_set.asked[:per_set]]


def clean(text: str) -> str:
    """Strip, keep the first non-empty line, drop surrounding quotes."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    while len(first) >= 2 and first[0] in QUOTES and first[-1] in QUOTES:
        first = first[1:-1].strip()
    return first


class Translator:
    """Qwen2.5-Coder-1.5B (the project's local LLM: ``make models-llm``), sha256-verified."""

    def __init__(self, cache_dir: Path) -> None:
        self._llm = LocalLlm(resolve_model(QWEN_CODER_15B, cache_dir), n_ctx=1024, n_threads=2)
        self._cache: dict[str, str | None] = {}

    def _complete(self, system: str, text: str) -> str:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": text}]
        return clean(self._llm.chat(messages, max_tokens=80).text)

    def translate(self, text: str, into: str) -> str | None:
        """The translation into ``into`` ("ja" or "en"), or ``None`` when the tries gave none."""
        if text not in self._cache:
            result: str | None = None
            prompts = (SYSTEM, STRICT_SYSTEM) if into == "ja" else (INTO_ENGLISH_SYSTEM,)
            for system in prompts:
                out = self._complete(system, text)
                if out and detect_language(out) == into:
                    result = out
                    break
            self._cache[text] = result
        return self._cache[text]


def done_keys(path: Path, source: str) -> set[str]:
    """The queries already in ``path``, by their original (in the field ``source``)."""
    if not path.exists():
        return set()
    keys: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            keys.add(json.dumps([row[source], row["gold"]], ensure_ascii=False))
    return keys


def pending(items: list[Query], done: set[str]) -> Iterator[Query]:
    return (q for q in items if q.key() not in done)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="../shared/data")
    parser.add_argument("--out", type=Path, default=Path("var/xling"))
    parser.add_argument("--per-set", type=int, default=150)
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + "/".join(SETS))
    parser.add_argument("--model-cache", type=Path, default=Path("var/models"))
    args = parser.parse_args(argv)

    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = sorted(set(names) - set(SETS))
    if unknown:
        parser.error(f"unknown sets {unknown}; valid: {', '.join(SETS)}")

    started = time.monotonic()
    translator = Translator(args.model_cache)
    args.out.mkdir(parents=True, exist_ok=True)

    summary: dict[str, tuple[int, int, int]] = {}
    for name in names:
        into, source = ("en", "ja") if name in INTO_ENGLISH else ("ja", "en")
        path = args.out / f"{name}.{into}.jsonl"
        items = queries(args.data, name, args.per_set)
        done = done_keys(path, source)
        todo = list(pending(items, done))
        print(f"{name}: {len(items)} queries, {len(items) - len(todo)} already done", flush=True)
        written = skipped = 0
        with path.open("a", encoding="utf-8") as fh:
            for n, query in enumerate(todo, 1):
                translated = translator.translate(query.text, into)
                if translated is None:
                    skipped += 1
                    print(f"  skipped (no translation): {query.text!r}", flush=True)
                else:
                    row: dict[str, object] = {
                        source: query.text,
                        into: translated,
                        "gold": query.gold,
                    }
                    if query.title:
                        row["title"] = query.title
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                    fh.flush()
                    written += 1
                if n % PROGRESS_EVERY == 0:
                    elapsed = time.monotonic() - started
                    print(f"  {name} {n}/{len(todo)} ({elapsed:.0f} s)", flush=True)
        summary[name] = (len(done_keys(path, source)), written, skipped)

    print(f"\ndone in {time.monotonic() - started:.0f} s -> {args.out}")
    for name, (rows, written, skipped) in summary.items():
        print(f"  {name}: {rows} rows in file ({written} new), {skipped} skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
