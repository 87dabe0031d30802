"""What the pipeline needs from its parts, as protocols: production passes the real ones (the
analysis cascade, llama-cpp-python, the openai client), unit tests pass fakes."""

from __future__ import annotations

from typing import Any, Protocol

from ragsvc.analysis.schema import QueryAnalysis
from ragsvc.embedding.base import Vectors


class QuestionAnalyzer(Protocol):
    def analyze(
        self, question: str, *, query_vector: Vectors | None = None, language: str | None = None
    ) -> QueryAnalysis: ...


class ChatOutput(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def prompt_tokens(self) -> int: ...

    @property
    def completion_tokens(self) -> int: ...


class LocalChat(Protocol):
    """The in-process SLM (``ragsvc.models.llama.LocalLlm``)."""

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> ChatOutput: ...
