"""What the serving benches share: a ``ragsvc serve`` process on loopback over a fresh store,
and small HTTP and statistics helpers (standard library only on the client side)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
_SCRIPT = Path(sys.executable).parent / "ragsvc"
RAGSVC = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "ragsvc.cli"]
"""The ``ragsvc`` console script of the running interpreter's environment (``.venv/bin/ragsvc``)."""
KEY_HEADER = "X-API-Key"


def _call(request: urllib.request.Request, timeout: float) -> tuple[int, Any, float]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload = response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, {"detail": exc.read().decode(errors="replace")}
    return status, payload, 1000 * (time.perf_counter() - started)


def post(
    url: str,
    body: dict[str, Any],
    timeout: float = 300,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, dict[str, Any], float]:
    """``(status, JSON body, wall ms)``; an HTTP error status comes back as ``{"detail": text}``."""
    request = urllib.request.Request(
        url,
        json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    return _call(request, timeout)


def get_json(
    url: str, timeout: float = 30, headers: Mapping[str, str] | None = None
) -> tuple[int, Any, float]:
    """``(status, JSON body or {"detail": text}, wall ms)`` of a GET."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    return _call(request, timeout)


def wait_ready(
    url: str,
    service: subprocess.Popen[bytes],
    timeout_s: float = 600,
    accept: tuple[str, ...] = ("ready",),
) -> dict[str, Any]:
    """Poll ``/readyz`` until its status is one of ``accept``; its body."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise SystemExit(f"the service exited with {service.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
                body: dict[str, Any] = json.loads(response.read())
                if body["status"] in accept:
                    return body
        except (urllib.error.URLError, OSError, KeyError):
            pass
        time.sleep(1)
    raise SystemExit("the service did not become ready")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bench_config(root: Path, port: int, **groups: dict[str, Any]) -> Path:
    """A settings file keeping every file the service writes under ``root``; ``groups`` add to
    (or override) its groups, e.g. ``llm={"base_url": ...}``."""
    config: dict[str, Any] = {
        "store": {"path": str(root / "qdrant")},
        "traces": {"path": str(root / "traces.sqlite")},
        "cost": {"ledger_path": str(root / "cost.sqlite")},
        "api": {"admin_key_file": str(root / "admin.key")},
        "server": {"port": port},
        "model_cache_dir": str((ROOT / "var" / "models").resolve()),
    }
    for name, fields in groups.items():
        config[name] = {**config.get(name, {}), **fields}
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def ingest(corpus: Path, config: Path, env: Mapping[str, str] | None = None) -> None:
    """``ragsvc ingest`` into the config's store (no service is running on its port yet)."""
    subprocess.run(
        [*RAGSVC, "ingest", str(corpus), "--config", str(config), "--quiet"],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


@dataclass(frozen=True, slots=True)
class Service:
    url: str
    process: subprocess.Popen[bytes]
    operator_key: str
    log: Path
    readiness: dict[str, Any]

    @property
    def operator(self) -> dict[str, str]:
        """Headers for operator endpoints (traces, stats)."""
        return {KEY_HEADER: self.operator_key}


@contextmanager
def running_service(
    config: Path,
    port: int,
    *,
    env: Mapping[str, str] | None = None,
    with_llm_server: bool = False,
    accept: tuple[str, ...] = ("ready",),
    ready_timeout_s: float = 600,
) -> Iterator[Service]:
    """``ragsvc serve`` with ``config`` (its log beside the config), ready; SIGTERM at the end,
    then SIGKILL if it has not stopped within a minute. An operator key is set in its
    environment (``RAGSVC_API__OPERATOR_API_KEY``), so the bench can read traces and stats."""
    operator_key = secrets.token_urlsafe(24)
    log = config.parent / "service.log"
    command = [*RAGSVC, "serve", "--config", str(config)]
    if with_llm_server:
        command.insert(-2, "--with-llm-server")
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RAGSVC_API__OPERATOR_API_KEY": operator_key, **(env or {})},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            readiness = wait_ready(url, process, ready_timeout_s, accept)
            yield Service(url, process, operator_key, log, readiness)
        finally:
            stop(process)


def stop(process: subprocess.Popen[Any], grace_s: float = 60) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
