"""Where a job may read: the service only under ``ingest.allowed_roots``; the local CLI anywhere.

Either way no file is read through a symlink that leaves the folder it was found in (see
``ingest.job.discover``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path


def expanded(path: Path) -> Path:
    """``~`` and ``~user`` expanded where they name a home folder; otherwise the path as given
    (``~nobody-here/x`` is a relative name, not an error)."""
    try:
        return path.expanduser()
    except RuntimeError:
        return path


def resolve_roots(roots: Iterable[Path]) -> tuple[Path, ...]:
    """The roots made absolute (a relative one from the working directory), symlinks resolved."""
    return tuple(expanded(root).resolve() for root in roots)


def outside_roots(path: Path, roots: Sequence[Path]) -> str | None:
    """None when ``path``, symlinks resolved, lies in one of the (resolved) ``roots``; else why."""
    given = expanded(path)
    resolved = given.resolve()
    if any(resolved.is_relative_to(root) for root in roots):
        return None
    allowed = ", ".join(map(str, roots)) or "none configured"
    if resolved != Path(os.path.normpath(given.absolute())):
        problem = f"symlink leaves the ingest roots: {path} resolves to {resolved}"
    else:
        problem = f"{path} is outside the ingest roots"
    return (
        f"{problem}; ingest.allowed_roots: {allowed}. Give a path under one of them, or add "
        "its folder to ingest.allowed_roots in the service's settings"
    )
