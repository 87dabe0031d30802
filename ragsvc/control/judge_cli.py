"""``ragsvc routing check-judge``: put the shadow judge to the test on the FAQ the index holds
(``ragsvc/control/judge_check.py``) and store the result in the routing state, where the fail-safe
and ``GET /v1/routing`` read it. It opens the index itself: with the embedded store, run it while
the service is stopped, or run the same check in the service (``POST /v1/routing/judge-check``,
``ragsvc/control/judge_job.py``)."""

from __future__ import annotations

import argparse
import logging
import threading
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

from ragsvc.control.judge_check import (
    FaqEntry,
    KnownAnswer,
    check_judge,
    distrust,
    known_answers,
    readable,
    sensitivity,
    specificity,
    youden,
)
from ragsvc.control.shadow import citation_verdict, source_key
from ragsvc.control.state import JudgeCheck
from ragsvc.embedding.spaces import PRIMARY
from ragsvc.errors import ConfigError, ServiceUnavailableError
from ragsvc.llm.client import LlmError
from ragsvc.settings import Settings, load_settings
from ragsvc.store.schema import SearchFilters
from ragsvc.text.language import detect_language

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from ragsvc.index import Index
    from ragsvc.runtime import Runtime


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> list[argparse.ArgumentParser]:
    """``routing`` and its subcommands; returns the leaf parsers (the main CLI adds
    ``--config``)."""
    routing = commands.add_parser("routing", help="the routing control's own maintenance")
    subcommands = routing.add_subparsers(dest="routing_command", required=True)
    check = subcommands.add_parser(
        "check-judge",
        help="test the shadow judge (the configured LLM) on FAQ answers whose truth is known; "
        "the fail-safe counts its verdicts only when it passes",
    )
    check.add_argument(
        "--pairs", type=int, default=30, help="FAQ entries asked (each twice: right, wrong)"
    )
    check.add_argument("--seed", type=int, default=13)
    check.set_defaults(handler=run_check_judge)
    return [check]


def run_check_judge(args: argparse.Namespace) -> int:
    """0: the check was made and stored (trusted or not, as printed); 1: it could not be made."""
    from ragsvc.runtime import open_runtime

    settings = load_settings(args.config)
    if args.pairs < 1:
        raise ConfigError("--pairs must be at least 1")
    runtime = open_runtime(settings)
    try:
        print(f"asking {settings.llm.model} about {args.pairs} FAQ entries ...", flush=True)
        check = judge_check(runtime, args.pairs, args.seed)
        if not readable(check):
            print("no readable verdict came back: the check is not stored")
            return 1
        runtime.ask.control.record_judge_check(check)
    finally:
        runtime.close()
    print(describe(check, settings))
    return 0


def judge_check(
    runtime: Runtime, pairs: int, seed: int = 13, stop: threading.Event | None = None
) -> JudgeCheck:
    """The configured LLM, as the shadow judge, on ``pairs`` FAQ entries of the index (each
    twice); a failed call counts as unclear. ``stop`` set: the check ends at its next call."""
    settings, shadow, index = runtime.settings, runtime.ask.shadow, runtime.index
    known = known_answers(faq_entries(index), pairs, seed)
    if not known:
        raise ConfigError("the index holds fewer than two FAQ entries: ingest the FAQ first")

    by_citations = settings.shadow.method == "citations"
    cited: dict[str, tuple[str, ...]] = {}  # by citations, one call per question, not per answer

    def judge(known: KnownAnswer) -> bool | None:
        if by_citations and known.question in cited:
            return citation_verdict(cited[known.question], {known.source})
        if stop is not None and stop.is_set():
            raise ServiceUnavailableError("the service is stopping: the check is abandoned")
        question = known.question
        hits = index.retriever.search(question, SearchFilters(), settings.routing.passages)
        try:
            reply = shadow.ask(
                question,
                known.answer,
                hits,
                language=detect_language(question),
                sources={known.source},
            )
        except LlmError as exc:
            log.warning("a judge call failed (counted as unclear): %s", exc)
            return None
        if reply is None:
            raise ServiceUnavailableError("the month's LLM budget is spent")
        if by_citations:
            cited[question] = reply.cited
        return reply.answers

    log.info(
        "asking %s about %d known answers (shadow.method %s)",
        settings.llm.model,
        len(known),
        settings.shadow.method,
    )
    return check_judge(judge, known, settings.llm.model, settings.shadow.method)


def faq_entries(index: Index) -> list[FaqEntry]:
    """The published FAQ entries with their phrasings and the vector of their question."""
    phrasings: dict[str, list[str]] = defaultdict(list)
    answers: dict[str, str] = {}
    sources: dict[str, str] = {}
    vectors: dict[str, np.ndarray] = {}
    for point in index.store.faq_phrasing_points(PRIMARY):
        faq = point.payload["faq"]
        key = f"{point.payload['doc_id']}#{faq['faq_id']}"
        phrasings[key].append(str(faq["phrasing"]))
        answers[key] = str(faq["answer"])
        sources[key] = source_key(str(faq["faq_id"]), point.id)
        if faq.get("field", "question") == "question" and point.dense is not None:
            vector = np.asarray(point.dense, dtype=np.float32)
            vectors[key] = vector / (np.linalg.norm(vector) or 1.0)
    return [
        FaqEntry(key, tuple(phrasings[key]), answers[key], sources[key], vectors[key])
        for key in sorted(vectors)
    ]


def describe(check: JudgeCheck, settings: Settings) -> str:
    sens, spec = sensitivity(check), specificity(check)
    doubt = distrust(check, settings.llm.model, settings.shadow)
    return "\n".join(
        [
            "| judge | right answers judged right | wrong answers judged wrong | J | unclear |",
            "|---|---|---|---|---|",
            f"| {check.model} ({check.method}) "
            f"| {sens.value:.2f} [{sens.low:.2f}, {sens.high:.2f}] of {sens.n} "
            f"| {spec.value:.2f} [{spec.low:.2f}, {spec.high:.2f}] of {spec.n} "
            f"| {youden(check):.2f} | {check.unclear} |",
            "",
            "trusted: its verdicts count as the fail-safe's evidence, corrected for its errors"
            if doubt is None
            else f"not trusted: {doubt}; the fail-safe ignores its verdicts",
        ]
    )
