"""Settings: defaults < config file < RAGSVC_* environment; bad input is a ConfigError naming it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ragsvc.errors import ConfigError
from ragsvc.settings import CONFIG_ENV_VAR, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No RAGSVC_* from the caller's shell; monkeypatch puts the original environment back."""
    for name in list(os.environ):
        if name.startswith("RAGSVC_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_defaults_come_from_the_default_config_file() -> None:
    settings = load_settings()
    assert settings.retrieval.top_k == 5
    assert settings.chunking.max_tokens == 160


def test_environment_overrides_a_nested_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGSVC_RETRIEVAL__TOP_K", "7")
    monkeypatch.setenv("RAGSVC_STORE__URL", "http://qdrant:6333")
    settings = load_settings()
    assert settings.retrieval.top_k == 7
    assert settings.store.url == "http://qdrant:6333"
    assert settings.retrieval.candidates == 50  # the rest of the group keeps its values


def test_config_file_overrides_defaults_and_environment_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, "retrieval:\n  top_k: 3\n  candidates: 30\n")
    settings = load_settings(config)
    assert (settings.retrieval.top_k, settings.retrieval.candidates) == (3, 30)
    monkeypatch.setenv("RAGSVC_RETRIEVAL__TOP_K", "9")
    settings = load_settings(config)
    assert (settings.retrieval.top_k, settings.retrieval.candidates) == (9, 30)


def test_a_config_file_given_is_read_for_that_call_only(tmp_path: Path) -> None:
    """``--config`` once in a process (a CLI command, a test) leaves the next load on the
    defaults: the file is not put in the process environment."""
    assert load_settings(_config(tmp_path, "retrieval:\n  top_k: 3\n")).retrieval.top_k == 3
    assert CONFIG_ENV_VAR not in os.environ
    assert load_settings().retrieval.top_k == 5


def test_config_file_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV_VAR, str(_config(tmp_path, "retrieval:\n  top_k: 4\n")))
    assert load_settings().retrieval.top_k == 4


def test_missing_config_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml"):
        load_settings(missing)


def test_invalid_environment_value_is_a_config_error_naming_the_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAGSVC_RETRIEVAL__TOP_K", "0")
    with pytest.raises(ConfigError, match=r"retrieval\.top_k") as error:
        load_settings()
    assert "greater than 0" in str(error.value)


def test_non_numeric_environment_value_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGSVC_LEXICAL__K1", "high")
    with pytest.raises(ConfigError, match=r"lexical\.k1"):
        load_settings()


def test_invalid_config_file_value_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    config = _config(tmp_path, "chunking:\n  max_tokens: 50\n  overlap_tokens: 60\n")
    with pytest.raises(ConfigError, match=r"chunking\.overlap_tokens \(60\)"):
        load_settings(config)


def test_unknown_group_in_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="retreival"):
        load_settings(_config(tmp_path, "retreival:\n  top_k: 3\n"))


def test_unknown_key_inside_a_group_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="topk"):
        load_settings(_config(tmp_path, "retrieval:\n  topk: 3\n"))


def test_config_file_with_invalid_yaml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(_config(tmp_path, "retrieval: [1,\n"))
