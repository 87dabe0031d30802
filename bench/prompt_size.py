"""How much prompt does LLM synthesis need? Answer quality against the synthesis prompt's size.

    python bench/prompt_size.py [--data ../shared/data] [--per-category 6]
                                [--configs 4x600,4x900,4x450,2x600] [--workdir var/eval]

The questions that reach the LLM on the routed path (the help-desk mix's ``multi_part``,
``policy`` and ``passage_ja`` categories, ``--per-category`` each) are answered by LLM synthesis
(the ``all_llm`` policy: so every question makes a call) under each prompt bound ``PxC``: ``P``
passages (``routing.passages``), each cut to ``C`` characters (``llm.passage_chars``). All
configurations run in this process against one LLM server (``llama_cpp.server`` on loopback, as
``ragsvc eval --with-llm-server``) and one index, one after another, so their latencies compare.

Per configuration: quality (the eval's rule: a gold source cited; per category and all), the
prompt's tokens (as the server counted them), and the LLM call's time to first token and total
(p50 / p95). The shipped bound is marked; the first configuration is the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import DEFAULT_DATA
from bench.harness import pct
from ragsvc.evaluation.mix import LabelledQuestion, build_mix, write_corpus
from ragsvc.evaluation.policies import answerer
from ragsvc.evaluation.records import Outcome
from ragsvc.evaluation.runner import eval_settings
from ragsvc.evaluation.scoring import outcome_of
from ragsvc.pipeline.answering import AskInput
from ragsvc.runtime import open_runtime
from ragsvc.settings import Settings, load_settings

CATEGORIES = ("multi_part", "policy", "passage_ja")


@dataclass(frozen=True, slots=True)
class Bound:
    passages: int
    chars: int

    @classmethod
    def parse(cls, text: str) -> Bound:
        passages, chars = text.lower().split("x")
        return cls(int(passages), int(chars))

    def apply(self, settings: Settings) -> Settings:
        return settings.model_copy(
            update={
                "routing": settings.routing.model_copy(update={"passages": self.passages}),
                "llm": settings.llm.model_copy(update={"passage_chars": self.chars}),
            }
        )

    def __str__(self) -> str:
        return f"{self.passages} x {self.chars} chars"


def answer_all(
    settings: Settings, bound: Bound, questions: Sequence[LabelledQuestion], corpus: Path
) -> list[tuple[LabelledQuestion, Outcome, int]]:
    """Each question through LLM synthesis under ``bound``: (question, outcome, prompt tokens)."""
    from ingest.job import IngestJob

    runtime = open_runtime(bound.apply(settings))
    try:
        IngestJob(runtime.index.store, runtime.settings).run([corpus])
        results = []
        for n, question in enumerate(questions, start=1):
            ask = runtime.ask
            trace = ask.ask(AskInput(question.question), answer=answerer(ask, "all_llm"))
            cited = runtime.index.store.texts({s.id for s in trace.sources})
            outcome = outcome_of(question, trace, cited)
            calls = trace.all_model_calls()
            prompt = sum(c.prompt_tokens for c in calls if c.role.startswith("llm"))
            results.append((question, outcome, prompt))
            print(
                f"[{bound}] {n}/{len(questions)} {question.id} {outcome.route} "
                f"{outcome.quality:.2f} {prompt} tokens",
                file=sys.stderr,
                flush=True,
            )
        return results
    finally:
        runtime.close()


def row(bound: Bound, marker: str, results: Sequence[tuple[LabelledQuestion, Outcome, int]]) -> str:
    def quality(category: str | None) -> str:
        scores = [o.quality for q, o, _ in results if category in (None, q.category)]
        return f"{statistics.fmean(scores):.3f}" if scores else "-"

    calls = [call for _, o, _ in results for call in o.llm_calls]
    first = [f for f, _ in calls if f is not None]
    total = [t for _, t in calls]
    degraded = sum(o.degraded for _, o, _ in results)
    return (
        f"| {bound}{marker} | {quality(None)} | "
        + " | ".join(quality(c) for c in CATEGORIES)
        + f" | {statistics.fmean(p for *_, p in results):.0f} | {len(calls)} | {degraded} | "
        f"{pct(first, 50) / 1000:.1f} / {pct(first, 95) / 1000:.1f} s | "
        f"{pct(total, 50) / 1000:.1f} / {pct(total, 95) / 1000:.1f} s |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--per-category", type=int, default=6)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--configs", default="4x600,4x900,4x450,2x600")
    parser.add_argument("--workdir", type=Path, default=Path("var/eval"))
    args = parser.parse_args(argv)
    if not (args.data / "README.md").is_file():
        parser.error(f"no evaluation data at {args.data}; pass --data ../shared/data")
    from ragsvc.llm.local_server import serving_local_llm

    bounds = [Bound.parse(c) for c in args.configs.split(",")]
    questions = [
        q for q in build_mix(args.data, args.per_category, args.seed) if q.category in CATEGORIES
    ]
    corpus = args.workdir / "mix" / "corpus"  # where `ragsvc eval` writes it: its index serves
    if not corpus.is_dir():
        write_corpus(args.data, corpus)
    settings = eval_settings(load_settings(), args.workdir)
    shipped = Bound(settings.routing.passages, settings.llm.passage_chars)
    with ExitStack() as stack:
        settings = stack.enter_context(serving_local_llm(settings, args.workdir / "llm.log"))
        runs = {bound: answer_all(settings, bound, questions, corpus) for bound in bounds}
    print(
        f"{len(questions)} questions ({', '.join(CATEGORIES)}; {args.per_category} each, "
        f"seed {args.seed}), all through LLM synthesis; model {settings.llm.model}\n"
    )
    print(
        "| prompt bound | quality | "
        + " | ".join(CATEGORIES)
        + " | prompt tokens (mean) | LLM calls | degraded | first token p50 / p95 "
        "| call p50 / p95 |"
    )
    print("|---" * (7 + len(CATEGORIES)) + "|")
    for bound, results in runs.items():
        print(row(bound, " (shipped)" if bound == shipped else "", results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
