"""Model resolution: chunk packages joined and sha256-verified, local paths, ModelRef validation."""

from __future__ import annotations

import hashlib
import importlib
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from ragsvc.errors import ConfigError
from ragsvc.models.ref import ModelRef
from ragsvc.models.resolve import join_parts, resolve_model

PARTS = {
    "ragsvc_fake_part_a": [b"GGUF-head-", b"first-half-"],
    "ragsvc_fake_part_b": [b"second-half"],
}
JOINED = b"GGUF-head-first-half-second-half"
JOINED_SHA = hashlib.sha256(JOINED).hexdigest()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Installed "packages" holding raw byte chunks in ``data/partNN.bin``, importable by name."""
    folder = tmp_path / "site"
    for package, chunks in PARTS.items():
        data = folder / package / "data"
        data.mkdir(parents=True)
        (folder / package / "__init__.py").write_text("")
        # written in reverse so that the join order cannot come from creation order
        for number, chunk in reversed(list(enumerate(chunks, start=1))):
            (data / f"part{number:02d}.bin").write_bytes(chunk)
    monkeypatch.syspath_prepend(str(folder))
    importlib.invalidate_caches()
    return folder


def _ref(sha256: str = JOINED_SHA) -> ModelRef:
    return ModelRef(parts=list(PARTS), sha256=sha256, filename="model.gguf")


def test_join_parts_joins_packages_in_order_and_stamps_the_hash(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    target = join_parts(_ref(), cache)
    assert target == cache / "model.gguf"
    assert target.read_bytes() == JOINED
    assert (cache / "model.gguf.sha256").read_text() == JOINED_SHA
    assert not (cache / "model.gguf.partial").exists()


def test_second_join_reuses_the_stamped_file_without_reading_the_packages(
    site: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    target = join_parts(_ref(), cache)
    written = target.stat().st_mtime_ns
    shutil.rmtree(site)  # the packages are gone: a second join would fail
    importlib.invalidate_caches()
    assert join_parts(_ref(), cache) == target
    assert target.stat().st_mtime_ns == written


def test_a_stale_stamp_makes_the_parts_join_again(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "model.gguf").write_bytes(b"an older model")
    (cache / "model.gguf.sha256").write_text("0" * 64)
    assert join_parts(_ref(), cache).read_bytes() == JOINED


def test_wrong_sha256_is_a_config_error_naming_both_hashes(site: Path, tmp_path: Path) -> None:
    wrong = "ab" * 32
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError) as error:
        join_parts(_ref(sha256=wrong), cache)
    assert wrong in str(error.value)
    assert JOINED_SHA in str(error.value)
    assert not (cache / "model.gguf").exists()
    assert not (cache / "model.gguf.sha256").exists()


def test_missing_chunk_package_is_a_config_error_naming_the_pip_install(
    site: Path, tmp_path: Path
) -> None:
    ref = ModelRef(
        parts=["ragsvc_fake_part_a", "ragsvc_missing_part_z"],
        sha256=JOINED_SHA,
        filename="model.gguf",
    )
    with pytest.raises(ConfigError, match="pip install ragsvc-missing-part-z"):
        join_parts(ref, tmp_path / "cache")


def test_package_without_chunks_is_a_config_error(site: Path, tmp_path: Path) -> None:
    (site / "ragsvc_fake_empty").mkdir()
    (site / "ragsvc_fake_empty" / "__init__.py").write_text("")
    importlib.invalidate_caches()
    ref = ModelRef(parts=["ragsvc_fake_empty"], sha256=JOINED_SHA, filename="model.gguf")
    with pytest.raises(ConfigError, match=r"holds no \*\.bin chunk"):
        join_parts(ref, tmp_path / "cache")


def test_parts_need_a_pinned_sha256_and_filename(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'sha256' and 'filename'"):
        join_parts(ModelRef(parts=["ragsvc_fake_part_a"]), tmp_path / "cache")


def test_resolve_model_of_parts_joins_them(site: Path, tmp_path: Path) -> None:
    assert resolve_model(_ref(), tmp_path / "cache").read_bytes() == JOINED


def test_resolve_model_of_a_package_subpath(site: Path, tmp_path: Path) -> None:
    ref = ModelRef(package="ragsvc-fake-part-a", subpath="data")
    assert resolve_model(ref, tmp_path) == site / "ragsvc_fake_part_a" / "data"


def test_resolve_model_of_a_local_file_checks_its_sha256(tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(JOINED)
    assert resolve_model(ModelRef(path=model, sha256=JOINED_SHA.upper()), tmp_path) == model
    with pytest.raises(ConfigError, match=JOINED_SHA):
        resolve_model(ModelRef(path=model, sha256="cd" * 32), tmp_path)


def test_resolve_model_of_a_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model(ModelRef(path=tmp_path / "nowhere.gguf"), tmp_path)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"subpath": "model", "sha256": JOINED_SHA},
        {"package": "pkg", "path": "/models/m.gguf"},
        {"parts": ["p1", "p2"], "hf_repo": "org/model"},
        {"path": "/models/m.gguf", "hf_repo": "org/model"},
    ],
)
def test_model_ref_needs_exactly_one_source(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="exactly one of"):
        ModelRef.model_validate(fields)


@pytest.mark.parametrize(
    "fields",
    [
        {"package": "pkg", "subpath": "model"},
        {"parts": ["p1", "p2"], "sha256": JOINED_SHA, "filename": "m.gguf"},
        {"path": "/models/m.gguf"},
        {"hf_repo": "org/model", "hf_file": "m.gguf"},
    ],
)
def test_model_ref_with_one_source_is_valid(fields: dict[str, object]) -> None:
    ModelRef.model_validate(fields)
