"""Settings of the query-analysis cascade (a group of :class:`ragsvc.settings.Settings`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class AnalysisSettings(BaseModel):
    # Below this confidence the fast classifier hands the question on to the SLM.
    fast_confidence: float = Field(default=0.8, ge=0, le=1)
