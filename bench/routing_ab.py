"""Routing A/B replayed: the help-desk mix as traffic through the shipped thresholds and a
deliberately worse variant, compared live (with the shadow misrouting estimate and the fail-safe)
and offline (``ragsvc eval``'s engine) on the same questions.

    python bench/routing_ab.py [--data ../shared/data] [--per-category 10] [--seed 13]
                               [--shadow 0.2] [--rounds 1]

One process, the default SLM, the default local LLM behind llama_cpp.server, the mix's corpus in an
embedded store under ``--workdir`` (a second run re-ingests nothing). Three passes over the same
questions, one at a time:

1. offline, shipped: ``ragsvc eval``'s engine (``ragsvc/evaluation/runner.py``, policy ``routed``)
   with the configured thresholds: every answer scored against the gold;
2. offline, worse: the same with the worse variant's thresholds (``WORSE``);
3. live: one service with the worse variant given half the conversations (sticky, one conversation
   per question), shadow sampling at ``--shadow``, and a rating on ``--rated`` of the answers from
   the gold score (5 when the gold says it answers, 1 when not: a user who can tell); then the
   variants compared as ``GET /v1/routing/compare`` does, and one fail-safe check with
   ``--min-evidence`` as its ``min_judged`` and ``min_rated`` (the fail-safe is off during the
   replay, so that both variants answer with their own thresholds throughout). ``--rounds``
   replays the mix that many times, from new conversations each time (help-desk traffic repeats
   its questions; the repeats are not independent evidence, which the intervals do not know).

Misrouting offline: a one-question message answered by a cheap route (FAQ, passage, SLM) whose gold
score is under 0.5. The shadow estimate: the share of sampled cheap answers the LLM judged not to
answer the question. Both with 95% Wilson intervals; quality and latency with normal intervals.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data_parser, parse_with_data
from ragsvc.control.compare import (
    Estimate,
    VariantComparison,
    compare_live,
    lead,
    mean_interval,
    misrouting,
    negative_share,
    wilson,
)
from ragsvc.control.failsafe import Failsafe, Trip
from ragsvc.control.state import RAISED, bucket
from ragsvc.control.store import ControlStore, ShadowVerdict
from ragsvc.evaluation.mix import LabelledQuestion, build_mix, write_corpus
from ragsvc.evaluation.records import Outcome
from ragsvc.evaluation.runner import eval_settings, run_eval
from ragsvc.evaluation.scoring import outcome_of
from ragsvc.llm.local_server import serving_local_llm
from ragsvc.pipeline.answering import AskInput
from ragsvc.routes import CHEAP_ROUTES
from ragsvc.runtime import open_runtime
from ragsvc.settings import CONTROL, Settings, VariantSettings, load_settings
from ragsvc.traces.store import TraceStore

WORSE_NAME = "worse"
WORSE = {
    "faq_threshold": 0.0,
    "faq_min_similarity": 0.0,
    "relevance_threshold": 0.0,
    "direct_threshold": 0.0,
    "escalate_confidence": 0.0,
    "escalate_completeness": 0.0,
}
"""Every varied threshold at its most permissive: a cheap route takes whatever reaches it (the top
FAQ entry of any question, any passage, any SLM answer unescalated). The round-one values (FAQ
0.3, relevance 0.2, direct 0.3) were no longer worse than the shipped ones once the FAQ confidence
was calibrated and floored: 0.01 [-0.02, 0.04] offline, no trip (README); all of them at 0 but
the floor kept, 0.02 worse (0.73 against 0.71, 70 questions)."""


def gold_right(outcome: Outcome) -> bool:
    """Whether the gold calls the answer right: a score of 0.5 or more (a two-part message
    answered for one part counts as right)."""
    return outcome.quality >= 0.5


def misrouted(outcomes: Sequence[Outcome]) -> Estimate:
    cheap = [o for o in outcomes if not o.part_routes and o.route in CHEAP_ROUTES]
    return wilson(sum(not gold_right(o) for o in cheap), len(cheap))


def gold_quality(outcomes: Sequence[Outcome]) -> Estimate:
    return mean_interval([o.quality for o in outcomes])


def shown(e: Estimate, digits: int = 2) -> str:
    if not e.n:
        return "none"
    return f"{e.value:.{digits}f} [{e.low:.{digits}f}, {e.high:.{digits}f}] n={e.n}"


def routes_of(outcomes: Sequence[Outcome]) -> str:
    counts = Counter(o.route for o in outcomes)
    return ", ".join(f"{route} {n}" for route, n in counts.most_common())


def offline(
    settings: Settings,
    questions: list[LabelledQuestion],
    corpus: Path,
    thresholds: dict[str, float],
    cache: Path,
) -> list[Outcome]:
    """The questions' gold-scored answers under ``thresholds``; kept in ``cache`` (by question ids
    and thresholds) so that a second run with other live settings does not answer them again."""
    key = hashlib.sha256(
        json.dumps([[q.id for q in questions], thresholds], sort_keys=True).encode()
    ).hexdigest()[:16]
    cached = cache / f"offline-{key}.json"
    if cached.is_file():
        return [Outcome.model_validate(o) for o in json.loads(cached.read_text())]
    routing = settings.routing.model_copy(update=thresholds)
    variant = settings.model_copy(update={"routing": routing})
    run = run_eval(
        variant,
        questions,
        corpus,
        ["routed"],
        questions_file="help-desk mix",
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    outcomes = [result.outcomes["routed"] for result in run.results]
    cached.write_text(json.dumps([o.model_dump(mode="json") for o in outcomes]))
    return outcomes


def live_settings(settings: Settings, root: Path, args_shadow: float, evidence: int) -> Settings:
    """The service's settings for the replay: its own traces and ledger (a fresh database per
    run), the worse variant at half the conversations, shadow sampling on, the fail-safe off."""
    folder = root / f"live-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True)
    worse = VariantSettings(share=0.5, thresholds=WORSE, note="deliberately worse")
    return settings.model_copy(
        update={
            "traces": settings.traces.model_copy(update={"path": folder / "traces.sqlite"}),
            "cost": settings.cost.model_copy(update={"ledger_path": folder / "cost.sqlite"}),
            "routing": settings.routing.model_copy(update={"variants": {WORSE_NAME: worse}}),
            "shadow": settings.shadow.model_copy(update={"share": args_shadow}),
            "failsafe": settings.failsafe.model_copy(
                update={"enabled": False, "min_judged": evidence, "min_rated": evidence}
            ),
        }
    )


@dataclass
class Judged:
    """A shadow verdict, with the question and the gold outcome of the answer it judged."""

    verdict: ShadowVerdict
    question_id: str
    outcome: Outcome


@dataclass
class Replayed:
    by_variant: dict[str, list[Outcome]]
    """The gold-scored outcomes per variant."""
    comparison: list[VariantComparison]
    trips: list[Trip]
    evidence: list[str]
    """What the fail-safe read (a table)."""
    judged: list[Judged]


def replay(
    settings: Settings, questions: list[LabelledQuestion], rated: float, rounds: int
) -> Replayed:
    """The questions as traffic, ``rounds`` times (each time from new conversations, so each
    round splits them between the variants anew); the gold-scored outcomes per variant, the live
    comparison, the fail-safe's trips and the evidence it read, the shadow's verdicts."""
    runtime = open_runtime(settings)
    try:
        ask = runtime.ask
        by_variant: dict[str, list[Outcome]] = {CONTROL: [], WORSE_NAME: []}
        by_trace: dict[str, tuple[str, Outcome]] = {}
        traffic = [(r, q) for r in range(rounds) for q in questions]
        for n, (round_no, question) in enumerate(traffic, start=1):
            conversation = f"replay-{question.id}-{round_no}"
            trace = ask.ask(AskInput(question.question, conversation_id=conversation))
            cited = runtime.index.store.texts({s.id for s in trace.sources})
            outcome = outcome_of(question, trace, cited)
            by_variant[trace.variant or CONTROL].append(outcome)
            by_trace[trace.trace_id] = (question.id, outcome)
            if bucket(trace.trace_id, "rated") < rated:
                rating = 5 if gold_right(outcome) else 1
                runtime.traces.add_feedback(trace.trace_id, rating, "", max_per_trace=1)
            print(
                f"[{n}/{len(traffic)}] {question.id} {trace.variant} {trace.route} "
                f"{outcome.quality:.2f}",
                file=sys.stderr,
                flush=True,
            )
        while ask.shadow.pending():
            time.sleep(0.5)
        runtime.traces.flush()
        names = ask.control.state().names()
        comparison = compare_live(names, runtime.traces, ask.control_store)
        checking = settings.failsafe.model_copy(update={"enabled": True})
        evidence = failsafe_evidence(names, runtime.traces, ask.control_store)
        trips = Failsafe(
            checking,
            ask.control,
            ask.control_store,
            runtime.traces,
            settings.shadow,
            settings.llm.model,
        ).check()
        print(f"shadow: {ask.shadow.judged} judged, skipped {dict(ask.shadow.skipped)}")
        judged = [Judged(v, *by_trace[v.trace_id]) for v in ask.control_store.verdicts()]
        return Replayed(by_variant, comparison, trips, evidence, judged)
    finally:
        runtime.close()


def failsafe_evidence(names: list[str], traces: TraceStore, store: ControlStore) -> list[str]:
    """What the fail-safe reads per variant and route: misrouting and negative feedback, and for
    a variant their lead over control's on the same route."""
    verdicts, ratings = store.verdicts(), traces.ratings()
    lines = [
        "| variant | route | shadow misrouting | negative feedback | lead over control: "
        "misrouting; negative feedback |",
        "|---|---|---|---|---|",
    ]
    for route in RAISED:
        seen = {
            name: (
                misrouting([v for v in verdicts if (v.variant, v.route) == (name, route)]),
                negative_share([r for r in ratings if (r.variant, r.route) == (name, route)]),
            )
            for name in names
        }
        for name, (judged, rated) in seen.items():
            base_judged, base_rated = seen[CONTROL]
            leads = (
                f"{shown_lead(lead(judged, base_judged))}; {shown_lead(lead(rated, base_rated))}"
                if name != CONTROL
                else ""
            )
            lines.append(f"| {name} | {route} | {shown(judged)} | {shown(rated)} | {leads} |")
    return lines


def shown_lead(e: Estimate) -> str:
    return f"{e.value:+.2f} [{e.low:+.2f}, {e.high:+.2f}]" if e.n else "-"


def shadow_against_gold(judged: Sequence[Judged]) -> list[str]:
    """How the shadow's verdicts read the answers the gold scored: per variant, the verdicts
    (agree, disagree, unclear) on answers the gold calls right (:func:`gold_right`) and wrong."""
    lines = [
        "| variant | gold | agree | disagree | unclear |",
        "|---|---|---|---|---|",
    ]
    for name in sorted({j.verdict.variant for j in judged}):
        for gold, right in (("right", True), ("wrong", False)):
            counts = Counter(
                j.verdict.verdict
                for j in judged
                if j.verdict.variant == name and gold_right(j.outcome) == right
            )
            lines.append(
                f"| {name} | {gold} | {counts['agree']} | {counts['disagree']} | "
                f"{counts['unclear']} |"
            )
    return lines


def write_judged(judged: Sequence[Judged], path: Path) -> None:
    """Each verdict beside the gold score of the answer it judged, one JSON line each, for
    reading why the shadow and the gold differ."""
    with path.open("w") as out:
        for j in judged:
            v = j.verdict
            row = {
                "trace_id": v.trace_id,
                "question_id": j.question_id,
                "variant": v.variant,
                "route": v.route,
                "verdict": v.verdict,
                "gold_quality": j.outcome.quality,
                "reason": v.reason,
                "question": v.question,
                "answer": v.answer,
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def offline_table(rows: dict[str, list[Outcome]]) -> list[str]:
    lines = [
        "| variant | thresholds | quality | misrouting (cheap answers under 0.5) | routes |",
        "|---|---|---|---|---|",
    ]
    for name, outcomes in rows.items():
        thresholds = "as configured" if name == CONTROL else str(WORSE)
        quality = gold_quality(outcomes)
        lines.append(
            f"| {name} | {thresholds} | {shown(quality)} | {shown(misrouted(outcomes))} | "
            f"{routes_of(outcomes)} |"
        )
    return lines


def live_table(comparison: list[VariantComparison], gold: dict[str, list[Outcome]]) -> list[str]:
    lines = [
        "| variant | questions | gold quality | negative feedback | shadow misrouting | gold "
        "misrouting (same answers) | latency ms | escalation | route shares |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in comparison:
        outcomes = gold[c.variant]
        quality = gold_quality(outcomes)
        shares = ", ".join(f"{r} {s:.2f}" for r, s in sorted(c.route_shares.items()))
        lines.append(
            f"| {c.variant} | {c.questions} | {shown(quality)} | {shown(c.negative_feedback)} | "
            f"{shown(c.misrouting)} | {shown(misrouted(outcomes))} | "
            f"{shown(c.latency_ms, 0)} | {shown(c.escalation_rate)} | {shares} |"
        )
    return lines


def verdicts(
    comparison: list[VariantComparison], offline_rows: dict[str, list[Outcome]], trips: list[Trip]
) -> list[str]:
    live = {c.variant: c for c in comparison}
    better_live = min(live, key=lambda name: live[name].negative_feedback.value)
    quality = {name: gold_quality(rows) for name, rows in offline_rows.items()}
    better_offline = max(quality, key=lambda name: quality[name].value)
    separated = live[CONTROL].negative_feedback.high < live[WORSE_NAME].negative_feedback.low
    paired = mean_interval(
        [
            shipped.quality - worse.quality
            for shipped, worse in zip(offline_rows[CONTROL], offline_rows[WORSE_NAME], strict=True)
        ]
    )
    lines = [
        f"- better by live negative feedback: **{better_live}** (intervals "
        f"{'do not overlap' if separated else 'overlap'}); by offline gold quality: "
        f"**{better_offline}** (shipped - worse on the same questions: {shown(paired)})",
    ]
    for name in (CONTROL, WORSE_NAME):
        bad = 1 - quality[name].value
        inside = live[name].negative_feedback.low <= bad <= live[name].negative_feedback.high
        estimate, gold = live[name].misrouting, misrouted(offline_rows[name])
        within = gold.low <= estimate.value <= gold.high if estimate.n else None
        lines.append(
            f"- {name}: offline 1 - quality {bad:.2f} "
            f"{'inside' if inside else 'outside'} the live negative-feedback interval; shadow "
            f"misrouting {shown(estimate)} "
            + (
                "(no sample judged)"
                if within is None
                else f"{'within' if within else 'outside'} the offline interval "
                f"[{gold.low:.2f}, {gold.high:.2f}]"
            )
        )
    tripped = [f"{t.variant}/{t.route}: {t.reason}" for t in trips]
    lines.append("- fail-safe trips: " + ("; ".join(tripped) if tripped else "none"))
    return lines


def main() -> int:
    parser = data_parser(__doc__)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--per-category", type=int, default=10)
    parser.add_argument("--seed", type=int, default=13, help="which questions of the mix")
    parser.add_argument("--shadow", type=float, default=0.2, help="shadow.share in the replay")
    parser.add_argument("--rated", type=float, default=1.0, help="share of answers rated")
    parser.add_argument("--min-evidence", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1, help="times the mix is replayed live")
    parser.add_argument("--workdir", type=Path, default=Path("var/bench-routing-ab"))
    args = parse_with_data(parser)
    root = args.workdir.resolve()
    questions = build_mix(args.data, args.per_category, args.seed)
    write_corpus(args.data, root / "corpus")
    settings = eval_settings(load_settings(args.config), root)
    with ExitStack() as stack:
        settings = stack.enter_context(serving_local_llm(settings, root / "llm-server.log"))
        offline_rows = {
            CONTROL: offline(settings, questions, root / "corpus", {}, root),
            WORSE_NAME: offline(settings, questions, root / "corpus", WORSE, root),
        }
        live = live_settings(settings, root, args.shadow, args.min_evidence)
        replayed = replay(live, questions, args.rated, args.rounds)
    judged_file = live.traces.path.parent / "shadow-verdicts.jsonl"
    write_judged(replayed.judged, judged_file)
    lines = [
        f"### Offline: `ragsvc eval`'s engine, all {len(questions)} questions under each variant",
        "",
        *offline_table(offline_rows),
        "",
        f"### Live: the same questions as traffic ({args.rounds} x {len(questions)} asks), "
        f"{WORSE_NAME} at half the conversations, shadow {args.shadow:g} by "
        f"{live.shadow.method}, {args.rated:.0%} rated from the gold",
        "",
        *live_table(replayed.comparison, replayed.by_variant),
        "",
        f"### The fail-safe's evidence (min_judged = min_rated = {args.min_evidence}; limits: "
        f"misrouting {live.failsafe.max_misrouting:g}, negative feedback "
        f"{live.failsafe.max_negative_feedback:g}, on the Wilson lower bound; a variant's lead "
        f"over control {live.failsafe.max_lead_over_control:g}, on the lower bound of "
        "Newcombe's interval)",
        "",
        *replayed.evidence,
        "",
        f"### The shadow's verdicts against the gold (each with its reason: `{judged_file}`)",
        "",
        *shadow_against_gold(replayed.judged),
        "",
        "### Checks",
        "",
        *verdicts(replayed.comparison, offline_rows, replayed.trips),
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
