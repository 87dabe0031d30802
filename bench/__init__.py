"""Development benchmarks on public data (loaders and the help-desk mix: ragsvc.evaluation)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
"""``../shared/data`` beside the checkout (see its README for sources and licences)."""


def data_parser(description: str | None) -> argparse.ArgumentParser:
    """A bench's argument parser with ``--data`` (the evaluation sets)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    return parser


def parse_with_data(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The arguments, refused when ``--data`` holds no evaluation sets."""
    args = parser.parse_args()
    if not (args.data / "README.md").is_file():
        parser.error(f"no evaluation data at {args.data}; pass --data ../shared/data")
    return args
