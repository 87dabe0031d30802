"""Speed options for embedding passages with MiniLM, measured in one run on the same inputs.

    python bench/embedding.py [--data ../shared/data] [--repeats 2]

Inputs: the chunks the ingest job makes of StackFAQ (as a JSON FAQ file) and the 20 PolicyQA
policies (as text files), as in bench/retrieval.py, embedded the way ``IngestJob`` does: per file,
``ingest.batch_size`` chunks per ``embed_passages`` call. Timings are the best of ``--repeats``
rounds, the options taken in turn within a round, so a shared machine's load hits them alike; read
the speed-ups, not the absolute rates. Quality: cosine of each chunk's vector to float32; StackFAQ
dense top-1 of the 1,249 reworded queries against the 125 FAQ entries embedded as passages, either
their questions (as the ingest job indexes an FAQ entry) or question + answer, both sides with the
option, and the questions from float32 (an index built before switching); one query's embedding
time (p50), as at search time.
"""

from __future__ import annotations

import contextlib
import copy
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import data_parser, parse_with_data
from bench.retrieval import _write_corpus
from ingest.build import build_chunks
from ingest.job import discover
from ingest.readers import read_file
from ragsvc.embedding.base import Vectors, normalise
from ragsvc.embedding.sentence_transformer import SentenceTransformerEmbedder, native_bfloat16
from ragsvc.evaluation.datasets import POLICYQA, STACKFAQ, squad_passages
from ragsvc.evaluation.datasets import stackfaq as load_stackfaq
from ragsvc.models.resolve import resolve_model
from ragsvc.settings import Settings, load_settings

Encode = Callable[[list[str]], Vectors]
QUERY_LATENCY_SAMPLES = 50


@dataclass
class Option:
    name: str
    encode: Encode
    one_call: bool = False
    """All chunks in one encode call (sentence-transformers then sorts them all by length)."""
    threads: int | None = None
    seconds: float = float("inf")
    vectors: Vectors | None = None
    """The chunks' vectors from the last timed round."""


def ingest_chunks(settings: Settings, data: Path, workdir: Path) -> list[list[str]]:
    """The ``embed_text`` of every chunk the ingest job makes, one list per file."""
    faqs = load_stackfaq(data / STACKFAQ)
    policies, _ = squad_passages(data / POLICYQA)
    corpus = workdir / "corpus"
    _write_corpus(corpus, faqs, policies)
    files, _, _ = discover([corpus])
    per_file = []
    for source in files:
        chunks = build_chunks(
            read_file(source.path),
            doc_id=source.doc_id,
            doc_hash="bench",
            source=source.source,
            source_root=str(source.root),
            ingested_at="",
            chunking=settings.chunking,
        )
        per_file.append([c.embed_text for c in chunks])
    return per_file


def model_encoder(model: Any, batch_size: int, autocast_bf16: bool = False) -> Encode:
    """A hand-modified SentenceTransformer, called as the embedder calls it."""
    import torch

    def encode(texts: list[str]) -> Vectors:
        context: contextlib.AbstractContextManager[Any] = (
            torch.autocast("cpu", dtype=torch.bfloat16)
            if autocast_bf16
            else contextlib.nullcontext()
        )
        with context:
            vectors = model.encode(
                texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
            )
        return normalise(np.asarray(vectors, dtype=np.float32))

    return encode


def build_options(path: Path, size: int) -> tuple[list[Option], Any]:
    """The current setting first, the others are compared with it; and the float32 model."""
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

    fp32 = SentenceTransformerEmbedder(path, size, precision="float32")
    bf16 = SentenceTransformerEmbedder(path, size, precision="bfloat16")
    fp32.warm_up()
    bf16.warm_up()
    model = fp32._model

    def quantised(qconfig: Any) -> Any:
        with warnings.catch_warnings():  # eager-mode quantisation is deprecated in torch 2.x
            warnings.simplefilter("ignore")
            return torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
                copy.deepcopy(model), {torch.nn.Linear: qconfig}, dtype=torch.qint8
            )

    bf16_weights = copy.deepcopy(model).to(torch.bfloat16)
    short = copy.deepcopy(model)
    short.max_seq_length = 128
    options = [
        Option("fp32 (current: 2 threads, encode batch 64)", fp32.embed_passages),
        Option("fp32, 1 thread", fp32.embed_passages, threads=1),
        Option("fp32, encode batch 16", model_encoder(model, 16)),
        Option("fp32, encode batch 128, all chunks in one call", model_encoder(model, 128), True),
        Option("fp32, max_seq_length 128 (truncates)", model_encoder(short, size)),
        Option("int8 dynamic, per-tensor", model_encoder(quantised(default_dynamic_qconfig), size)),
        Option(
            "int8 dynamic, per-channel", model_encoder(quantised(per_channel_dynamic_qconfig), size)
        ),
        Option("bf16 weights (model.to(bfloat16))", model_encoder(bf16_weights, size)),
        Option("bf16 autocast (precision: bfloat16)", bf16.embed_passages),
        Option("bf16 autocast, encode batch 16", model_encoder(model, 16, autocast_bf16=True)),
    ]
    return options, model


def time_ingest(option: Option, per_file: list[list[str]], ingest_batch: int) -> float:
    """Seconds to embed every chunk as the ingest job does; keeps the vectors on ``option``."""
    import torch

    threads = torch.get_num_threads()
    if option.threads:
        torch.set_num_threads(option.threads)
    try:
        started = time.perf_counter()
        if option.one_call:
            parts = [option.encode([t for texts in per_file for t in texts])]
        else:
            parts = [
                option.encode(texts[start : start + ingest_batch])
                for texts in per_file
                for start in range(0, len(texts), ingest_batch)
            ]
        seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)
    option.vectors = np.vstack(parts)
    return seconds


def padding(model: Any, per_file: list[list[str]], ingest_batch: int) -> str:
    """Word pieces the forward passes see: real, padded as ingest batches, padded if all sorted.

    sentence-transformers sorts by length within one encode call; the ingest job calls it per file
    with ``ingest.batch_size`` chunks, so sorting can only happen within those.
    """
    limit = model.max_seq_length

    def padded(groups: list[list[int]]) -> int:
        return sum(max(g) * len(g) for g in groups if g)

    lengths = [
        [min(limit, len(ids)) for ids in model.tokenizer(texts)["input_ids"]] for texts in per_file
    ]
    batches = [
        sorted(ls[start : start + ingest_batch])
        for ls in lengths
        for start in range(0, len(ls), ingest_batch)
    ]
    everything = sorted(n for ls in lengths for n in ls)
    together = [everything[i : i + ingest_batch] for i in range(0, len(everything), ingest_batch)]
    return (
        f"word pieces: {sum(everything):,} real, {padded(batches):,} padded in ingest batches of "
        f"{ingest_batch}, {padded(together):,} if all chunks were sorted together; chunk length "
        f"median {int(np.median(everything))}, max {max(everything)} (max_seq_length {limit})"
    )


def top1(queries: Vectors, passages: Vectors, gold: np.ndarray) -> float:
    return float(np.mean(np.argmax(queries @ passages.T, axis=1) == gold))


def query_p50_ms(option: Option, queries: list[str]) -> float:
    times = []
    for query in queries[:QUERY_LATENCY_SAMPLES]:
        started = time.perf_counter()
        option.encode([query])
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def main() -> int:
    parser = data_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=2, help="timing rounds; the best counts")
    args = parse_with_data(parser)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    settings = load_settings()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ragsvc-bench-") as tmp:
        per_file = ingest_chunks(settings, args.data, Path(tmp))
    chunks = [t for texts in per_file for t in texts]
    path = resolve_model(settings.embedder.model, settings.model_cache_dir)
    options, model = build_options(path, settings.embedder.batch_size)
    faqs = load_stackfaq(args.data / STACKFAQ)
    faq_questions = [f.question for f in faqs]
    faq_texts = [f"{f.question}\n{f.answer}" for f in faqs]
    queries = [q for f in faqs for q in f.queries]
    gold = np.array([n for n, f in enumerate(faqs) for _ in f.queries])

    for option in options:  # warm-up: first calls allocate and pick kernels
        option.encode(chunks[:16])
    for _ in range(max(1, args.repeats)):
        for option in options:
            seconds = time_ingest(option, per_file, settings.ingest.batch_size)
            option.seconds = min(option.seconds, seconds)
            print(f"[{option.name}: {seconds:.1f} s]", file=sys.stderr, flush=True)

    reference = options[0]
    ref_questions = reference.encode(faq_questions)
    rows = []
    for option in options:
        cosine = np.sum(option.vectors * reference.vectors, axis=1)  # type: ignore[operator]
        query_vectors = option.encode(queries)
        rows.append(
            f"| {option.name} | {len(chunks) / option.seconds:.1f} "
            f"| {reference.seconds / option.seconds:.2f}x "
            f"| {cosine.mean():.5f} / {cosine.min():.5f} "
            f"| {top1(query_vectors, option.encode(faq_questions), gold):.4f} "
            f"| {top1(query_vectors, option.encode(faq_texts), gold):.4f} "
            f"| {top1(query_vectors, ref_questions, gold):.4f} "
            f"| {query_p50_ms(option, queries):.1f} |"
        )

    print(
        f"### Passage embedding, all-MiniLM-L6-v2 ({len(chunks)} ingest chunks of StackFAQ + "
        f"20 PolicyQA policies, best of {args.repeats}; StackFAQ n={len(queries)})"
    )
    print()
    print(
        "| option | chunks/s | speed-up vs fp32 | cosine to fp32 (mean / min) "
        "| StackFAQ dense top-1, questions | questions + answers | questions from fp32 "
        "| 1 query p50 ms |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))
    print()
    print(padding(model, per_file, settings.ingest.batch_size))
    print(
        f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} intra-op / {torch.get_num_interop_threads()} inter-op threads, "
        f"bfloat16 hardware: {native_bfloat16()}, load average {load_before:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end (a shared machine: compare ratios within this run)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
