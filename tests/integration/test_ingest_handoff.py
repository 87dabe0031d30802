"""Operators ingest and re-index while the service runs: ``ragsvc ingest`` and ``ragsvc reindex``
hand their job to the service, which holds the embedded Qdrant store; the new document is
answerable without a restart, and still is from the new collection after the re-index."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.conftest import MODEL_CACHE
from tests.live_server import free_port, process_config, served

RAGSVC = [sys.executable, "-m", "ragsvc.cli"]
QUESTION = "How much is a parking permit in Tokyo?"


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
    with served(config, port, tmp_path / "service.log") as url:
        ingest = ragsvc("ingest", str(policies), "--config", str(config), "--quiet")
        assert ingest.returncode == 0, ingest.stderr + ingest.stdout
        assert "handing the job to the running service" in ingest.stderr
        assert "parking-policy.md" not in ingest.stderr  # no failure listed
        answered = _post(f"{url}/v1/ask", {"question": QUESTION})
        reindex = ragsvc("reindex", "--config", str(config), "--quiet")
        assert reindex.returncode == 0, reindex.stderr + reindex.stdout
        assert "handing the re-index to the running service" in reindex.stderr
        assert "alias 'ragsvc' now points at collection 'ragsvc-" in reindex.stdout
        reanswered = _post(f"{url}/v1/ask", {"question": QUESTION})
    for answer in (answered, reanswered):
        sources = answer["sources"]
        assert isinstance(sources, list) and sources
        assert sources[0]["source"] == "parking-policy.md", answer
        assert "8000 yen" in str(answer["answer"])


def ragsvc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAGSVC, *args], capture_output=True, text=True, timeout=300)
