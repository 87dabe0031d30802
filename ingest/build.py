"""Turn a read file into the chunks the index stores (FAQ phrasings, or document passages)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from ingest.chunking import chunk_blocks
from ingest.records import FaqEntry, ReadResult
from ragsvc.embedding.base import Embedder, Vectors
from ragsvc.embedding.spaces import EmbeddingSpaces, spaces_of
from ragsvc.settings import ChunkingSettings, FaqAnswerPoint, LexicalSettings
from ragsvc.store.schema import Chunk
from ragsvc.text.language import detect_language
from ragsvc.text.lexical import SparseTerms, document_terms


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def build_chunks(
    read: ReadResult,
    *,
    doc_id: str,
    doc_hash: str,
    source: str,
    source_root: str,
    ingested_at: str,
    chunking: ChunkingSettings,
    learned: Mapping[str, Sequence[str]] | None = None,
    url: str | None = None,
) -> list[Chunk]:
    """``learned``: phrasings confirmed from traffic per FAQ id (``ingest/phrasings.py``),
    indexed with their entry; ``url``: where the file is published (an entry's own wins)."""
    common: dict[str, Any] = {
        "doc_id": doc_id,
        "doc_hash": doc_hash,
        "source": source,
        "source_root": source_root,
        "title": read.title,
        "ingested_at": ingested_at,
        "url": url,
    }
    chunks: list[Chunk] = []
    if read.kind == "faq":
        for entry in read.faqs:
            chunks.extend(
                faq_chunks(
                    entry,
                    read,
                    common,
                    first_no=len(chunks),
                    answer=chunking.faq_answer,
                    learned=(learned or {}).get(entry.faq_id, ()),
                )
            )
    else:
        language = read.language or detect_language(" ".join(b.text for b in read.blocks[:20]))
        for piece in chunk_blocks(read.blocks, chunking):
            headings = piece.section[1:] if piece.section[:1] == (read.title,) else piece.section
            context = " > ".join((read.title, *headings))
            chunks.append(
                Chunk(
                    **common,
                    chunk_no=len(chunks),
                    kind="doc",
                    text=piece.text,
                    language=language,
                    content_hash=_hash(piece.text),
                    section=list(piece.section),
                    page=piece.page,
                    tags=list(read.tags),
                    embed_text=f"{context}\n{piece.text}",
                    lexical_text=f"{context}\n{piece.text}",
                )
            )
    for chunk in chunks:
        chunk.doc_chunks = len(chunks)
    return chunks


def faq_points(
    entry: FaqEntry, answer: FaqAnswerPoint, learned: Sequence[str] = ()
) -> list[tuple[str, str, str]]:
    """``(field, phrasing, embedded text)`` of each point of an entry: its question, each known
    phrasing once, and (unless ``answer`` is "none") its answer."""
    phrasings = dict.fromkeys((entry.question, *entry.alternatives, *learned))
    given = {entry.question, *entry.alternatives}
    points = [
        ("question" if p == entry.question else "phrasing" if p in given else "learned", p, p)
        for p in phrasings
    ]
    if answer != "none":
        text = entry.answer if answer == "answer" else f"{entry.question}\n{entry.answer}"
        points.append(("answer", entry.question, text))
    return points


def faq_chunks(
    entry: FaqEntry,
    read: ReadResult,
    common: dict[str, Any],
    *,
    first_no: int,
    answer: FaqAnswerPoint,
    learned: Sequence[str] = (),
) -> list[Chunk]:
    language = entry.language or read.language or detect_language(entry.question)
    display = f"{entry.question}\n{entry.answer}"
    points = faq_points(entry, answer, learned)
    here = {**common, "url": entry.url or common.get("url")}
    return [
        Chunk(
            **here,
            chunk_no=first_no + n,
            kind="faq",
            text=display,
            language=language,
            content_hash=_hash(f"{field}\n{embedded}\n{display}"),
            tags=sorted({*read.tags, *entry.tags}),
            embed_text=embedded,
            lexical_text=embedded if field == "answer" else f"{phrasing}\n{entry.answer}",
            faq={
                "faq_id": entry.faq_id,
                "question": entry.question,
                "answer": entry.answer,
                "phrasing": phrasing,
                "field": field,
            },
        )
        for n, (field, phrasing, embedded) in enumerate(points)
    ]


def learned_chunk(question_point: dict[str, Any], phrasing: str, chunk_no: int) -> Chunk:
    """A new phrasing point of a published FAQ entry, from the payload of the entry's question
    point: the same entry, answer and version, as ingest would have built it (``faq_chunks``)."""
    fields = {k: v for k, v in question_point.items() if k in _CHUNK_FIELDS}
    faq = question_point["faq"]
    return Chunk(
        **{
            **fields,
            "chunk_no": chunk_no,
            "content_hash": _hash(f"learned\n{phrasing}\n{fields['text']}"),
        },
        embed_text=phrasing,
        lexical_text=f"{phrasing}\n{faq['answer']}",
        faq={**faq, "phrasing": phrasing, "field": "learned"},
    )


_CHUNK_FIELDS = {f.name for f in dataclasses.fields(Chunk)} - {"faq", "embed_text", "lexical_text"}


def embed_chunks(
    chunks: Sequence[Chunk], embedder: Embedder | EmbeddingSpaces, lexical: LexicalSettings
) -> tuple[dict[str, Vectors], list[SparseTerms]]:
    """Each chunk's vector in every dense space and its BM25 vector, as the store takes them."""
    dense = spaces_of(embedder).embed_passages([c.embed_text for c in chunks])
    return dense, [document_terms(c.lexical_text, lexical) for c in chunks]
