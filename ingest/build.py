"""Turn a read file into the chunks the index stores (FAQ phrasings, or document passages)."""

from __future__ import annotations

import hashlib
from typing import Any

from ingest.chunking import chunk_blocks
from ingest.records import ReadResult
from ragsvc.settings import ChunkingSettings
from ragsvc.store.schema import Chunk
from ragsvc.text.language import detect_language


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
) -> list[Chunk]:
    common: dict[str, Any] = {
        "doc_id": doc_id,
        "doc_hash": doc_hash,
        "source": source,
        "source_root": source_root,
        "title": read.title,
        "ingested_at": ingested_at,
    }
    chunks: list[Chunk] = []
    if read.kind == "faq":
        for entry in read.faqs:
            language = entry.language or read.language or detect_language(entry.question)
            display = f"{entry.question}\n{entry.answer}"
            for phrasing in dict.fromkeys((entry.question, *entry.alternatives)):
                chunks.append(
                    Chunk(
                        **common,
                        chunk_no=len(chunks),
                        kind="faq",
                        text=display,
                        language=language,
                        content_hash=_hash(phrasing + "\n" + display),
                        tags=sorted({*read.tags, *entry.tags}),
                        embed_text=phrasing,
                        lexical_text=f"{phrasing}\n{entry.answer}",
                        faq={
                            "faq_id": entry.faq_id,
                            "question": entry.question,
                            "answer": entry.answer,
                            "phrasing": phrasing,
                        },
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
