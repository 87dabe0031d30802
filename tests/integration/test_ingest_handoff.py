"""Operators ingest while the service runs: ``ragsvc ingest`` hands the job to the service, which
holds the embedded Qdrant store, and the new document is answerable without a restart."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.conftest import MODEL_CACHE
from tests.live_server import free_port, process_config, wait_up

RAGSVC = [sys.executable, "-m", "ragsvc.cli"]


def _post(url: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        result: dict[str, object] = json.loads(response.read())
        return result


def test_ingest_while_the_service_runs(tmp_path: Path) -> None:
    port = free_port()
    config = process_config(
        tmp_path,
        port,
        MODEL_CACHE,
        ingest={"allowed_roots": [str(tmp_path)]},
        llm={"base_url": f"http://127.0.0.1:{free_port()}/v1", "max_retries": 0},
    )
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "parking-policy.md").write_text(
        "# Parking Policy\n\n## Permits\n\nA monthly parking permit for the Tokyo office garage "
        "costs 8000 yen and is requested from the facilities team.\n"
    )
    log = tmp_path / "service.log"
    with log.open("wb") as out:
        service = subprocess.Popen(
            [*RAGSVC, "serve", "--config", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_up(url, service, log)
        ingest = subprocess.run(
            [*RAGSVC, "ingest", str(policies), "--config", str(config), "--quiet"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ingest.returncode == 0, ingest.stderr + ingest.stdout
        assert "handing the job to the running service" in ingest.stderr
        assert "parking-policy.md" not in ingest.stderr  # no failure listed
        answer = _post(f"{url}/v1/ask", {"question": "How much is a parking permit in Tokyo?"})
        sources = answer["sources"]
        assert isinstance(sources, list) and sources
        assert sources[0]["source"] == "parking-policy.md", answer
        assert "8000 yen" in str(answer["answer"])
    finally:
        service.terminate()
        service.wait(timeout=60)
