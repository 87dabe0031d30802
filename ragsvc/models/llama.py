"""One GGUF model in process through llama-cpp-python: chat, and a one-token choice.

Concurrency: a llama.cpp context is not thread-safe, so every call holds ``self._lock``; concurrent
requests queue for the model (on 2 cores one generation at a time is also the fastest overall).
Prefix caching: llama-cpp-python keeps the tokens it has evaluated and reuses the longest common
token prefix of the next prompt, so fixed instructions placed first are evaluated once;
:meth:`LocalLlm.choose` does the same by hand, so a classification costs only the question's tokens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ragsvc.errors import ConfigError
from ragsvc.models.resolve import resolve_model

if TYPE_CHECKING:
    from ragsvc.settings import Settings


@dataclass(frozen=True, slots=True)
class ChatResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float


@dataclass(frozen=True, slots=True)
class Choice:
    """The probability of each option as the first token of the reply, and the time it took."""

    probabilities: dict[str, float]
    prompt_tokens: int
    evaluated_tokens: int
    latency_ms: float

    @property
    def best(self) -> tuple[str, float]:
        option = max(self.probabilities, key=self.probabilities.__getitem__)
        return option, self.probabilities[option]


class LocalLlm:
    def __init__(self, model_path: Path, n_ctx: int = 2048, n_threads: int | None = None) -> None:
        if n_ctx < 512:
            raise ValueError(f"n_ctx must be at least 512, got {n_ctx}")
        if not model_path.is_file():
            raise ConfigError(f"GGUF model {model_path} does not exist; run 'make models'")
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self._llm: Any = None
        self._formatter: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._llm is None:
                self._load()

    def _load(self) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llm = Llama(
            model_path=str(self.model_path),
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            verbose=False,
        )
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ConfigError(f"{self.model_path.name} has no chat template; use an instruct model")
        eos = llm.detokenize([llm.token_eos()]).decode(errors="ignore")
        bos = (
            llm.detokenize([llm.token_bos()]).decode(errors="ignore")
            if llm.token_bos() >= 0
            else ""
        )
        self._formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
        self._llm = llm

    def _ready(self) -> Any:
        if self._llm is None:
            self._load()
        return self._llm

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> ChatResult:
        """A chat completion; with ``json_schema`` the output is constrained by its grammar."""
        started = time.perf_counter()
        extra: dict[str, Any] = {}
        if json_schema is not None:
            extra["response_format"] = {"type": "json_object", "schema": json_schema}
        with self._lock:
            response = self._ready().create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=temperature, **extra
            )
        usage = response.get("usage") or {}
        return ChatResult(
            text=(response["choices"][0]["message"].get("content") or "").strip(),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            latency_ms=1000 * (time.perf_counter() - started),
        )

    def choose(self, messages: list[dict[str, str]], options: Sequence[str]) -> Choice:
        """One forward pass: the next-token probabilities of ``options`` (each a single token,
        e.g. "A".."E"), renormalised over the options, after the assistant turn opens."""
        if len(options) < 2:
            raise ValueError(f"choose needs at least two options, got {list(options)}")
        import llama_cpp

        started = time.perf_counter()
        with self._lock:
            llm = self._ready()
            prompt = self._formatter(messages=messages).prompt
            tokens = llm.tokenize(prompt.encode("utf-8"), special=True)
            ids = [
                llm.tokenize(o.encode("utf-8"), add_bos=False, special=False)[0] for o in options
            ]
            cached = llm.longest_token_prefix(llm._input_ids.tolist(), tokens)
            cached = min(cached, len(tokens) - 1)  # evaluate at least one token for fresh logits
            llm.n_tokens = cached
            llm.eval(tokens[cached:])
            logits = np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),)
            )
            chosen = logits[ids].astype(np.float64)
        weights = np.exp(chosen - chosen.max())
        weights /= weights.sum()
        return Choice(
            probabilities={o: float(w) for o, w in zip(options, weights, strict=True)},
            prompt_tokens=len(tokens),
            evaluated_tokens=len(tokens) - cached,
            latency_ms=1000 * (time.perf_counter() - started),
        )


def build_local_llm(settings: Settings) -> LocalLlm | None:
    """The configured SLM (not loaded yet), or None when ``slm.enabled`` is false."""
    if not settings.slm.enabled:
        return None
    path = resolve_model(settings.slm.model, settings.model_cache_dir)
    return LocalLlm(path, n_ctx=settings.slm.n_ctx, n_threads=settings.slm.n_threads)
