"""FAQ candidates for the console: the recurring questions on the costly routes (the clustering of
``ragsvc traces cluster``, with the service's own embedder), each with the FAQ entry that comes
closest today; and the two ways to act on one: its questions as phrasings of that entry, or a new
entry in the console's FAQ file, ingested like an upload."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from datetime import datetime

import yaml

from ragsvc.embedding.spaces import PRIMARY
from ragsvc.ingest_jobs import IngestJobState
from ragsvc.retrieval.faq import FaqMatch
from ragsvc.runtime import Runtime
from ragsvc.traces.cli import DEFAULT_ROUTES, recent_traces
from ragsvc.traces.cluster import (
    DEFAULT_THRESHOLD,
    QuestionCluster,
    TracedQuestion,
    cluster_questions,
    embed_distinct,
)

CONSOLE_FAQ_FILE = "console-faq.yaml"
"""The FAQ file in ``ingest.upload_dir`` that entries added from the console are kept in."""
MAX_TRACES = 5000
_file_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Candidate:
    cluster: QuestionCluster
    closest: FaqMatch | None
    """The FAQ entry the representative question comes closest to (below the threshold, or it
    would not be on a costly route)."""


def find_candidates(runtime: Runtime, since: datetime) -> list[Candidate]:
    traces = recent_traces(runtime.traces, DEFAULT_ROUTES, since, MAX_TRACES)
    questions = [TracedQuestion.of(t) for t in traces if not t.question_redacted]
    if not questions:
        return []
    embedder = runtime.index.retriever.spaces.embedders()[PRIMARY]
    vectors = embed_distinct(embedder, [q.question for q in questions])
    clusters = cluster_questions(questions, vectors, DEFAULT_THRESHOLD)
    return [
        Candidate(c, next(iter(runtime.index.faq.match(c.representative)), None)) for c in clusters
    ]


def add_entry(runtime: Runtime, question: str, answer: str, phrasings: list[str]) -> IngestJobState:
    """Append an entry to the console's FAQ file and ingest it (as an upload: checked, written
    whole, then indexed by a job)."""
    path = runtime.ingest.upload_dir / CONSOLE_FAQ_FILE
    with _file_lock:
        entries = (yaml.safe_load(path.read_text(encoding="utf-8")) or []) if path.is_file() else []
        alternatives = [p for p in dict.fromkeys(phrasings) if p != question.strip()]
        entries.append(
            {"question": question.strip(), "answer": answer.strip(), "alternatives": alternatives}
        )
        text = yaml.safe_dump(entries, allow_unicode=True, sort_keys=False)
        return runtime.ingest.upload([(CONSOLE_FAQ_FILE, io.BytesIO(text.encode()))])
