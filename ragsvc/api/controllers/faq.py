"""Admin: phrasings of FAQ entries confirmed from use (``ingest/phrasings.py``)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import Provide
from litestar.params import Parameter

from ragsvc.api.access import access
from ragsvc.api.deps import provide_runtime
from ragsvc.api.schemas import (
    PhrasingItem,
    PhrasingList,
    PhrasingRemoved,
    PhrasingRequest,
    PhrasingResponse,
    PhrasingResult,
)
from ragsvc.errors import InvalidRequestError
from ragsvc.runtime import Runtime
from ragsvc.traces.confirmed import asked_questions

DocId = Annotated[
    str | None,
    Parameter(max_length=4096, description="the FAQ file, when several files use the FAQ id"),
]


class FaqController(Controller):
    path = "/v1/faq"
    tags = ["admin"]  # noqa: RUF012 - litestar reads these class attributes
    dependencies = {"runtime": Provide(provide_runtime, sync_to_thread=False)}  # noqa: RUF012

    @post(
        "/{faq_id:str}/phrasings",
        status_code=200,
        sync_to_thread=True,
        **access(
            "admin",
            errors={
                400: "no phrasing given, a phrasing too long, a redacted trace, or an FAQ id "
                "used in several files without doc_id",
                404: "no such FAQ entry or trace",
                503: "an ingest job is writing the index",
            },
        ),
    )
    def add_phrasings(
        self, runtime: Runtime, faq_id: str, data: PhrasingRequest
    ) -> PhrasingResponse:
        """Add phrasings to a published FAQ entry, as text or as the questions of traces it
        answered; the next question written that way can get the entry's answer directly."""
        phrasings = [*data.phrasings, *asked_questions(runtime.traces, data.trace_ids)]
        if not phrasings:
            raise InvalidRequestError("give at least one phrasing or trace id")
        added = runtime.ingest.add_phrasings(faq_id, phrasings, data.doc_id)
        return PhrasingResponse(
            faq_id=faq_id,
            doc_id=added[0].doc_id,
            added=sum(a.added for a in added),
            phrasings=[PhrasingResult.model_validate(a) for a in added],
        )

    @get(
        "/{faq_id:str}/phrasings",
        sync_to_thread=True,
        **access("admin", errors={400: "an FAQ id used in several files", 404: "no such entry"}),
    )
    def list_phrasings(self, runtime: Runtime, faq_id: str, doc_id: DocId = None) -> PhrasingList:
        """Every phrasing of a published FAQ entry: its question, the file's alternatives and the
        phrasings learned from use."""
        doc, phrasings = runtime.ingest.phrasings(faq_id, doc_id)
        items = [PhrasingItem.model_validate({"phrasing": p, "field": f}) for p, f in phrasings]
        return PhrasingList(faq_id=faq_id, doc_id=doc, phrasings=items)

    @delete(
        "/{faq_id:str}/phrasings",
        status_code=200,
        sync_to_thread=True,
        **access(
            "admin",
            errors={
                400: "the phrasing is written in the FAQ file (edit the file), or an FAQ id used "
                "in several files",
                404: "no such entry or phrasing",
                503: "an ingest job is writing the index",
            },
        ),
    )
    def remove_phrasing(
        self,
        runtime: Runtime,
        faq_id: str,
        phrasing: Annotated[str, Parameter(min_length=1, max_length=500)],
        doc_id: DocId = None,
    ) -> PhrasingRemoved:
        """Remove a phrasing learned from use (one added by mistake); the next ingest of the FAQ
        file does not bring it back."""
        doc = runtime.ingest.remove_phrasing(faq_id, phrasing, doc_id)
        return PhrasingRemoved(faq_id=faq_id, doc_id=doc, phrasing=phrasing)
