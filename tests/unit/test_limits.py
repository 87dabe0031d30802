"""Request limits over HTTP: caps, the rate limit, in-flight asks, streams (heartbeats, errors)
and the 503 (with its trace) when the embedder or the store fails."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from ragsvc.analysis.schema import QueryAnalysis
from ragsvc.api.app import create_app
from ragsvc.errors import ConfigError
from ragsvc.index import Index, open_index
from ragsvc.runtime import Runtime
from ragsvc.settings import Settings
from tests.conftest import make_settings
from tests.fakes import (
    OPERATOR,
    FakeAnalyzer,
    FakeEmbedder,
    FakeLlm,
    analysis,
    complex_on_and,
    fake_runtime,
)
from tests.live_server import free_port

MULTI = "hotel limit in Tokyo and meal allowance per day"


def split_on_question_marks(question: str) -> QueryAnalysis:
    parts = [f"{part.strip()}?" for part in question.split("?") if part.strip()]
    return analysis("multi_part", parts) if len(parts) > 1 else complex_on_and(question)


def _client(
    tmp_path: Path, index: Index, llm: FakeLlm | None = None, **groups: dict[str, Any]
) -> TestClient[Any]:
    groups.setdefault("routing", {"relevance_threshold": 0.1, "direct_threshold": 0.2})
    settings = make_settings(tmp_path, cost={"ledger_path": tmp_path / "cost.sqlite"}, **groups)

    def open_parts(s: Settings) -> Runtime:
        return fake_runtime(s, index, FakeAnalyzer(split_on_question_marks), llm=llm)

    return TestClient(app=create_app(settings, open_parts))


@pytest.fixture
def client(tmp_path: Path, memory_index: Index) -> Iterator[TestClient[Any]]:
    with _client(tmp_path, memory_index) as test_client:
        yield test_client


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_sub_queries_are_capped(client) -> None:  # type: ignore[no-untyped-def]
    body = client.post("/v1/ask", json={"question": "x? " * 600}).json()
    trace = client.get(f"/v1/traces/{body['trace_id']}", headers=OPERATOR).json()
    assert len(trace["parts"]) == 4 and len(trace["analysis"]["sub_queries"]) == 4
    assert any(e["kind"] == "limit" for e in trace["events"])


@pytest.mark.parametrize(
    ("filters", "message"),
    [({"tags": ["t"] * 11}, "limit is 10"), ({"tags": ["x" * 65]}, "api.max_tag_chars")],
)
def test_tags_are_capped(client, filters: dict[str, Any], message: str) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/ask", json={"question": "vpn", "filters": filters})
    assert response.status_code == 400 and message in response.text


def test_a_body_over_the_limit_is_413(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/ask", json={"question": "x" * 70_000})
    assert response.status_code == 413


def test_asks_beyond_the_rate_limit_get_429_with_retry_after(
    tmp_path: Path, memory_index: Index
) -> None:
    with _client(tmp_path, memory_index, api={"rate_limit_per_minute": 2}) as client:
        codes = [client.post("/v1/ask", json={"question": "vpn"}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = client.post("/v1/ask", json={"question": "vpn"})
        assert int(limited.headers["Retry-After"]) > 0
        assert client.get("/healthz").status_code == 200  # only asking is limited
        assert client.get("/v1/stats", headers=OPERATOR).status_code == 200


def test_asks_beyond_the_in_flight_cap_get_503(tmp_path: Path, memory_index: Index) -> None:
    release = threading.Event()
    llm = FakeLlm(on_call=lambda: release.wait(5))
    with _client(tmp_path, memory_index, llm=llm, api={"max_in_flight": 1}) as client:
        first: dict[str, Any] = {}
        busy = threading.Thread(
            target=lambda: first.update(client.post("/v1/ask", json={"question": MULTI}).json())
        )
        busy.start()
        for _ in range(200):
            if llm.calls:
                break
            threading.Event().wait(0.01)
        refused = client.post("/v1/ask", json={"question": "vpn"})
        release.set()
        busy.join()
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    assert "api.max_in_flight" in refused.json()["detail"] and first["route"] == "llm_synthesis"


def test_a_stream_sends_heartbeats_while_the_model_is_slow(
    tmp_path: Path, memory_index: Index
) -> None:
    llm = FakeLlm(on_call=lambda: threading.Event().wait(0.3))
    with (
        _client(tmp_path, memory_index, llm=llm, api={"stream_heartbeat_s": 0.05}) as client,
        client.stream("POST", "/v1/ask/stream", json={"question": MULTI}) as response,
    ):
        text = "".join(response.iter_text())
    assert ": keep-alive" in text and _events(text)[-1][0] == "answer"


def test_embedder_failure_is_503_with_a_trace(client, memory_index: Index) -> None:  # type: ignore[no-untyped-def]
    def broken(_: str) -> Any:
        raise RuntimeError("model file vanished")

    memory_index.retriever.embed = broken  # type: ignore[method-assign]
    response = client.post("/v1/ask", json={"question": "vpn"})
    assert response.status_code == 503 and response.headers["Retry-After"]
    body = response.json()
    assert "the embedder failed" in body["detail"] and body["trace_id"]
    trace = client.get(f"/v1/traces/{body['trace_id']}", headers=OPERATOR).json()
    assert trace["degraded"] and trace["events"][0]["kind"] == "error"
    with client.stream("POST", "/v1/ask/stream", json={"question": "vpn"}) as streamed:
        kind, error = _events("".join(streamed.iter_text()))[-1]
    assert kind == "error" and error["status"] == 503 and error["trace_id"]


def test_store_failure_is_503(client, memory_index: Index) -> None:  # type: ignore[no-untyped-def]
    def down(*_: Any, **__: Any) -> Any:
        raise ConnectionError("qdrant: connection refused")

    memory_index.faq.match = down  # type: ignore[method-assign]
    response = client.post("/v1/ask", json={"question": "vpn"})
    assert response.status_code == 503 and "the store failed" in response.json()["detail"]


def test_an_unreachable_qdrant_at_start_is_a_clear_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    url = f"http://127.0.0.1:{free_port()}"
    settings = settings.model_copy(
        update={"store": settings.store.model_copy(update={"url": url, "timeout_s": 2})}
    )
    with pytest.raises(ConfigError, match=r"Qdrant at http://127\.0\.0\.1:\d+ cannot be used"):
        open_index(settings, FakeEmbedder())
