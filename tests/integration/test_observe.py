"""``ragsvc serve`` as deployed: JSON logs with the request and trace ids on stderr, and
``/metrics`` read by prometheus_client's parser (a real process, the real embedder and store)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MODEL_CACHE
from tests.live_server import free_port


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "the service exited"
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("the service did not start")


def test_json_logs_and_metrics_of_a_served_process(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "store": {"path": str(tmp_path / "qdrant")},
                "traces": {"path": str(tmp_path / "traces.sqlite")},
                "cost": {"ledger_path": str(tmp_path / "cost.sqlite")},
                "api": {
                    "admin_key_file": str(tmp_path / "admin.key"),
                    "operator_key_file": str(tmp_path / "operator.key"),
                },
                "server": {"port": port, "log_format": "json"},
                "slm": {"enabled": False},
                "multilingual": {"enabled": False},
                "model_cache_dir": str(MODEL_CACHE),
            }
        )
    )
    log = tmp_path / "service.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ragsvc.cli", "serve", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        try:
            _wait_ready(url, process)
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
        finally:
            process.terminate()
            process.wait(timeout=60)
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
