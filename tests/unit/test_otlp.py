"""Each answered message reaches an OTLP receiver as an OpenTelemetry trace: the real OTLP/HTTP
exporter posts to a receiver in this test, which decodes the protobuf the way a collector does."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ragsvc.api.app import create_app
from ragsvc.index import Index
from ragsvc.runtime import Runtime
from ragsvc.settings import Settings
from tests.conftest import make_settings
from tests.fakes import FakeAnalyzer, complex_on_and, fake_runtime
from tests.live_server import free_port


class Receiver(http.server.BaseHTTPRequestHandler):
    spans: list[Any] = []  # noqa: RUF012 - one receiver per test module run

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                Receiver.spans.extend(scope.spans)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.spans = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1/traces"
    server.shutdown()


def attributes(span: Any) -> dict[str, Any]:
    out = {}
    for kv in span.attributes:
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value"))
    return out


def test_a_message_is_exported_with_genai_spans(
    tmp_path: Path, memory_index: Index, receiver: str
) -> None:
    settings = make_settings(
        tmp_path,
        routing={"relevance_threshold": 0.1, "direct_threshold": 0.2},
        cost={"ledger_path": tmp_path / "cost.sqlite"},
        server={"otlp_endpoint": receiver},
    )

    def open_parts(s: Settings) -> Runtime:
        return fake_runtime(s, memory_index, FakeAnalyzer(complex_on_and))

    with TestClient(app=create_app(settings, open_parts)) as client:
        body = client.post(
            "/v1/ask", json={"question": "Compare the VPN policy and the travel policy"}
        ).json()
    # the app's shutdown flushed the exporter
    spans = {span.name: span for span in Receiver.spans}
    root = spans["ragsvc.ask"]
    assert root.trace_id.hex() == body["trace_id"]  # one id in ragsvc and in the backend
    root_attributes = attributes(root)
    assert root_attributes["ragsvc.route"] == body["route"]
    assert any(key.startswith("ragsvc.check.") for key in root_attributes)
    assert root.end_time_unix_nano > root.start_time_unix_nano
    children = [s for s in Receiver.spans if s.parent_span_id == root.span_id]
    assert {"ragsvc.embed", "retrieve faq"} <= {s.name for s in children}
    if body["route"] == "llm_synthesis":
        call = spans["chat fake-llm"]
        call_attributes = attributes(call)
        assert call_attributes["gen_ai.operation.name"] == "chat"
        assert call_attributes["gen_ai.request.model"] == "fake-llm"
        assert call_attributes["gen_ai.usage.input_tokens"] == 1000
        assert call_attributes["gen_ai.usage.output_tokens"] == 100
        assert root.start_time_unix_nano <= call.start_time_unix_nano <= root.end_time_unix_nano
    else:
        pytest.fail(f"expected the LLM route for a comparison, got {body['route']}")


def test_without_an_endpoint_nothing_is_exported(
    tmp_path: Path, memory_index: Index, receiver: str
) -> None:
    settings = make_settings(tmp_path, cost={"ledger_path": tmp_path / "cost.sqlite"})
    with TestClient(app=create_app(settings, lambda s: fake_runtime(s, memory_index))) as client:
        client.post("/v1/ask", json={"question": "How do I connect to the VPN?"})
    assert Receiver.spans == []


def test_what_is_exported_is_the_trace_as_stored(
    tmp_path: Path, memory_index: Index, receiver: str
) -> None:
    settings = make_settings(
        tmp_path,
        cost={"ledger_path": tmp_path / "cost.sqlite"},
        server={"otlp_endpoint": receiver},
        traces={"path": tmp_path / "traces.sqlite", "redact_questions": True},
    )
    with TestClient(app=create_app(settings, lambda s: fake_runtime(s, memory_index))) as client:
        client.post("/v1/ask", json={"question": "How do I connect to the VPN zebra-77?"})
    exported = [str(attributes(span)) for span in Receiver.spans]
    assert exported and not any("zebra-77" in text for text in exported)
