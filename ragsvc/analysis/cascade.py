"""The analysis cascade: fast classifier -> SLM -> rules, each stage settling what it can.

Every stage run is recorded (latency, confidence, whether it settled the question, why); the
stage whose verdict was taken is ``QueryAnalysis.stage``. ``analyze`` never raises for any text:
a failing stage is recorded and the next one decides, and the rules always answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ragsvc.analysis.config import AnalysisSettings
from ragsvc.analysis.cues import task_of
from ragsvc.analysis.fast import FastClassifier, Verdict
from ragsvc.analysis.rules import classify_by_rules
from ragsvc.analysis.schema import Complexity, QueryAnalysis, Stage, StageRecord
from ragsvc.analysis.scope import ScopeCheck
from ragsvc.analysis.slm import SlmAnalyzer, SlmBackend
from ragsvc.analysis.split import QuestionSplitter
from ragsvc.embedding.base import Embedder, Vectors
from ragsvc.text.language import detect_language

if TYPE_CHECKING:
    from ragsvc.settings import Settings

log = logging.getLogger(__name__)

_COMPLEXITY_SCORE: dict[Complexity, float] = {"simple": 0.2, "medium": 0.5, "complex": 0.85}


def _ms(started: float) -> float:
    return round(1000 * (time.perf_counter() - started), 2)


_GUESSES_THAT_STAND = ("out_of_scope", "complex")


def _unconfirmed_guess(fast: Verdict | None, embedding_informs: bool) -> Verdict | None:
    """The fast stage's unsure reading, when the SLM could not settle the question either.

    The rules only see cues, which the fast stage has already checked, so without this every
    unsettled question would default to a simple one. Where the fast stage carries signal for the
    question's language (a complexity head fitted for it, or an embedder that retrieval weighs
    for it), its best guess is the better prior (bench/analysis.py, nearest examples on English:
    fast alone 0.742 macro-F1 against 0.621 for the cascade defaulting to simple). Where it does
    not (no head, and ``retrieval.dense_weight`` 0 for the language, e.g. MiniLM and Japanese),
    its nearest-example guess is noise and only an out-of-scope guess stands. A chitchat guess
    never stands: handing a real question off on an unsure guess loses it.
    """
    if fast is None or fast.kind not in _GUESSES_THAT_STAND:
        return None
    if fast.kind == "complex" and not embedding_informs:
        return None
    detail = f"rule: the fast stage's unconfirmed guess stands ({fast.detail})"
    return Verdict(fast.kind, fast.confidence, detail, domain=fast.domain)


class CascadeAnalyzer:
    def __init__(
        self,
        embedder: Embedder,
        fast: FastClassifier,
        slm: SlmAnalyzer | None,
        settings: AnalysisSettings,
        embedding_informs: Callable[[str], bool] = lambda language: True,
    ) -> None:
        self.embedder = embedder
        self.embedding_informs = embedding_informs
        """Whether the embedder's similarities mean something for a language."""
        self.fast = fast
        self.slm = slm
        self.settings = settings

    def warm_up(self) -> None:
        self.fast.warm_up()

    def analyze(
        self, question: str, *, query_vector: Vectors | None = None, language: str | None = None
    ) -> QueryAnalysis:
        language = language or detect_language(question)
        stages: list[StageRecord] = []
        started = time.perf_counter()
        fast: Verdict | None = None
        try:
            vector = (
                query_vector
                if query_vector is not None
                else self.embedder.embed_queries([question])[0]
            )
            fast = self.fast.classify(question, vector, language)
        except Exception as exc:  # an embedder or store failure must not stop routing
            log.warning("fast classifier failed: %s", exc)
            failure = f"failed: {type(exc).__name__}: {exc}"
            stages.append(
                StageRecord(stage="fast", latency_ms=_ms(started), settled=False, detail=failure)
            )
        else:
            threshold = (
                self.settings.head_confidence if fast.by_head else self.settings.fast_confidence
            )
            settled = fast.decisive or fast.confidence >= threshold
            stages.append(
                StageRecord(
                    stage="fast",
                    latency_ms=_ms(started),
                    settled=settled,
                    confidence=round(fast.confidence, 4),
                    detail=fast.detail,
                )
            )
            if settled:
                return self._result(question, language, fast, "fast", stages, None)
        reason = self._run_slm(question, language, stages)
        if isinstance(reason, Verdict):
            return self._result(question, language, reason, "slm", stages, None, fast)
        started = time.perf_counter()
        informs = self.embedding_informs(language)
        verdict = _unconfirmed_guess(fast, informs) or classify_by_rules(question, language)
        stages.append(
            StageRecord(
                stage="rules",
                latency_ms=_ms(started),
                settled=True,
                confidence=verdict.confidence,
                detail=verdict.detail,
            )
        )
        return self._result(question, language, verdict, "rules", stages, reason, fast)

    def _run_slm(self, question: str, language: str, stages: list[StageRecord]) -> Verdict | str:
        """The SLM's verdict when it is confident enough, else why it was not taken."""
        if self.slm is None:
            return "no SLM configured"
        started = time.perf_counter()
        try:
            verdict = self.slm.classify(question, language)
        except Exception as exc:  # llama.cpp errors have no common base class
            log.warning("SLM analysis failed: %s", exc)
            reason = f"SLM failed: {type(exc).__name__}: {exc}"
            stages.append(
                StageRecord(stage="slm", latency_ms=_ms(started), settled=False, detail=reason)
            )
            return reason
        settled = verdict.confidence >= self.settings.slm_confidence
        stages.append(
            StageRecord(
                stage="slm",
                latency_ms=_ms(started),
                settled=settled,
                confidence=round(verdict.confidence, 4),
                detail=verdict.detail,
                prompt_tokens=verdict.prompt_tokens,
                completion_tokens=verdict.completion_tokens,
            )
        )
        if not settled:
            return f"SLM confidence {verdict.confidence:.2f} < {self.settings.slm_confidence}"
        return Verdict(verdict.kind, verdict.confidence, verdict.detail, verdict.sub_queries)

    def _result(
        self,
        question: str,
        language: str,
        verdict: Verdict,
        stage: Stage,
        stages: list[StageRecord],
        fallback_reason: str | None,
        fast: Verdict | None = None,
    ) -> QueryAnalysis:
        complexity: Complexity
        if verdict.kind in ("multi_part", "complex"):
            complexity = "complex"
        elif verdict.kind == "simple_factual" and stage == "rules":
            complexity = "medium"
        else:
            complexity = "simple"
        return QueryAnalysis(
            kind=verdict.kind,
            complexity=complexity,
            complexity_score=_COMPLEXITY_SCORE[complexity],
            language=language,
            domain=verdict.domain or (fast.domain if fast else None),
            task=task_of(question),
            sub_queries=verdict.sub_queries,
            confidence=round(min(1.0, max(0.0, verdict.confidence)), 4),
            stage=stage,
            stages=stages,
            fallback_reason=fallback_reason,
        )


def build_analyzer(
    settings: Settings,
    embedder: Embedder,
    slm: SlmBackend | None,
    scope: ScopeCheck | None,
    splitter: QuestionSplitter | None = None,
) -> CascadeAnalyzer:
    """``splitter``: how joined questions are split (None: by the rules alone)."""
    fast = FastClassifier(embedder, settings.analysis, scope, splitter=splitter)
    slm_stage = SlmAnalyzer(slm, settings.analysis.max_split_tokens) if slm is not None else None
    analyzer = CascadeAnalyzer(
        embedder,
        fast,
        slm_stage,
        settings.analysis,
        lambda language: fast.informs(language) or settings.retrieval.weight_for(language) > 0,
    )
    analyzer.warm_up()
    return analyzer
