"""A real uvicorn server on a free loopback port, in a thread, for tests that talk HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from litestar import Litestar


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: Litestar, startup_timeout_s: float = 60) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server on port {port} did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def process_config(root: Path, port: int, model_cache: Path, **groups: dict[str, Any]) -> Path:
    """A settings file for a ``ragsvc serve`` process: every file it writes under ``root``, the
    SLM off (a process test loads no GGUF); ``groups`` add to or override the groups."""
    config: dict[str, Any] = {
        "store": {"path": str(root / "qdrant")},
        "traces": {"path": str(root / "traces.sqlite")},
        "cost": {"ledger_path": str(root / "cost.sqlite")},
        "api": {
            "admin_key_file": str(root / "admin.key"),
            "operator_key_file": str(root / "operator.key"),
        },
        "server": {"port": port},
        "slm": {"enabled": False},
        "model_cache_dir": str(model_cache),
    }
    for name, fields in groups.items():
        config[name] = {**config.get(name, {}), **fields}
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def wait_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 180) -> None:
    """Until ``/healthz`` answers; the log's tail in the failure when the process exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("the service did not start: " + log.read_text()[-3000:])


@contextmanager
def served(config: Path, port: int, log: Path) -> Iterator[str]:
    """``ragsvc serve --config config`` as its own process, its output in ``log``, until the block
    ends; yields its base URL once ``/healthz`` answers."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ragsvc.cli", "serve", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_up(url, process, log)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=60)
