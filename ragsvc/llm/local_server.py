"""``python -m llama_cpp.server`` on loopback: the offline stand-in for a hosted LLM.

``ragsvc serve --with-llm-server`` starts it with the configured GGUF (verified by sha256), waits
until it answers, points ``llm.base_url`` at it and stops it when the service stops.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ragsvc.errors import ConfigError
from ragsvc.settings import LocalLlmServerSettings, Settings

log = logging.getLogger(__name__)


class LocalLlmServer:
    def __init__(self, settings: LocalLlmServerSettings, model_path: Path, alias: str) -> None:
        if not model_path.is_file():
            raise ConfigError(f"LLM model file {model_path} does not exist; run 'make models-llm'")
        self.settings = settings
        self.model_path = model_path
        self.alias = alias
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}/v1"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.model_path),
            "--model_alias", self.alias,
            "--host", self.settings.host,
            "--port", str(self.settings.port),
            "--n_ctx", str(self.settings.n_ctx),
        ]  # fmt: skip

    def start(self, log_file: Path | None = None) -> None:
        """Start the server and wait until ``GET /v1/models`` answers (or fail with its log)."""
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
        output = log_file.open("ab") if log_file else subprocess.DEVNULL
        self._process = subprocess.Popen(self.command(), stdout=output, stderr=output)
        deadline = time.monotonic() + self.settings.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ConfigError(
                    f"the local LLM server exited with code {self._process.returncode}; "
                    f"see {log_file or 'its output'} (is port {self.settings.port} free?)"
                )
            if self.ready():
                log.info("local LLM server ready at %s", self.base_url)
                return
            time.sleep(0.5)
        self.stop()
        raise ConfigError(
            f"the local LLM server did not answer within {self.settings.startup_timeout_s} s"
        )

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


@contextmanager
def serving_local_llm(settings: Settings, log_file: Path) -> Iterator[Settings]:
    """Start ``llama_cpp.server`` with ``llm.local_server.model`` and yield the settings pointed at
    it; the server stops when the block ends, whatever happens inside it."""
    from ragsvc.models.resolve import resolve_model

    local = settings.llm.local_server
    server = LocalLlmServer(
        local, resolve_model(local.model, settings.model_cache_dir), settings.llm.model
    )
    print(f"starting the local LLM server at {server.base_url} ...", file=sys.stderr)
    server.start(log_file=log_file)
    try:
        yield settings.model_copy(
            update={"llm": settings.llm.model_copy(update={"base_url": server.base_url})}
        )
    finally:
        server.stop()
