"""What one evaluation run records, question by question: enough to score every policy and to
replay the router offline under other thresholds (``ragsvc calibrate``) without asking again.

For each question: the signals the router compares with its thresholds (FAQ confidence, analysis,
relevance, the SLM answer's quality checks), the outcome of every policy that was run, and the
outcome the FAQ shortcut would give (the top FAQ entry's answer), which ``routed`` only shows for
the questions that cleared the FAQ threshold.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from ragsvc.evaluation.mix import LabelledQuestion


class Outcome(BaseModel):
    """One answer, scored against the question's gold (see :mod:`ragsvc.evaluation.scoring`)."""

    route: str
    answer: str
    quality: float = Field(ge=0, le=1)
    strict_quality: float | None = Field(default=None, ge=0, le=1)
    """The earlier rule: a span part answered only with a gold span inside the answer text."""
    f1: float | None = None
    contains: float | None = None
    sources_ok: float | None = None
    declined: bool = False
    degraded: bool = False
    latency_ms: float = 0.0
    llm_tokens: tuple[int, int] = (0, 0)
    slm_tokens: tuple[int, int] = (0, 0)
    trace_id: str | None = None
    llm_calls: list[tuple[float | None, float]] = Field(default_factory=list)
    """Each LLM synthesis call's time to the first token and in all, ms."""
    part_routes: list[str] = Field(default_factory=list)
    """A joined message's parts' routes, as asked (empty: answered whole, by ``route``)."""


class Signals(BaseModel):
    """The router's inputs for one question, gathered once, whatever the policy."""

    faq_confidence: float | None = None
    analysis_kind: str = "simple_factual"
    analysis_complexity: str = "simple"
    analysis_stage: str = ""
    analysis_latency_ms: float = 0.0
    relevance: float = 0.0
    swept: bool = True
    """False: the most relevant passage was judged on thresholds ``ragsvc calibrate`` does not
    sweep (the multilingual space's, or a passage in another language); ``relevant`` and
    ``direct`` then hold the router's decisions."""
    relevant: bool | None = None
    direct: bool | None = None
    slm_grounding: float | None = None
    slm_completeness: float | None = None
    slm_declined: bool = False
    hit_at_k: float | None = None


class QuestionResult(BaseModel):
    question: LabelledQuestion
    signals: Signals
    faq_top: Outcome | None = None
    outcomes: dict[str, Outcome] = Field(default_factory=dict)


class EvalRun(BaseModel):
    created_at: datetime
    config: str | None = None
    questions_file: str
    policies: list[str]
    thresholds: dict[str, float]
    models: dict[str, str]
    corpus_chunks: int
    top_k: int
    results: list[QuestionResult]

    def merged_with(self, earlier: EvalRun) -> EvalRun:
        """This run plus the policies only ``earlier`` ran, for the same questions (by id): a
        re-run of ``routed`` under new thresholds compares with the baselines measured before."""
        before = {r.question.id: r for r in earlier.results}
        extra = [p for p in earlier.policies if p not in self.policies]
        results = []
        for result in self.results:
            old = before.get(result.question.id)
            if old is None:
                raise ValueError(f"question {result.question.id} is not in the earlier run")
            signals = result.signals
            if signals.slm_grounding is None:
                slm = ("slm_grounding", "slm_completeness", "slm_declined")
                signals = signals.model_copy(update={k: getattr(old.signals, k) for k in slm})
            outcomes = {**result.outcomes, **{p: old.outcomes[p] for p in extra}}
            results.append(result.model_copy(update={"signals": signals, "outcomes": outcomes}))
        return self.model_copy(update={"policies": [*self.policies, *extra], "results": results})
