"""The HTTP contract with fakes behind it: status codes, messages, schemas, streaming, admin."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from ragsvc.api.app import create_app
from ragsvc.index import Index
from ragsvc.runtime import Runtime
from ragsvc.settings import Settings
from tests.conftest import make_settings
from tests.fakes import ADMIN, OPERATOR, FakeAnalyzer, complex_on_and, fake_runtime


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        routing={"relevance_threshold": 0.2, "direct_threshold": 0.3},
        cost={"ledger_path": tmp_path / "cost.sqlite"},
        ingest={"allowed_roots": [tmp_path]},
    )


@pytest.fixture
def client(settings: Settings, memory_index: Index) -> Iterator[TestClient]:  # type: ignore[type-arg]
    def open_parts(s: Settings) -> Runtime:
        return fake_runtime(s, memory_index, FakeAnalyzer(complex_on_and))

    with TestClient(app=create_app(settings, open_parts)) as test_client:
        yield test_client


def test_ask_answers_with_route_sources_and_trace(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.post("/v1/ask", json={"question": "How do I reset my password?"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["route"] == "faq_direct" and body["degraded"] is False
    assert body["sources"][0]["source"] == "faq.yaml"
    assert body["latency_ms"] > 0 and body["cost_usd"] == 0
    trace = client.get(f"/v1/traces/{body['trace_id']}", headers=OPERATOR).json()
    assert trace["route"] == "faq_direct" and trace["checks"][0]["name"] == "faq_confidence"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"question": ""}, "must not be empty"),
        ({"question": "   "}, "must not be empty"),
        ({"question": "x" * 2001}, "limit is 2000"),
        ({}, "question"),
        ({"question": "hi", "filters": {"kind": "video"}}, "kind"),
        ({"question": "hi", "tier": "urgent"}, "unknown tier 'urgent'"),
        ({"question": "hi", "max_latency_ms": 0}, "max_latency_ms"),
    ],
)
def test_bad_requests_are_400_with_a_message(client, payload, message) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/ask", json=payload)
    assert response.status_code == 400
    assert message in response.text


def test_a_latency_budget_is_kept_in_the_trace(client: TestClient) -> None:  # type: ignore[type-arg]
    answer = client.post(
        "/v1/ask", json={"question": "How do I reset my password?", "max_latency_ms": 3000}
    ).json()
    key = client.app.state.runtime.keys.operator.decode()
    trace = client.get(f"/v1/traces/{answer['trace_id']}", headers={"X-API-Key": key}).json()
    assert trace["latency_budget_ms"] == 3000 and answer["route"] == "faq_direct"


def test_malformed_json_is_400(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.post(
        "/v1/ask", content=b'{"question": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


def test_unknown_trace_is_404(client: TestClient) -> None:  # type: ignore[type-arg]
    response = client.get("/v1/traces/does-not-exist", headers=OPERATOR)
    assert response.status_code == 404 and "no trace" in response.json()["detail"]


def test_trace_list_stats_and_feedback(client: TestClient) -> None:  # type: ignore[type-arg]
    first = client.post("/v1/ask", json={"question": "How do I reset my password?"}).json()
    client.post("/v1/ask", json={"question": "hotel limit in Tokyo and meal allowance per day"})
    time.sleep(0.2)
    listed = client.get("/v1/traces", params={"route": "faq_direct"}, headers=OPERATOR).json()
    assert [t["trace_id"] for t in listed] == [first["trace_id"]]
    stats = client.get("/v1/stats", headers=OPERATOR).json()
    assert stats["questions"] == 2
    assert {r["route"] for r in stats["routes"]} == {"faq_direct", "llm_synthesis"}
    stored = client.post(
        "/v1/feedback", json={"trace_id": first["trace_id"], "rating": 5, "comment": "thanks"}
    )
    assert stored.status_code == 201
    trace = client.get(f"/v1/traces/{first['trace_id']}", headers=OPERATOR).json()
    assert trace["feedback"][0]["rating"] == 5
    listed = client.get("/v1/feedback", params={"min_rating": 4}, headers=OPERATOR).json()
    assert [(f["trace_id"], f["comment"]) for f in listed] == [(first["trace_id"], "thanks")]
    again = {"trace_id": first["trace_id"], "rating": 1}
    assert [client.post("/v1/feedback", json=again).status_code for _ in range(5)] == [201] * 4 + [
        409
    ]
    assert client.post("/v1/feedback", json={"trace_id": "nope", "rating": 5}).status_code == 404
    assert client.post("/v1/feedback", json={"trace_id": "x", "rating": 9}).status_code == 400


def test_stream_sends_route_deltas_and_the_answer(client: TestClient) -> None:  # type: ignore[type-arg]
    question = {"question": "hotel limit in Tokyo and meal allowance per day"}
    with client.stream("POST", "/v1/ask/stream", json=question) as response:
        assert response.status_code == 200
        text = "".join(response.iter_text())
    events = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("event:")]
    assert events[0] == "route" and "delta" in events and events[-1] == "answer"
    answer = json.loads(text.rsplit("data: ", 1)[1].strip())
    assert answer["route"] == "llm_synthesis"


def test_ingest_needs_the_admin_key_and_reports_progress(client, corpus: Path) -> None:  # type: ignore[no-untyped-def]
    (corpus / "new-policy.md").write_text("# Parking\n\nParking permits cost 5000 yen a month.")
    request = {"paths": [str(corpus)]}
    assert client.post("/v1/ingest", json=request).status_code == 401
    assert client.post("/v1/ingest", json=request, headers={"X-API-Key": "no"}).status_code == 401
    started = client.post("/v1/ingest", json=request, headers=ADMIN)
    assert started.status_code == 202
    job_id = started.json()["job_id"]
    for _ in range(100):
        job = client.get(f"/v1/ingest/{job_id}", headers=ADMIN).json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    assert job["status"] == "succeeded", job
    assert job["report"]["added"] == ["new-policy.md"] and job["files_total"] == 3
    outside = client.post("/v1/ingest", json={"paths": ["/etc"]}, headers=ADMIN)
    assert outside.status_code == 400 and "ingest.allowed_roots" in outside.text
    assert client.get("/v1/ingest/unknown", headers=ADMIN).status_code == 404


def test_health_readiness_and_openapi(client: TestClient) -> None:  # type: ignore[type-arg]
    assert client.get("/healthz").json() == {"status": "ok", "points": None}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["traces"] and ready.json()["asks_in_flight"] == 0
    assert [m["name"] for m in ready.json()["models"]] == ["llm"]
    assert client.get("/schema/openapi.json").json()["info"]["title"] == "ragsvc"


def test_a_follow_up_is_routed_self_contained_and_traced(client: TestClient) -> None:  # type: ignore[type-arg]
    body = client.post(
        "/v1/ask",
        json={"question": "and from a hotel?", "history": ["How do I connect to the VPN?"]},
    ).json()
    assert body["question"] == "How do I connect to the VPN, from a hotel?"
    trace = client.get(f"/v1/traces/{body['trace_id']}", headers=OPERATOR).json()
    assert trace["question"] == body["question"]
    assert trace["follow_up"] == {
        "asked": "and from a hotel?",
        "previous": "How do I connect to the VPN?",
        "rule": "starts like a follow-up",
    }
    alone = client.post("/v1/ask", json={"question": "and from a hotel?"}).json()
    assert alone["question"] == "and from a hotel?"  # no conversation: asked as written
