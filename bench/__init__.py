"""Development benchmarks on public data (loaders and the help-desk mix: ragsvc.evaluation)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
"""``../shared/data`` beside the checkout (see its README for sources and licences)."""
