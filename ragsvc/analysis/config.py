"""Settings of the query-analysis cascade (a group of :class:`ragsvc.settings.Settings`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class AnalysisSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The fast classifier settles a question when its confidence is at least this ...
    fast_confidence: float = Field(default=0.8, ge=0, le=1)
    # ... or, when the complexity head made the call, at least this. On the held-out routing
    # data the head is right 0.99 of the time at confidence 0.7-0.8, 0.90 at 0.6-0.7 and ~0.6
    # below (bench/analysis.py), about where the SLM stands: below this the SLM is asked.
    head_confidence: float = Field(default=0.6, ge=0.5, le=1)
    # Nearest labelled examples per class that are averaged, and the softmax temperature that
    # turns those similarities into class probabilities.
    knn: int = Field(default=3, gt=0)
    temperature: float = Field(default=0.05, gt=0)
    # Out of scope: the mean similarity of the question's ``scope_neighbours`` nearest indexed
    # chunks is below this.
    scope_threshold: float = Field(default=0.3, ge=-1, le=1)
    scope_neighbours: int = Field(default=5, gt=0)
    # The SLM's label is taken when its probability is at least this; else the rules decide.
    slm_confidence: float = Field(default=0.5, ge=0, le=1)
    # Longest sub-query list the SLM may generate, in tokens.
    max_split_tokens: int = Field(default=160, gt=0)
    # Splitting a message into parts (ragsvc/analysis/split.py): a statement beside a question is
    # its context unless their cosine (primary space) is below this: two topics, "password reset /
    # vpn from home". Languages of the multilingual space use multilingual.split_max_similarity.
    # null: no embedding test, a statement always stays with its question.
    split_max_similarity: float | None = Field(default=0.3, ge=-1, le=1)
    # Labelled example questions (null: the ones shipped in ragsvc/analysis/exemplars.yaml).
    exemplars: Path | None = None
    # Simple vs complex by the trained complexity head (ragsvc/analysis/head.py) where one was
    # fitted for the question's language and the embedder; else by the nearest examples.
    use_complexity_head: bool = True
    # The head's weights (null: ragsvc/analysis/complexity_head.npz, fitted by bench/train_head.py).
    complexity_head: Path | None = None
