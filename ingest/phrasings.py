"""Phrasings learned from use: a question confirmed to be answered by an FAQ entry joins the entry
as one more point, so the next customer who writes it that way gets the FAQ answer directly.

Nothing is added on a guess: a phrasing comes from an admin (``POST /v1/faq/{faq_id}/phrasings``,
``ragsvc faq add-phrasing``), who may name a trace whose question it is. The new point is written
live beside the entry's published points (a point is whole on its own: no staging), with the
entry's version, so a re-ingest of an unchanged FAQ file keeps it; a re-ingest of a changed file
carries the learned phrasings of the entries it still has into the new version
(:func:`learned_phrasings`, read by the ingest job before it rebuilds the file).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.build import embed_chunks, learned_chunk
from ragsvc.errors import InvalidRequestError, NotFoundError
from ragsvc.settings import LexicalSettings
from ragsvc.store.points import Match, any_of, equals
from ragsvc.store.qdrant_store import ChunkStore, live_filter
from ragsvc.store.schema import Chunk, StoredPoint

log = logging.getLogger(__name__)

MAX_PHRASINGS_PER_CALL = 50
MAX_PHRASING_CHARS = 500

LEARNED_CHUNK_BASE = 10**12
"""Learned points are numbered from the phrasing, above any chunk number ingest gives: adding the
same phrasing again rewrites the same point, and two replicas adding at once cannot collide."""


@dataclass(frozen=True, slots=True)
class PhrasingAdded:
    faq_id: str
    doc_id: str
    phrasing: str
    added: bool
    """False when the entry already had this phrasing (nothing written)."""


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def _live_points(store: ChunkStore, *conditions: Match) -> list[StoredPoint]:
    return list(store.scroll(live_filter(*conditions)))


def _entry(store: ChunkStore, faq_id: str, doc_id: str | None) -> tuple[list[StoredPoint], str]:
    """The published points of FAQ entry ``faq_id`` and the file they are in."""
    conditions = [equals("kind", "faq"), equals("faq.faq_id", faq_id)]
    if doc_id is not None:
        conditions.append(equals("doc_id", doc_id))
    entry = _live_points(store, *conditions)
    docs = sorted({str(p.payload["doc_id"]) for p in entry})
    if not docs:
        where = f" in {doc_id}" if doc_id else ""
        raise NotFoundError(f"no published FAQ entry {faq_id!r}{where}")
    if len(docs) > 1:
        raise InvalidRequestError(
            f"the FAQ id {faq_id!r} is used in several files; name one as doc_id: "
            + ", ".join(docs)
        )
    return entry, docs[0]


def entry_phrasings(
    store: ChunkStore, faq_id: str, doc_id: str | None = None
) -> tuple[str, list[tuple[str, str]]]:
    """The FAQ file and every ``(phrasing, field)`` of the entry: its question, the file's
    alternatives (``phrasing``) in the file's order, then those learned from use (``learned``)."""
    entry, doc = _entry(store, faq_id, doc_id)
    found = [
        (str(p.payload["faq"]["phrasing"]), str(p.payload["faq"].get("field", "question")))
        for p in entry
        if p.payload["faq"].get("field") != "answer"
    ]
    # the file's order for its own phrasings; learned ones (numbered by a hash) alphabetically
    by_chunk = {str(p.payload["faq"]["phrasing"]): int(p.payload["chunk_no"]) for p in entry}
    rank = {"question": 0, "phrasing": 1, "learned": 2}
    found.sort(key=lambda pf: (rank[pf[1]], by_chunk[pf[0]] if pf[1] != "learned" else 0, pf[0]))
    return doc, found


def remove_phrasing(
    store: ChunkStore, faq_id: str, phrasing: str, doc_id: str | None = None
) -> str:
    """Remove a learned phrasing from the entry (a phrasing written in the FAQ file is removed by
    editing the file); returns the FAQ file."""
    doc, phrasings = entry_phrasings(store, faq_id, doc_id)
    matching = [(p, field) for p, field in phrasings if _key(p) == _key(phrasing)]
    if not matching:
        raise NotFoundError(f"the FAQ entry {faq_id!r} has no phrasing {phrasing[:200]!r}")
    if given := [field for _, field in matching if field != "learned"]:
        raise InvalidRequestError(
            f"{phrasing[:200]!r} is the entry's {given[0]} in {doc}: edit the FAQ file to change it"
        )
    flt = live_filter(
        equals("doc_id", doc),
        equals("faq.faq_id", faq_id),
        equals("faq.field", "learned"),
        any_of("faq.phrasing", [p for p, _ in matching]),
    )
    store.delete_where(flt)
    log.info("FAQ %s of %s: a learned phrasing removed", faq_id, doc)
    return doc


def learned_chunk_no(faq_id: str, phrasing: str) -> int:
    digest = hashlib.sha256(f"{faq_id}\n{_key(phrasing)}".encode()).hexdigest()
    return LEARNED_CHUNK_BASE + int(digest[:12], 16)


def learned_phrasings(store: ChunkStore, doc_id: str) -> dict[str, list[str]]:
    """The learned phrasings of each FAQ entry of ``doc_id``'s published version."""
    points = _live_points(store, equals("doc_id", doc_id), equals("faq.field", "learned"))
    by_entry: dict[str, list[str]] = defaultdict(list)
    for point in points:
        faq = point.payload["faq"]
        by_entry[str(faq["faq_id"])].append(str(faq["phrasing"]))
    return {faq_id: sorted(found) for faq_id, found in by_entry.items()}


def clean_phrasings(phrasings: Sequence[str]) -> list[str]:
    """Stripped, de-duplicated phrasings; an empty, over-long or over-many list is refused."""
    cleaned = list(dict.fromkeys(" ".join(p.split()) for p in phrasings))
    if not cleaned or any(not p for p in cleaned):
        raise InvalidRequestError("phrasings must be non-empty strings, at least one")
    if len(cleaned) > MAX_PHRASINGS_PER_CALL:
        raise InvalidRequestError(
            f"at most {MAX_PHRASINGS_PER_CALL} phrasings per call, got {len(cleaned)}"
        )
    if too_long := [p for p in cleaned if len(p) > MAX_PHRASING_CHARS]:
        raise InvalidRequestError(
            f"a phrasing is at most {MAX_PHRASING_CHARS} characters, got {len(too_long[0])}"
        )
    return cleaned


def add_phrasings(
    store: ChunkStore,
    lexical: LexicalSettings,
    faq_id: str,
    phrasings: Sequence[str],
    doc_id: str | None = None,
) -> list[PhrasingAdded]:
    """Add ``phrasings`` to the published FAQ entry ``faq_id`` (of ``doc_id``, needed only when
    several FAQ files use that id); phrasings the entry already has are reported, not repeated."""
    cleaned = clean_phrasings(phrasings)
    entry, doc = _entry(store, faq_id, doc_id)
    question = next(p for p in entry if p.payload["faq"].get("field", "question") == "question")
    known = {_key(str(p.payload["faq"]["phrasing"])) for p in entry}
    results: list[PhrasingAdded] = []
    chunks: list[Chunk] = []
    for phrasing in cleaned:
        new = _key(phrasing) not in known
        results.append(PhrasingAdded(faq_id, doc, phrasing, new))
        if new:
            known.add(_key(phrasing))
            number = learned_chunk_no(faq_id, phrasing)
            chunks.append(learned_chunk(question.payload, phrasing, number))
    if chunks:
        store.add_live(chunks, *embed_chunks(chunks, store.spaces, lexical))
        log.info("FAQ %s of %s: %d phrasings learned", faq_id, doc, len(chunks))
    return results
