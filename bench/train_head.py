"""Fit the complexity head (ragsvc/analysis/head.py) on the training half of the routing data.

    python bench/train_head.py [--data ../shared/data] [--out ragsvc/analysis/complexity_head.npz]

Reads ../shared/data/routing/route_mix_{en,ja}.jsonl, keeps the questions of the training half
(``in_training_half``: a hash of the question, so the split holds whatever the file order), adds
the help-desk examples of ragsvc/analysis/exemplars.yaml (simple_factual and complex, each weighing
``--example-weight`` rows: a few dozen questions against thousands), embeds them with the
configured embedder (the default: MiniLM) and fits one head per language. Prints the held-out
half's accuracy per source and the examples' own accuracy as a check; bench/analysis.py is the
measurement.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data_parser, parse_with_data
from ragsvc.analysis.fast import load_exemplars
from ragsvc.analysis.head import (
    DEFAULT_HEAD,
    ComplexityHead,
    features,
    fit_language_head,
    in_training_half,
)
from ragsvc.embedding import build_embedder
from ragsvc.settings import load_settings
from ragsvc.text.language import detect_language


def main() -> int:
    parser = data_parser(__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_HEAD)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--example-weight", type=float, default=20.0)
    args = parse_with_data(parser)
    settings = load_settings(args.config)
    embedder = build_embedder(settings.embedder, settings.model_cache_dir)
    examples = load_exemplars(settings.analysis.exemplars)
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
        own = [
            (q, int(label == "complex"))
            for label in ("simple_factual", "complex")
            for q in examples[label]
            if detect_language(q) == language
        ]
        own_x = [
            features(q, v)
            for (q, _), v in zip(own, embedder.embed_queries([q for q, _ in own]), strict=True)
        ]
        own_y = [label for _, label in own]
        picked = [i for i, t in enumerate(train) if t]
        head = fit_language_head(
            [x[i] for i in picked] + own_x,
            [y[i] for i in picked] + own_y,
            [1.0] * len(picked) + [args.example_weight] * len(own),
        )
        heads[language] = head
        fitted = np.mean(
            [(head.probability(r) >= 0.5) == bool(t) for r, t in zip(own_x, own_y, strict=True)]
        )
        print(f"| {language} | exemplars.yaml (fitted on) | {len(own)} | | {fitted:.3f} |")
        for source in sorted({r["source"] for r in rows}):
            of_source = [i for i, r in enumerate(rows) if r["source"] == source]
            held = [i for i in of_source if not train[i]]
            right = [(head.probability(x[i]) >= 0.5) == bool(y[i]) for i in held]
            print(
                f"| {language} | {source} | {len(of_source) - len(held)} | {len(held)} | "
                f"{np.mean(right):.3f} |"
            )
    ComplexityHead(embedder.name, heads).save(args.out)
    print(f"\nwrote {args.out} (embedder {embedder.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
