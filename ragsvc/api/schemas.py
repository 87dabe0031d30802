"""Request and response types of the HTTP API."""

from __future__ import annotations

from pydantic import BaseModel

from ragsvc.retrieval.faq import FaqMatch
from ragsvc.retrieval.fusion import Hit


class SearchHit(BaseModel):
    id: str
    score: float
    dense_score: float
    lexical_score: float
    kind: str
    source: str
    title: str
    section: list[str]
    page: int | None
    language: str
    text: str

    @classmethod
    def of(cls, hit: Hit) -> SearchHit:
        p = hit.payload
        return cls(
            id=hit.id,
            score=hit.score,
            dense_score=hit.dense_score,
            lexical_score=hit.lexical_score,
            kind=p["kind"],
            source=p["source"],
            title=p["title"],
            section=list(p.get("section") or []),
            page=p.get("page"),
            language=p["language"],
            text=hit.text,
        )


class SearchResponse(BaseModel):
    query: str
    hits: list[SearchHit]


class FaqMatchResponse(BaseModel):
    faq_id: str
    question: str
    answer: str
    source: str
    confidence: float
    margin: float
    matched_phrasing: str

    @classmethod
    def of(cls, match: FaqMatch) -> FaqMatchResponse:
        return cls(
            faq_id=match.faq_id,
            question=match.question,
            answer=match.answer,
            source=match.source,
            confidence=match.confidence,
            margin=match.margin,
            matched_phrasing=match.matched_phrasing,
        )


class Health(BaseModel):
    status: str
    points: int | None = None
