"""Integration fixtures: the demo corpus in embedded Qdrant on disk, and a real OpenAI-compatible
LLM server (llama_cpp.server with SmolLM2-135M) on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.job import IngestJob
from ragsvc.embedding.spaces import EmbeddingSpaces
from ragsvc.index import Index, open_index
from ragsvc.llm.local_server import LocalLlmServer
from ragsvc.models.ref import ModelRef
from ragsvc.settings import LocalLlmServerSettings, Settings
from tests.conftest import DEMO_CORPUS, make_settings
from tests.live_server import free_port

TINY_LLM = "smollm2-135m"
DEMO_SITE = "https://intranet.example.com/helpdesk/"
"""Where the demo corpus is "published": citations link under it (``ingest.source_urls``)."""


@pytest.fixture(scope="module")
def llm_server(
    tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalLlmServer]:
    settings = LocalLlmServerSettings(port=free_port(), n_ctx=2048, startup_timeout_s=120)
    server = LocalLlmServer(settings, tiny_gguf, TINY_LLM)
    server.start(log_file=tmp_path_factory.mktemp("llm") / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def demo_settings(tmp_path_factory: pytest.TempPathFactory, tiny_gguf: Path) -> Settings:
    """Defaults, files in a temp folder, SmolLM2 as the SLM (the default Qwen is tested apart)."""
    tmp = tmp_path_factory.mktemp("demo")
    base = make_settings(
        tmp,
        multilingual={"enabled": True},
        ingest={"source_urls": {str(DEMO_CORPUS): DEMO_SITE}},
    )
    return base.model_copy(
        update={
            "slm": base.slm.model_copy(
                update={"name": TINY_LLM, "model": ModelRef(path=tiny_gguf)}
            ),
            "cost": base.cost.model_copy(update={"ledger_path": tmp / "cost.sqlite"}),
            "api": base.api.model_copy(
                update={
                    "admin_key_file": tmp / "admin.key",
                    "operator_key_file": tmp / "operator.key",
                }
            ),
        }
    )


@pytest.fixture(scope="module")
def demo_index(demo_settings: Settings, spaces: EmbeddingSpaces) -> Iterator[Index]:
    """The demo corpus ingested once per module into embedded Qdrant on disk."""
    index = open_index(demo_settings, spaces)
    report = IngestJob(index.store, demo_settings).run([DEMO_CORPUS])
    assert report.ok, report.failed
    yield index
    index.close()
