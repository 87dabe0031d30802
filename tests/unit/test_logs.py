"""JSON logs with the request id and the trace id, one access line per request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from ragsvc.observe.logs import RequestContextFilter, formatter


@pytest.fixture
def client(fake_service: TestClient[Any]) -> TestClient[Any]:
    return fake_service


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the service logs, as ``server.log_format: json`` writes it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(formatter("json"))
    loggers = [logging.getLogger("ragsvc.access"), logging.getLogger("ragsvc.pipeline.service")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield out
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def records(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_request_logs_its_ids_and_the_ask_its_trace(client, json_lines) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/v1/ask",
        json={"question": "How do I connect to the VPN?"},
        headers={"X-Request-ID": "req-42"},
    )
    assert response.headers["X-Request-ID"] == "req-42"
    trace_id = response.json()["trace_id"]
    lines = records(json_lines)
    access = [r for r in lines if r["logger"] == "ragsvc.access"]
    assert access[-1]["path"] == "/v1/ask" and access[-1]["status"] == 200
    assert access[-1]["request_id"] == "req-42" and access[-1]["trace_id"] == trace_id
    assert access[-1]["duration_ms"] > 0 and access[-1]["level"] == "INFO"
    asked = [r for r in lines if r["logger"] == "ragsvc.pipeline.service"]
    assert asked and {(r["request_id"], r["trace_id"]) for r in asked} == {("req-42", trace_id)}


def test_a_streamed_answer_logs_under_its_request(client, json_lines) -> None:  # type: ignore[no-untyped-def]
    with client.stream(
        "POST", "/v1/ask/stream", json={"question": "How do I connect to the VPN?"}
    ) as response:
        request_id = response.headers["X-Request-ID"]
        body = "".join(response.iter_text())
    trace_id = json.loads(body.split("event: answer")[1].split("data: ", 1)[1].split("\n")[0])[
        "trace_id"
    ]
    asked = [r for r in records(json_lines) if r["logger"] == "ragsvc.pipeline.service"]
    assert {(r["request_id"], r["trace_id"]) for r in asked} == {(request_id, trace_id)}


def test_a_request_id_that_is_not_a_plain_token_is_replaced(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    given = response.headers["X-Request-ID"]
    assert given != "bad id\twith spaces" and len(given) == 32
