"""Fit the complexity head (ragsvc/analysis/head.py) on the training half of the routing data.

    python bench/train_head.py [--data ../shared/data] [--out ragsvc/analysis/complexity_head.npz]

Reads ../shared/data/routing/route_mix_{en,ja}.jsonl, keeps the questions of the training half
(``in_training_half``: a hash of the question, so the split holds whatever the file order), embeds
them with the configured embedder (the default: MiniLM) and fits one head per language. Prints
the held-out half's accuracy per source as a check; bench/analysis.py is the measurement.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import DEFAULT_DATA
from ragsvc.analysis.head import (
    DEFAULT_HEAD,
    ComplexityHead,
    features,
    fit_language_head,
    in_training_half,
)
from ragsvc.embedding import build_embedder
from ragsvc.settings import load_settings


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_HEAD)
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()
    if not (args.data / "README.md").is_file():
        parser.error(f"no evaluation data at {args.data}; pass --data ../shared/data")
    settings = load_settings(args.config)
    embedder = build_embedder(settings.embedder, settings.model_cache_dir)
    heads = {}
    print("| language | source | train | held out | held-out accuracy |")
    print("|---|---|---|---|---|")
    for language in ("en", "ja"):
        lines = (args.data / f"routing/route_mix_{language}.jsonl").read_text().splitlines()
        rows = [json.loads(line) for line in lines]
        questions = [str(r["question"]) for r in rows]
        vectors = embedder.embed_queries(questions)
        x = [features(q, v) for q, v in zip(questions, vectors, strict=True)]
        y = [int(r["label"] == "complex") for r in rows]
        train = [in_training_half(q) for q in questions]
        head = fit_language_head(
            [r for r, t in zip(x, train, strict=True) if t],
            [label for label, t in zip(y, train, strict=True) if t],
        )
        heads[language] = head
        for source in sorted({r["source"] for r in rows}):
            own = [i for i, r in enumerate(rows) if r["source"] == source]
            held = [i for i in own if not train[i]]
            right = [(head.probability(x[i]) >= 0.5) == bool(y[i]) for i in held]
            print(
                f"| {language} | {source} | {len(own) - len(held)} | {len(held)} | "
                f"{np.mean(right):.3f} |"
            )
    ComplexityHead(embedder.name, heads).save(args.out)
    print(f"\nwrote {args.out} (embedder {embedder.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
