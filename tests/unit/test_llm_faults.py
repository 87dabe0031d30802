"""The LLM failing in every way it does, through the real openai client against a stand-in
server on loopback: down, slow past the deadline, garbage, a 500, and a client that leaves a
stream mid-answer (its generation stops within a second)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragsvc.api.app import create_app
from ragsvc.index import Index
from ragsvc.llm.client import OpenAiChatModel
from ragsvc.pipeline.answering import AskInput
from ragsvc.runtime import Runtime
from ragsvc.settings import Settings
from ragsvc.traces.schema import Trace
from tests.conftest import make_settings
from tests.fakes import OPERATOR, FakeAnalyzer, complex_on_and, fake_runtime, llm_service
from tests.live_server import free_port, serving
from tests.standin_llm import StandinLlm

MULTI = "hotel limit in Tokyo and meal allowance per day"


def _settings(tmp_path: Path, base_url: str, **llm: Any) -> Settings:
    return make_settings(
        tmp_path,
        llm={"base_url": base_url, "max_retries": 0, "timeout_s": 5, **llm},
        routing={"relevance_threshold": 0.1, "direct_threshold": 0.2},
        cost={"ledger_path": tmp_path / "cost.sqlite"},
    )


def _ask(settings: Settings, index: Index) -> Trace:
    service = llm_service(settings, index, OpenAiChatModel(settings.llm))
    try:
        return service.ask(AskInput(MULTI))
    finally:
        service.traces.close()


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        ({"mode": "error"}, "InternalServerError"),
        ({"mode": "garbage", "garbage": "text"}, ""),
        ({"mode": "garbage", "garbage": "no-choices"}, ""),
        ({"mode": "slow", "delay": 3}, "Timeout"),
    ],
)
def test_a_failing_llm_degrades_the_answer(
    tmp_path: Path, memory_index: Index, behaviour: dict[str, Any], error: str
) -> None:
    with StandinLlm(**behaviour) as llm:
        started = time.perf_counter()
        trace = _ask(_settings(tmp_path, llm.base_url, timeout_s=0.5), memory_index)
    assert time.perf_counter() - started < 3  # the deadline held
    assert trace.degraded and trace.route == "retrieval_direct" and trace.answer
    call = next(c for c in trace.model_calls if c.role == "llm_synthesis")
    assert call.error and error in call.error
    assert any(e.kind == "fallback" for e in trace.events)


def test_an_unreachable_llm_degrades_the_answer(tmp_path: Path, memory_index: Index) -> None:
    trace = _ask(_settings(tmp_path, f"http://127.0.0.1:{free_port()}/v1"), memory_index)
    assert trace.degraded and trace.route == "retrieval_direct"


def test_a_client_leaving_a_stream_stops_the_generation(
    tmp_path: Path, memory_index: Index
) -> None:
    with StandinLlm("slow", tokens=400, token_interval=0.05) as llm:
        settings = _settings(tmp_path, llm.base_url)

        def open_parts(s: Settings) -> Runtime:
            llm = OpenAiChatModel(s.llm)
            return fake_runtime(s, memory_index, FakeAnalyzer(complex_on_and), llm=llm)

        with serving(create_app(settings, open_parts)) as url, httpx.Client(timeout=30) as http:
            with http.stream("POST", f"{url}/v1/ask/stream", json={"question": MULTI}) as stream:
                trace_id = ""
                for line in stream.iter_lines():
                    if line.startswith("data:") and '"trace_id"' in line:
                        trace_id = line.split('"trace_id": "')[1].split('"')[0]
                    if line == "event: delta":
                        break
            left = time.time()
            records = llm.wait_for(lambda r: bool(r and r[0]["disconnected_at"]), timeout=10)
            trace = _trace_when_written(http, url, trace_id)
    assert records[0]["disconnected_at"] - left < 1.0
    assert records[0]["tokens_sent"] < 100
    assert any(e["kind"] == "cancelled" for e in trace["events"])


def _trace_when_written(http: httpx.Client, url: str, trace_id: str) -> dict[str, Any]:
    for _ in range(100):
        response = http.get(f"{url}/v1/traces/{trace_id}", headers=OPERATOR)
        if response.status_code == 200:
            body: dict[str, Any] = response.json()
            return body
        time.sleep(0.05)
    raise AssertionError(f"trace {trace_id} was never written")
