"""PII in the pipeline: redacted before a non-local LLM sees it, and in stored traces and
feedback when configured, while the asker's own answer is left whole."""

from __future__ import annotations

from pathlib import Path

from ragsvc.index import Index
from ragsvc.pipeline.answering import AskInput
from ragsvc.settings import Settings
from tests.conftest import make_settings
from tests.fakes import FakeLlm, llm_service

QUESTION = "hotel limit in Tokyo for taro@example.co.jp and meal allowance, call 090-1234-5678"


def _settings(tmp_path: Path, base_url: str, redact_pii: bool) -> Settings:
    return make_settings(
        tmp_path,
        llm={"base_url": base_url},
        traces={"path": tmp_path / "traces.sqlite", "redact_pii": redact_pii},
    )


def test_a_hosted_llm_never_sees_the_users_pii(tmp_path: Path, memory_index: Index) -> None:
    llm = FakeLlm("Hotels cost 15000 yen [1].")
    service = llm_service(
        _settings(tmp_path, "https://api.example.com/v1", False), memory_index, llm
    )
    trace = service.ask(AskInput(QUESTION))
    sent = "\n".join(m["content"] for m in llm.calls[0])
    assert "taro@" not in sent and "090-1234" not in sent and "[EMAIL]" in sent
    assert any(e.kind == "privacy" and "EMAIL" in e.detail for e in trace.events)


def test_a_local_llm_gets_the_text_as_written(tmp_path: Path, memory_index: Index) -> None:
    llm = FakeLlm("Hotels cost 15000 yen [1].")
    service = llm_service(_settings(tmp_path, "http://127.0.0.1:8081/v1", False), memory_index, llm)
    service.ask(AskInput(QUESTION))
    assert "taro@example.co.jp" in "\n".join(m["content"] for m in llm.calls[0])


def test_stored_traces_are_redacted_but_the_answer_is_not(
    tmp_path: Path, memory_index: Index
) -> None:
    llm = FakeLlm("Write to taro@example.co.jp for hotels [1].")
    service = llm_service(_settings(tmp_path, "http://127.0.0.1:8081/v1", True), memory_index, llm)
    trace = service.ask(AskInput(QUESTION))
    assert "taro@example.co.jp" in trace.answer  # what the asker gets back
    service.traces.flush()
    stored = service.traces.get(trace.trace_id)
    assert stored is not None
    assert "taro@" not in stored.model_dump_json() and "090-1234" not in stored.model_dump_json()
    service.traces.close()
