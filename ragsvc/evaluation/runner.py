"""``ragsvc eval``'s engine: one labelled question set through the real pipeline under several
policies, in one process, on one index, one after another (no concurrency: latencies compare).

The index is the evaluation's own (embedded Qdrant under the work folder, the corpus ingested
incrementally, so a second run re-uses it); traces and the cost ledger are the work folder's too,
so an evaluation never spends the service's budget or fills its trace store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ragsvc.embedding.spaces import PRIMARY
from ragsvc.evaluation.metrics import Language, contains_answer
from ragsvc.evaluation.mix import LabelledQuestion, PartGold
from ragsvc.evaluation.policies import Policy, answerer
from ragsvc.evaluation.records import EvalRun, Outcome, QuestionResult, Signals
from ragsvc.evaluation.scoring import cites, outcome_of, score
from ragsvc.llm.client import ChatModel
from ragsvc.pipeline.answering import AskInput
from ragsvc.pipeline.router import choose_passages
from ragsvc.retrieval.fusion import Hit
from ragsvc.runtime import Runtime, open_runtime
from ragsvc.settings import Settings
from ragsvc.text.language import detect_language
from ragsvc.traces.schema import Source, Trace

Progress = Callable[[str], None]


def eval_settings(settings: Settings, workdir: Path) -> Settings:
    """``settings`` with the store, traces, ledger and key files moved under ``workdir`` (never
    the service's database)."""
    workdir.mkdir(parents=True, exist_ok=True)
    return settings.model_copy(
        update={
            "store": settings.store.model_copy(update={"path": workdir / "qdrant", "url": None}),
            "traces": settings.traces.model_copy(
                update={"path": workdir / "traces.sqlite", "redact_questions": False}
            ),
            "cost": settings.cost.model_copy(update={"ledger_path": workdir / "cost.sqlite"}),
            "database": settings.database.model_copy(update={"url": None}),
            "api": settings.api.model_copy(
                update={
                    "admin_key_file": workdir / "admin.key",
                    "operator_key_file": workdir / "operator.key",
                }
            ),
        }
    )


def run_eval(
    settings: Settings,
    questions: Sequence[LabelledQuestion],
    corpus: Path,
    policies: Sequence[Policy],
    *,
    questions_file: str,
    config: str | None = None,
    llm: ChatModel | None = None,
    progress: Progress | None = None,
) -> EvalRun:
    """``settings`` must already point at the evaluation's work folder (:func:`eval_settings`)."""
    from ingest.job import IngestJob

    say = progress or (lambda _: None)
    runtime = open_runtime(settings, llm=llm)
    try:
        report = IngestJob(runtime.index.store, settings).run([corpus])
        if report.failed:
            say(f"ingest: {len(report.failed)} files failed: {report.failed}")
        say(f"corpus: {runtime.index.store.count()} chunks ({report.seconds:.1f} s)")
        results = []
        for n, question in enumerate(questions, start=1):
            results.append(_evaluate(runtime, question, policies))
            say(f"[{n}/{len(questions)}] {question.id} " + _summary(results[-1]))
        runtime.traces.flush()
        return EvalRun(
            created_at=datetime.now(UTC),
            config=config,
            questions_file=questions_file,
            policies=list(policies),
            thresholds=_thresholds(settings, runtime.index.faq.threshold),
            models={
                "embedder": runtime.index.embedder.name,
                "slm": settings.slm.name if runtime.slm is not None else "(none)",
                "llm": runtime.llm.model,
            },
            corpus_chunks=runtime.index.store.count(),
            top_k=settings.routing.passages,
            results=results,
        )
    finally:
        runtime.close()


def _thresholds(settings: Settings, faq_threshold: float) -> dict[str, float]:
    """The thresholds in force; the FAQ one as resolved by the matcher (configured, calibrated
    or the raw-cosine default)."""
    r = settings.routing
    return {
        "faq_threshold": faq_threshold,
        "relevance_threshold": r.relevance_threshold,
        "direct_threshold": r.direct_threshold,
        "escalate_confidence": r.escalate_confidence,
        "escalate_completeness": r.escalate_completeness,
    }


def _summary(result: QuestionResult) -> str:
    return " ".join(f"{policy}={o.route}:{o.quality:.2f}" for policy, o in result.outcomes.items())


def _evaluate(
    runtime: Runtime, question: LabelledQuestion, policies: Sequence[Policy]
) -> QuestionResult:
    ask = runtime.ask
    traces = {p: ask.ask(AskInput(question.question), answer=answerer(ask, p)) for p in policies}
    signals, faq_top = _signals(runtime, question, traces)
    cited = runtime.index.store.texts({s.id for t in traces.values() for s in t.sources})
    return QuestionResult(
        question=question,
        signals=signals,
        faq_top=faq_top,
        outcomes={p: outcome_of(question, t, cited) for p, t in traces.items()},
    )


def _signals(
    runtime: Runtime, question: LabelledQuestion, traces: dict[Policy, Trace]
) -> tuple[Signals, Outcome | None]:
    """What the router would compare with its thresholds, whichever route each policy took."""
    index = runtime.index
    started = time.perf_counter()
    vector = index.retriever.embed(question.question)
    matches = index.faq.match(question.question, query_vector=vector)
    faq_ms = 1000 * (time.perf_counter() - started)
    faq_top = None
    if matches:
        top = matches[0]
        faq_top = score(question, "faq_direct", top.answer, [Source.of(1, top.hit)])
        faq_top = faq_top.model_copy(update={"latency_ms": round(faq_ms, 2)})
    hits = index.retriever.search(question.question, top_k=runtime.settings.routing.passages)
    routed = traces.get("routed")
    analysis = routed.analysis if routed is not None else None
    if analysis is None:  # routed stopped at the FAQ (or was not run): analyse for the replay
        primary = vector.vector if vector.space == PRIMARY else None
        analysis = runtime.analyzer.analyze(question.question, query_vector=primary)
    checks = {c.name: c for c in traces["all_slm"].checks} if "all_slm" in traces else {}
    grounding, completeness = checks.get("slm_grounding"), checks.get("slm_completeness")
    language = detect_language(question.question)
    same_language = bool(matches) and matches[0].hit.written_in(language) == language
    signals = Signals(
        faq_confidence=matches[0].confidence if matches and same_language else None,
        analysis_kind=analysis.kind,
        analysis_complexity=analysis.complexity,
        analysis_stage=analysis.stage,
        analysis_latency_ms=round(analysis.latency_ms, 2),
        **_relevance(hits, language, runtime.settings),
        slm_grounding=grounding.score if grounding else None,
        slm_completeness=completeness.score if completeness else None,
        slm_declined=bool(grounding and grounding.note == "declined"),
        hit_at_k=_hit_at_k(runtime, question) if question.parts else None,
    )
    return signals, faq_top


def _relevance(hits: list[Hit], language: str, settings: Settings) -> dict[str, Any]:
    """The relevance signals of ``hits``: the cosine of the most relevant one, and where its
    thresholds are not the swept ``routing`` ones, the router's decisions on them."""
    passages = choose_passages(hits, language, settings)
    if passages.relevant is None:
        return {"relevance": 0.0}
    hit, thresholds = passages.relevant
    if hit.space == PRIMARY and passages.quotable and passages.quotable[0] is hit:
        return {"relevance": hit.dense_score}
    quote = passages.quotable
    return {
        "relevance": hit.dense_score,
        "swept": False,
        "relevant": hit.dense_score >= thresholds.relevance,
        "direct": quote is not None and quote[0].dense_score >= (quote[1].direct or 1.0),
    }


def _hit_at_k(runtime: Runtime, question: LabelledQuestion) -> float:
    """Share of the question's parts whose gold is among the top-k passages retrieved for it."""
    k = runtime.settings.routing.passages
    found = 0
    for part in question.parts:
        hits = runtime.index.retriever.search(part.question, top_k=k)
        found += any(_holds(part, question.language, h) for h in hits)
    return found / len(question.parts)


def _holds(part: PartGold, language: Language, hit: Hit) -> bool:
    if not cites(part, [Source.of(1, hit)]):
        return False
    return part.category == "faq" or contains_answer(hit.text, part.answers, language)
