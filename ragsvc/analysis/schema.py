"""What the analysis of a question says: its kind, complexity, language, task and parts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

QueryKind = Literal["simple_factual", "multi_part", "complex", "out_of_scope", "chitchat"]
Complexity = Literal["simple", "medium", "complex"]
Task = Literal["lookup", "how_to", "troubleshooting", "policy", "comparison", "other"]
Stage = Literal["fast", "slm", "rules"]


class StageRecord(BaseModel):
    """One stage of the cascade as it ran: what it concluded and whether that settled it."""

    stage: Stage
    latency_ms: float
    settled: bool
    confidence: float | None = None
    detail: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0


class QueryAnalysis(BaseModel):
    kind: QueryKind
    complexity: Complexity
    complexity_score: float = Field(ge=0, le=1, description="0 = trivially simple, 1 = hardest")
    language: str
    domain: str | None = None
    task: Task = "lookup"
    sub_queries: list[str] = Field(default_factory=list)
    confidence: float = Field(ge=0, le=1)
    stage: Stage = Field(description="the stage whose answer was taken")
    stages: list[StageRecord] = Field(default_factory=list)
    fallback_reason: str | None = None

    @property
    def latency_ms(self) -> float:
        return sum(s.latency_ms for s in self.stages)
