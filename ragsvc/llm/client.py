"""The large model behind any OpenAI-compatible endpoint, through the ``openai`` client.

Retries with backoff are the ``openai`` client's own (``max_retries``: connection errors, 408,
409, 429 and 5xx, exponential backoff with jitter); ``timeout_s`` bounds every attempt. Any failure
surfaces as :class:`LlmError` so the pipeline can degrade instead of failing the request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ragsvc.cost.ledger import estimate_tokens
from ragsvc.errors import RagsvcError
from ragsvc.settings import LlmSettings

Messages = list[dict[str, str]]
OnDelta = Callable[[str], None]


class LlmError(RagsvcError):
    """The LLM endpoint failed, timed out or answered with nothing usable."""


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float


class ChatModel(Protocol):
    """What the pipeline needs from a large model (a fake in unit tests)."""

    model: str

    def complete(
        self,
        messages: Messages,
        *,
        max_tokens: int | None = None,
        on_delta: OnDelta | None = None,
        timeout_s: float | None = None,
        model: str | None = None,
    ) -> Completion:
        """``timeout_s``: a deadline shorter than ``llm.timeout_s`` (an ask's latency budget);
        then no retry is made. ``model``: another model at the same endpoint (a variant's)."""
        ...

    def ping(self) -> bool: ...


class OpenAiChatModel:
    def __init__(self, settings: LlmSettings) -> None:
        if not settings.base_url:
            raise ValueError("llm.base_url must be set, e.g. http://127.0.0.1:8081/v1")
        self.settings = settings
        self.model = settings.model
        self._client: Any = None

    def _openai(self) -> Any:
        if self._client is None:
            from openai import OpenAI

            self._client = OpenAI(
                base_url=self.settings.base_url,
                api_key=self.settings.api_key.get_secret_value(),
                timeout=self.settings.timeout_s,
                max_retries=self.settings.max_retries,
            )
        return self._client

    def complete(
        self,
        messages: Messages,
        *,
        max_tokens: int | None = None,
        on_delta: OnDelta | None = None,
        timeout_s: float | None = None,
        model: str | None = None,
    ) -> Completion:
        """One chat completion (of ``model``, else ``llm.model``); streamed to ``on_delta`` piece
        by piece when it is given. With ``timeout_s`` below ``llm.timeout_s`` it bounds the call
        (a stream: each wait for more) and no retry is made."""
        import openai

        started = time.perf_counter()
        request: dict[str, Any] = {
            "model": model or self.model,
            "messages": messages,
            "max_tokens": max_tokens or self.settings.max_tokens,
            "temperature": self.settings.temperature,
        }
        if timeout_s is not None and timeout_s < self.settings.timeout_s:
            request["timeout"] = max(timeout_s, 0.001)
        try:
            if on_delta is None:
                return self._complete(request, started)
            return self._stream(request, started, on_delta)
        except openai.OpenAIError as exc:
            raise LlmError(f"{type(exc).__name__}: {exc}") from exc
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            raise LlmError(
                f"the LLM answered something unusable: {type(exc).__name__}: {exc}"
            ) from exc

    def _client_for(self, request: dict[str, Any]) -> Any:
        """The client; without retries under a deadline (a retry could not meet it)."""
        client = self._openai()
        return client.with_options(max_retries=0) if "timeout" in request else client

    def _complete(self, request: dict[str, Any], started: float) -> Completion:
        response = self._client_for(request).chat.completions.create(**request)
        text = (response.choices[0].message.content or "").strip() if response.choices else ""
        if not text:
            raise LlmError("the LLM returned an empty answer")
        usage = response.usage
        return Completion(
            text=text,
            model=response.model or request["model"],
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_ms=1000 * (time.perf_counter() - started),
        )

    def _stream(self, request: dict[str, Any], started: float, on_delta: OnDelta) -> Completion:
        stream = self._client_for(request).chat.completions.create(
            **request, stream=True, stream_options={"include_usage": True}
        )
        pieces: list[str] = []
        prompt_tokens = completion_tokens = 0
        model = request["model"]
        with stream:  # closes the connection when on_delta raises: the server stops generating
            for chunk in stream:
                model = chunk.model or model
                if chunk.usage:
                    prompt_tokens = chunk.usage.prompt_tokens
                    completion_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        pieces.append(choice.delta.content)
                        on_delta(choice.delta.content)
        text = "".join(pieces).strip()
        if not text:
            raise LlmError("the LLM returned an empty answer")
        if not prompt_tokens:  # servers that do not report usage when streaming
            prompt_tokens = sum(estimate_tokens(m["content"]) for m in request["messages"])
        return Completion(
            text=text,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens or len(pieces),
            latency_ms=1000 * (time.perf_counter() - started),
        )

    def ping(self) -> bool:
        """Whether the endpoint answers ``GET /models`` (for ``/readyz``), without retries."""
        import openai

        try:
            self._openai().with_options(max_retries=0, timeout=3).models.list()
        except openai.OpenAIError:
            return False
        return True
