"""Structure-aware chunking: blocks under one heading (and page) are packed into token-bounded
chunks; a block longer than the bound is split at sentence ends, and at token boundaries as a last
resort; consecutive chunks of one section overlap by up to ``overlap_tokens`` whole sentences.

Tokens are counted as Latin words/numbers plus single CJK characters: close to what the embedders'
tokenizers see, and independent of the embedder so that chunk boundaries do not move with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby, pairwise

from ingest.records import Block
from ragsvc.settings import ChunkingSettings

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f々〆"
# A Latin run stops at CJK script (also \w): "KumoConnectの使い方" is 5 tokens, not 1.
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


@dataclass(frozen=True, slots=True)
class TextChunk:
    text: str
    section: tuple[str, ...]
    page: int | None


def _split_long(sentence: str, max_tokens: int) -> list[str]:
    """Cut a sentence with more than ``max_tokens`` tokens at token boundaries."""
    spans = [m.start() for m in _TOKEN.finditer(sentence)]
    cuts = [spans[i] for i in range(max_tokens, len(spans), max_tokens)]
    bounds = [0, *cuts, len(sentence)]
    return [sentence[a:b].strip() for a, b in pairwise(bounds) if sentence[a:b].strip()]


def _sentences(text: str, max_tokens: int) -> list[str]:
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if sentence.strip():
            out.extend(_split_long(sentence.strip(), max_tokens))
    return out


def _join(parts: list[str]) -> str:
    text = ""
    for part in parts:
        glue = "" if not text or re.search(r"[。！？]$", text) else " "
        text += glue + part
    return text


def _pack(units: list[str], settings: ChunkingSettings) -> list[str]:
    """Greedy packing of sentences; each new chunk repeats the previous chunk's last sentences."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for unit in units:
        tokens = count_tokens(unit)
        if current and size + tokens > settings.max_tokens:
            chunks.append(_join(current))
            carry: list[str] = []
            carried = 0
            for previous in reversed(current):
                n = count_tokens(previous)
                if (
                    carried + n > settings.overlap_tokens
                    or carried + n + tokens > settings.max_tokens
                ):
                    break
                carry.insert(0, previous)
                carried += n
            current, size = carry, carried
        current.append(unit)
        size += tokens
    if current:
        chunks.append(_join(current))
    return chunks


def chunk_blocks(blocks: list[Block], settings: ChunkingSettings) -> list[TextChunk]:
    chunks: list[TextChunk] = []
    for (section, page), group in groupby(blocks, key=lambda b: (b.section, b.page)):
        units: list[str] = []
        for block in group:
            units.extend(_sentences(block.text, settings.max_tokens))
        chunks.extend(TextChunk(text, section, page) for text in _pack(units, settings))
    return chunks
