"""The routes a question can take, cheapest first in spirit (a module of its own: the settings and
the trace schema both name them)."""

from __future__ import annotations

from typing import Literal

Route = Literal["faq_direct", "retrieval_direct", "slm_answer", "llm_synthesis", "no_answer"]
ROUTES: tuple[Route, ...] = (
    "faq_direct",
    "retrieval_direct",
    "slm_answer",
    "llm_synthesis",
    "no_answer",
)
CHEAP_ROUTES: tuple[Route, ...] = ("faq_direct", "retrieval_direct", "slm_answer")
"""The routes that answer without the large model: the ones misrouting is measured on."""
