"""Follow-ups made self-contained by rules (``ragsvc/pipeline/followup.py``): does the rewrite
bring back what the follow-up alone cannot find?

    python bench/followup.py [--data ../shared/data] [--pairs 400]

No set of real help-desk conversations is in ``../shared/data``, so follow-ups are derived from
real questions: JSQuAD asks several questions of each Wikipedia article, most naming the article's
subject. For two questions of one article that both name it, the second with the subject replaced
by 「それ」 is the follow-up ("東京タワーの高さは？" then "それはいつ完成した？"); the first is the
conversation's previous question. Each follow-up is retrieved (the real hybrid retriever, MiniLM
+ multilingual-e5 and BM25, over every JSQuAD paragraph in a Qdrant Edge store) four ways: as
written alone (what a service without conversations does), as the rules make it (the service),
always joined to the previous question (the crude baseline), and the original question (the
ceiling). Recall@5 of the gold paragraph; also how many follow-ups the rules recognised and how
many stand-alone questions (the originals) they took for follow-ups. Japanese only: no English
set here asks several questions of one named subject. Last, the share of real stand-alone
questions (JSQuAD, NQ + HotpotQA, Banking77, CLINC150, StackFAQ) the rules would take for
follow-ups had they come after another question: a rewrite they do not need.
"""

from __future__ import annotations

import csv
import json
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data_parser, parse_with_data
from bench.retrieval import _index_passages
from ragsvc.embedding import build_embedder
from ragsvc.evaluation.datasets import PassageQuestion, squad_passages, stackfaq
from ragsvc.index import build_spaces
from ragsvc.pipeline.followup import follow_up_rule, standalone
from ragsvc.retrieval.hybrid import HybridRetriever
from ragsvc.settings import load_settings
from ragsvc.store.edge import EdgeBackend
from ragsvc.store.qdrant_store import ChunkStore
from ragsvc.store.schema import SearchFilters

JSQUAD = Path("ja/jsquad_valid.json")
POINTER = "それ"


def follow_up_pairs(
    questions: list[PassageQuestion], count: int, seed: int
) -> list[tuple[str, str, PassageQuestion]]:
    """``(previous question, follow-up, original)`` for pairs of one article's questions that
    both name the article's subject once."""
    by_title: dict[str, list[PassageQuestion]] = {}
    for q in questions:
        if q.title and q.question.count(q.title) == 1:
            by_title.setdefault(q.title, []).append(q)
    rng = random.Random(seed)
    pairs = []
    for asked in by_title.values():
        if len(asked) >= 2:
            first, second = rng.sample(asked, 2)
            pairs.append((first.question, second.question.replace(second.title, POINTER), second))
    rng.shuffle(pairs)
    return pairs[:count]


def main() -> int:
    parser = data_parser(__doc__)
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--seed", type=int, default=13)
    args = parse_with_data(parser)
    settings = load_settings()
    passages, questions = squad_passages(args.data / JSQUAD)
    pairs = follow_up_pairs(questions, args.pairs, args.seed)
    spaces = build_spaces(settings, build_embedder(settings.embedder, settings.model_cache_dir))
    spaces.warm_up()
    store = ChunkStore(EdgeBackend.scratch_store("followup"), spaces)
    _index_passages(store, spaces, settings, passages)
    offset = settings.multilingual.cross_language_offset
    retriever = HybridRetriever(store, settings.retrieval, offset)

    def found(question: str, gold: str) -> bool:
        hits = retriever.search(question, SearchFilters(), top_k=5)
        return any(f"{h.payload['doc_id']}#{h.payload['chunk_no']}" == gold for h in hits)

    ways: dict[str, list[bool]] = {k: [] for k in ("alone", "rules", "joined", "original")}
    recognised = 0
    for previous, follow_up, original in pairs:
        rewrite = standalone(follow_up, (previous,))
        recognised += rewrite is not None
        gold = original.passage_id
        ways["alone"].append(found(follow_up, gold))
        ways["rules"].append(found(rewrite.question if rewrite else follow_up, gold))
        ways["joined"].append(found(f"{previous} {follow_up}", gold))
        ways["original"].append(found(original.question, gold))
    mistaken = sum(follow_up_rule(q.question) is not None for _, _, q in pairs)
    store.close()
    n = len(pairs)
    print(
        f"{n} JSQuAD follow-ups (seed {args.seed}); the rules recognised {recognised} "
        f"({recognised / n:.1%}); of the {n} original questions they took "
        f"{mistaken} ({mistaken / n:.1%}) for follow-ups.\n"
    )
    print("| follow-up retrieved | recall@5 |")
    print("|---|---|")
    labels = {
        "alone": "as written, alone (no conversation)",
        "rules": "as the rules make it (the service)",
        "joined": "always joined to the previous question",
        "original": "the original question (ceiling)",
    }
    for way, hits in ways.items():
        print(f"| {labels[way]} | {statistics.fmean(hits):.3f} |")
    print("\n| stand-alone questions (each of a set) taken for follow-ups | n | share |")
    print("|---|---|---|")
    for name, asked in standalone_sets(args.data, questions).items():
        taken = sum(follow_up_rule(q) is not None for q in asked)
        print(f"| {name} | {len(asked)} | {taken / len(asked):.2%} |")
    return 0


def standalone_sets(data: Path, jsquad: list[PassageQuestion]) -> dict[str, list[str]]:
    """Real questions that each stand alone: what the rules should leave as written."""
    with (data / "faq" / "banking77" / "train.csv").open(encoding="utf-8") as fh:
        banking = [row["text"] for row in csv.DictReader(fh)]
    clinc = json.loads((data / "oos" / "clinc150" / "dev.json").read_text(encoding="utf-8"))
    with (data / "routing" / "route_mix_en.jsonl").open(encoding="utf-8") as fh:
        open_domain = [json.loads(line)["question"] for line in fh]
    return {
        "JSQuAD (ja)": [q.question for q in jsquad],
        "NQ + HotpotQA (route_mix_en)": open_domain,
        "Banking77 train": banking,
        "CLINC150 (every split)": [row[0] for rows in clinc.values() for row in rows],
        "StackFAQ rewordings": [
            q
            for item in stackfaq(data / "faq" / "stackfaq" / "stackExchange-FAQ.json")
            for q in item.queries
        ],
    }


if __name__ == "__main__":
    raise SystemExit(main())
