"""The shadow judge put to the test: ``ragsvc routing check-judge`` on the help-desk mix's FAQ.

    python bench/judge.py [--data ../shared/data] [--workdir var/bench-judge] [--pairs 30]
                          [--methods judge,citations]

The mix's corpus (StackFAQ as one FAQ file, the PolicyQA policies, the JSQuAD articles; see
``ragsvc/evaluation/mix.py``) is ingested into an embedded store under ``--workdir`` (a second run
re-ingests nothing), the default local LLM is started behind ``llama_cpp.server``, and the judge
is asked about ``--pairs`` StackFAQ entries twice each: with the entry's own answer and with the
answer of the entry nearest to it, through the prompt the live shadow sampler uses
(``ragsvc/control/judge_check.py``), once per ``shadow.method`` in ``--methods`` (``judge``: asked
YES or NO; ``citations``: the LLM answers the question and the answer is right when it cites the
entry). Printed: its sensitivity and specificity with 95% intervals, Youden's J, and whether the
service would trust it, one row per method.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data_parser, parse_with_data
from ingest.job import IngestJob
from ragsvc.control.judge_cli import describe, judge_check
from ragsvc.evaluation.mix import write_corpus
from ragsvc.evaluation.runner import eval_settings
from ragsvc.llm.local_server import serving_local_llm
from ragsvc.runtime import open_runtime
from ragsvc.settings import ShadowSettings, load_settings


def main() -> int:
    parser = data_parser(__doc__)
    parser.add_argument("--workdir", type=Path, default=Path("var/bench-judge"))
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--methods", default="judge,citations", help="shadow.method values")
    args = parse_with_data(parser)
    settings = eval_settings(load_settings(), args.workdir)
    corpus = args.workdir / "corpus"
    if not corpus.is_dir():
        write_corpus(args.data, corpus)
    methods = [m.strip() for m in args.methods.split(",")]
    with serving_local_llm(settings, args.workdir / "llm-server.log") as served:
        for method in methods:
            shadow = ShadowSettings.model_validate({**served.shadow.model_dump(), "method": method})
            runtime = open_runtime(served.model_copy(update={"shadow": shadow}))
            try:
                report = IngestJob(runtime.index.store, served).run([corpus])
                print(f"corpus: {runtime.index.store.count()} chunks ({report.seconds:.1f} s)")
                started = time.perf_counter()
                check = judge_check(runtime, args.pairs, args.seed)
                print(f"{method}: {time.perf_counter() - started:.0f} s\n", flush=True)
                print(f"{describe(check, runtime.settings)}\n", flush=True)  # each as it ends
            finally:
                runtime.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
