"""``ragsvc serve`` as deployed: JSON logs with the request and trace ids on stderr, and
``/metrics`` read by prometheus_client's parser (a real process, the real embedder and store)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MODEL_CACHE
from tests.live_server import free_port, process_config, served


def test_json_logs_and_metrics_of_a_served_process(tmp_path: Path) -> None:
    port = free_port()
    config = process_config(
        tmp_path,
        port,
        MODEL_CACHE,
        server={"port": port, "log_format": "json"},
        multilingual={"enabled": False},
    )
    log = tmp_path / "service.log"
    with served(config, port, log) as url:
        ask = urllib.request.Request(
            f"{url}/v1/ask",
            json.dumps({"question": "How do I reset my password?"}).encode(),
            {"Content-Type": "application/json", "X-Request-ID": "it-req-1"},
        )
        with urllib.request.urlopen(ask, timeout=60) as response:
            assert response.headers["X-Request-ID"] == "it-req-1"
            trace_id = json.loads(response.read())["trace_id"]
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
            exposition = response.read().decode()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    access = [r for r in lines if r["logger"] == "ragsvc.access" and r["path"] == "/v1/ask"]
    assert access == [access[0]] and access[0]["request_id"] == "it-req-1"
    assert access[0]["trace_id"] == trace_id and access[0]["status"] == 200
    samples = {
        sample.name: sample
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }
    assert samples["ragsvc_answers_total"].value == 1
    assert "ragsvc_requests_total" in samples and "ragsvc_budget_left_usd" in samples
