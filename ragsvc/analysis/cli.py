"""``ragsvc analyze "question"``: print the analysis of a question and its per-stage timings."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("question")


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("query analysis is being built")
