"""Scoring answers against labels, replaying the router, calibrating thresholds: hand-checkable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from ragsvc.errors import ConfigError
from ragsvc.evaluation.calibrate import calibrate, sweep, write_config
from ragsvc.evaluation.mix import LabelledQuestion, PartGold
from ragsvc.evaluation.plot import pareto_front, plot_quality_cost
from ragsvc.evaluation.records import EvalRun, Outcome, QuestionResult, Signals
from ragsvc.evaluation.replay import Thresholds, decide, replay
from ragsvc.evaluation.report import render_ratios, render_table, summarise, summarise_run
from ragsvc.evaluation.rescore import rescore
from ragsvc.evaluation.scoring import score
from ragsvc.settings import EvaluationSettings, Price, TraceSettings
from ragsvc.traces.schema import Source, Trace
from ragsvc.traces.store import TraceStore

FAQ = LabelledQuestion(
    id="faq-1",
    question="how do I reset my password",
    language="en",
    category="faq",
    expected_kind="simple_factual",
    parts=[PartGold(question="how do I reset my password", category="faq", faq_id="sf-1")],
)
POLICY = LabelledQuestion(
    id="policy-1",
    question="Do they share my location?",
    language="en",
    category="policy",
    expected_kind="simple_factual",
    parts=[
        PartGold(
            question="Do they share my location?",
            category="policy",
            document="Acme.txt",
            answers=["with advertising partners"],
        )
    ],
)
MULTI = LabelledQuestion(
    id="multi-1",
    question="how do I reset my password, and also do they share my location?",
    language="en",
    category="multi_part",
    expected_kind="multi_part",
    parts=[*FAQ.parts, *POLICY.parts],
)
OOS = LabelledQuestion(
    id="oos-1",
    question="what's the weather in Paris",
    language="en",
    category="out_of_scope",
    expected_kind="out_of_scope",
    parts=[],
)


def source(path: str, faq_id: str | None = None) -> Source:
    return Source(
        n=1, id="x", kind="faq" if faq_id else "doc", source=path, title="", faq_id=faq_id
    )


def test_faq_question_is_right_when_the_gold_entry_is_cited():
    assert score(FAQ, "faq_direct", "Open the portal.", [source("f.json", "sf-1")]).quality == 1
    assert score(FAQ, "faq_direct", "Open the portal.", [source("f.json", "sf-2")]).quality == 0


def test_span_question_is_right_when_a_gold_passage_is_cited():
    """A passage of the gold document holding a gold span: right whatever the answer's words;
    the earlier rule (span inside the answer) is kept beside it."""
    passage = {"x": "We share your location with advertising partners for ads."}
    own_words = "Yes, advertisers receive it [1]."
    cited = score(POLICY, "llm_synthesis", own_words, [source("policies/Acme.txt")], passage)
    assert cited.quality == 1 and cited.strict_quality == 0 and cited.contains == 0
    quoted = "We share it With advertising partners."
    good = score(POLICY, "retrieval_direct", quoted, [source("policies/Acme.txt")], passage)
    assert good.quality == 1 == good.strict_quality and good.contains == 1
    assert good.f1 is not None and 0 < good.f1 < 1
    other_passage = {"x": "We keep logs for 30 days."}
    off = score(POLICY, "retrieval_direct", quoted, [source("policies/Acme.txt")], other_passage)
    assert off.quality == 0 and off.sources_ok == 1
    wrong_doc = score(POLICY, "retrieval_direct", "with advertising partners", [source("B.txt")])
    assert wrong_doc.quality == 0 and wrong_doc.contains == 1 and wrong_doc.sources_ok == 0


def test_multi_part_quality_is_the_share_of_parts_answered():
    outcome = score(MULTI, "llm_synthesis", "Open the portal [1].", [source("f.json", "sf-1")])
    assert outcome.quality == 0.5


def test_declining_is_right_only_out_of_scope():
    assert score(OOS, "no_answer", "Please contact the help desk.", []).quality == 1
    assert score(OOS, "llm_synthesis", "It is sunny in Paris.", []).quality == 0
    declined = score(FAQ, "llm_synthesis", "I don't know [1].", [source("f.json", "sf-1")])
    assert declined.quality == 0 and declined.declined
    quoted = "I don't know of a built-in way, but a zip archive works."
    verbatim = score(FAQ, "faq_direct", quoted, [source("f.json", "sf-1")])
    assert verbatim.quality == 1 and not verbatim.declined  # the FAQ's own words, not a refusal


def outcome(route: str, quality: float, latency: float, tokens: tuple[int, int] = (0, 0)):
    return Outcome(route=route, answer="", quality=quality, latency_ms=latency, llm_tokens=tokens)


def result(
    question: LabelledQuestion,
    faq_conf: float,
    kind: str,
    relevance: float,
    slm: tuple[float, float] = (0.9, 0.9),
    faq_quality: float = 0.0,
) -> QuestionResult:
    return QuestionResult(
        question=question,
        signals=Signals(
            faq_confidence=faq_conf,
            analysis_kind=kind,
            analysis_complexity="complex" if kind == "multi_part" else "simple",
            analysis_latency_ms=5,
            relevance=relevance,
            slm_grounding=slm[0],
            slm_completeness=slm[1],
        ),
        faq_top=outcome("faq_direct", faq_quality, 10),
        outcomes={
            "routed": outcome("retrieval_direct", 1, 40),
            "all_llm": outcome("llm_synthesis", 1, 3000, (1000, 200)),
            "all_slm": outcome("slm_answer", 0.5, 800),
            "retrieval_only": outcome("retrieval_direct", 0.8, 30),
        },
    )


T = Thresholds(0.9, 0.3, 0.6, 0.7, 0.6)


def test_replay_keeps_the_decisions_on_thresholds_it_does_not_sweep():
    """A Japanese question judged in the multilingual space: its e5 cosine (0.86) means nothing
    against the swept MiniLM thresholds, so the router's recorded decisions stand."""
    japanese = result(POLICY, 0.5, "simple_factual", 0.86)
    kept = {"swept": False, "relevant": True, "direct": False}
    japanese.signals = japanese.signals.model_copy(update=kept)
    assert decide(japanese, T) == "all_slm"
    handed_off = {"swept": False, "relevant": False, "direct": False}
    japanese.signals = japanese.signals.model_copy(update=handed_off)
    assert decide(japanese, T) == "no_answer"


def test_replay_follows_the_router_rules():
    assert decide(result(FAQ, 0.95, "simple_factual", 0.8, faq_quality=1), T) == "faq_top"
    assert decide(result(OOS, 0.2, "out_of_scope", 0.8), T) == "no_answer"
    assert decide(result(POLICY, 0.5, "simple_factual", 0.1), T) == "no_answer"
    assert decide(result(POLICY, 0.5, "simple_factual", 0.7), T) == "retrieval_only"
    assert decide(result(MULTI, 0.5, "multi_part", 0.7), T) == "llm"
    medium = result(POLICY, 0.5, "simple_factual", 0.5)
    assert decide(medium, T) == "all_slm"
    unsure = result(POLICY, 0.5, "simple_factual", 0.5, slm=(0.9, 0.3))
    assert decide(unsure, T) == "escalated"
    escalated = replay(unsure, T)
    assert escalated.route == "llm_synthesis"
    assert escalated.latency_ms == 10 + 5 + 800 + 3000
    assert replay(result(POLICY, 0.5, "simple_factual", 0.7), T).latency_ms == 10 + 5 + 30


def run_of(results: list[QuestionResult]) -> EvalRun:
    return EvalRun(
        created_at=datetime.now(UTC),
        questions_file="q.jsonl",
        policies=["routed", "all_llm", "all_slm", "retrieval_only"],
        thresholds=T.as_dict(),
        models={},
        corpus_chunks=10,
        top_k=4,
        results=results,
    )


def test_calibration_lowers_the_faq_threshold_while_it_stays_precise():
    # Three FAQ questions whose top entry is right at confidence 0.85 (below 0.9): answering them
    # from the FAQ instead of the LLM keeps quality and saves the LLM's tokens.
    results = [result(FAQ, 0.85, "multi_part", 0.8, faq_quality=1) for _ in range(3)]
    results.append(result(POLICY, 0.80, "multi_part", 0.8, faq_quality=0))  # wrong FAQ at 0.80
    goal = EvaluationSettings(quality_target=0.95)
    calibration = calibrate(run_of(results), goal)
    assert calibration.feasible
    assert calibration.current.cost_per_1k > calibration.chosen.cost_per_1k
    assert 0.80 < calibration.chosen.thresholds.faq_threshold <= 0.85
    assert calibration.chosen.faq_precision == 1.0
    assert calibration.chosen.quality == 1.0


def test_sweep_prices_the_llm_tokens():
    (point,) = sweep(
        [result(MULTI, 0.1, "multi_part", 0.8)], Price(input_per_mtok=1, output_per_mtok=10), [T]
    )
    assert point.cost_per_1k == pytest.approx(1000 * (1000 * 1 + 200 * 10) / 1e6)


def test_calibrated_config_keeps_the_other_settings(tmp_path: Path):
    base = tmp_path / "base.yaml"
    base.write_text("routing:\n  passages: 6\n  faq_threshold: 0.9\nllm:\n  model: big\n")
    out = tmp_path / "calibrated.yaml"
    write_config(base, out, Thresholds(0.85, 0.3, 0.6, 0.7, 0.6), "chosen by a test")
    text = out.read_text()
    assert text.startswith("# chosen by a test\n")
    data = yaml.safe_load(text)
    assert data["routing"]["faq_threshold"] == 0.85 and data["routing"]["passages"] == 6
    assert data["llm"] == {"model": "big"}


def test_report_table_and_ratios(tmp_path: Path):
    run = run_of(
        [
            result(FAQ, 0.95, "simple_factual", 0.8, faq_quality=1),
            result(OOS, 0.1, "out_of_scope", 0.1),
        ]
    )
    summaries = summarise_run(run, {"large": Price(input_per_mtok=2.5, output_per_mtok=10)})
    table = render_table(summaries)
    assert table.splitlines()[0] == "| metric | routed | all_llm | all_slm | retrieval_only |"
    assert "USD / 1,000 questions (large)" in table
    routed = summaries[0]
    assert routed.routing_accuracy == 0.5  # the out-of-scope question was answered, not handed off
    ratios = render_ratios(summaries)
    assert "cost (large): 0.000" in ratios and "latency p50" in ratios
    points = sweep(run.results, Price(input_per_mtok=1), [T, Thresholds(0.99, 0.3, 0.6, 0.7, 0.6)])
    assert pareto_front(points)[0].cost_per_1k == min(p.cost_per_1k for p in points)
    png = plot_quality_cost(tmp_path / "plot.png", points, {"all_llm": (1.0, 1.0)}, "large", 0.97)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_summary_counts_routes_and_latency():
    s = summarise("x", [FAQ, OOS], [outcome("faq_direct", 1, 10), outcome("no_answer", 1, 30)], {})
    assert s.routes["faq_direct"] == 1 and s.quality == 1.0
    assert s.latency_p50_ms == pytest.approx(20)


def test_summary_counts_each_parts_route_and_scope_apart():
    joined = outcome("llm_synthesis", 0.5, 40).model_copy(
        update={"part_routes": ["faq_direct", "llm_synthesis"]}
    )
    handed_off = outcome("no_answer", 1, 5)
    s = summarise("routed", [MULTI, OOS], [joined, handed_off], {}, routed=True)
    assert s.routes == {"llm_synthesis": 1, "no_answer": 1}
    assert s.part_routes == {"faq_direct": 1, "llm_synthesis": 1, "no_answer": 1}
    assert s.in_scope == 0.5 and s.out_of_scope == 1.0 and s.quality == 0.75
    assert s.routing_accuracy == 1.0  # split into parts, and the hand-off
    assert "| part route: faq_direct | 1 (33%) |" in render_table([s])


def test_the_llm_calls_time_to_first_token_is_reported():
    timed = outcome("llm_synthesis", 1, 900).model_copy(
        update={"llm_calls": [(100.0, 800.0), (300.0, 1000.0)]}
    )
    table = render_table([summarise("routed", [FAQ], [timed], {})])
    assert "| LLM calls | 2 |" in table and "| LLM first token p50 / p95 ms | 200 / 290 |" in table


def test_rescore_scores_every_outcome_again_from_its_trace(tmp_path: Path) -> None:
    answer = "I don't know of a built-in way, but a zip archive works."
    trace = Trace(
        trace_id="t1",
        question=FAQ.question,
        route="faq_direct",
        answer=answer,
        sources=[source("f.json", "sf-1")],
    )
    stale = Outcome(route="faq_direct", answer=answer, quality=0.0, declined=True, trace_id="t1")
    run = EvalRun(
        created_at=datetime.now(UTC),
        questions_file="q.jsonl",
        policies=["routed"],
        thresholds={},
        models={},
        corpus_chunks=1,
        top_k=4,
        results=[QuestionResult(question=FAQ, signals=Signals(), outcomes={"routed": stale})],
    )
    store = TraceStore(TraceSettings(path=tmp_path / "traces.sqlite"))
    store.submit(trace)
    store.flush()
    (again,) = rescore(run, store, lambda _: {}).results
    assert again.outcomes["routed"].quality == 1.0 and not again.outcomes["routed"].declined
    lost = run.model_copy(deep=True)
    lost.results[0].outcomes["routed"].trace_id = "gone"
    with pytest.raises(ConfigError, match="'gone'"):
        rescore(lost, store, lambda _: {})
    store.close()
