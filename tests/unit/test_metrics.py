"""``/metrics``: parsed with prometheus_client's own parser after real requests."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families


@pytest.fixture
def client(fake_service: TestClient[Any]) -> TestClient[Any]:
    return fake_service


def scrape(client: TestClient[Any]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_answers_requests_models_and_gauges_are_exposed(client: TestClient[Any]) -> None:
    before = scrape(client)
    body = client.post("/v1/ask", json={"question": "How do I connect to the VPN?"}).json()
    complex_body = client.post(
        "/v1/ask", json={"question": "Compare the VPN policy and the travel policy"}
    ).json()
    after = scrape(client)

    route = body["route"]
    assert value(after, "ragsvc_answers_total", route=route, degraded="false") == value(
        before, "ragsvc_answers_total", route=route, degraded="false"
    ) + (2 if complex_body["route"] == route else 1)
    assert value(after, "ragsvc_answer_seconds_count", route=route) > value(
        before, "ragsvc_answer_seconds_count", route=route
    )
    requests = {k: v for k, v in after.items() if k[0] == "ragsvc_requests_total"}
    assert any(dict(labels).get("path") == "/v1/ask" for _, labels in requests)
    assert value(after, "ragsvc_budget_left_usd") > 0
    assert value(after, "ragsvc_asks_in_flight") == 0
    waiting = [k for k in after if k[0] == "ragsvc_model_waiting"]
    assert waiting and all(dict(labels)["model"] for _, labels in waiting)
    if complex_body["route"] == "llm_synthesis":
        model = next(dict(k[1])["model"] for k in after if k[0] == "ragsvc_model_calls_total")
        assert (
            value(
                after,
                "ragsvc_model_tokens_total",
                model=model,
                role="llm_synthesis",
                direction="output",
            )
            > 0
        )


def test_no_label_carries_the_users_words(client: TestClient[Any]) -> None:
    secret = "zebra-unicorn-7781"
    client.post("/v1/ask", json={"question": f"How do I reset {secret}?"})
    assert secret not in client.get("/metrics").text
