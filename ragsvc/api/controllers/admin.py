"""Admin: ingest and re-index jobs run inside the service (the embedded store admits one process),
document uploads, and the documents in the index."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, delete, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body, Parameter
from pydantic import BaseModel, ConfigDict, Field

from ragsvc.api.access import access
from ragsvc.api.deps import provide_runtime
from ragsvc.api.schemas import (
    DocumentDeleted,
    DocumentInfo,
    DocumentList,
    IngestJobResponse,
    IngestRequest,
)
from ragsvc.runtime import Runtime


class IngestController(Controller):
    path = "/v1/ingest"
    tags = ["admin"]  # noqa: RUF012 - litestar reads these class attributes
    dependencies = {"runtime": Provide(provide_runtime, sync_to_thread=False)}  # noqa: RUF012

    @post(
        "/",
        status_code=202,
        sync_to_thread=False,
        **access(
            "admin",
            errors={
                400: "no path exists, or a path is outside the ingest roots",
                413: "the body is over api.max_body_kb",
            },
        ),
    )
    def start(self, runtime: Runtime, data: IngestRequest) -> IngestJobResponse:
        """Queue an ingest job over files under ``ingest.allowed_roots``; poll its progress."""
        return IngestJobResponse.of(runtime.ingest.submit(data.paths, data.prune))

    @get("/{job_id:str}", sync_to_thread=False, **access("admin", errors={404: "no such job"}))
    def status(self, runtime: Runtime, job_id: str) -> IngestJobResponse:
        """Progress while running; the ingest summary when done."""
        return IngestJobResponse.of(runtime.ingest.get(job_id))


class ReindexController(Controller):
    path = "/v1/reindex"
    tags = ["admin"]  # noqa: RUF012 - litestar reads these class attributes
    dependencies = {"runtime": Provide(provide_runtime, sync_to_thread=False)}  # noqa: RUF012

    @post("/", status_code=202, sync_to_thread=False, **access("admin"))
    def start(self, runtime: Runtime) -> IngestJobResponse:
        """Queue a re-index: a new collection built from the folders of the indexed documents
        with the current settings, then ``store.collection``'s alias switched to it (queries read
        the former collection until then). Poll ``GET /v1/ingest/{job_id}``; the report names the
        new and the former collection. A build in which a file failed is not switched to."""
        return IngestJobResponse.of(runtime.ingest.submit_reindex())


class DocumentUpload(BaseModel):
    """The multipart form of ``POST /v1/documents`` (here, not in ``schemas``, as it holds
    litestar's ``UploadFile``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    files: list[UploadFile] = Field(description="one or more FAQ or document files")


def upload_size_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Refuse an upload over ``ingest.max_upload_mb`` before reading it. The declared length is
    what is checked (the server reads no more than it), so one must be declared."""
    limit_mb = connection.app.state.runtime.settings.ingest.max_upload_mb
    length = connection.headers.get("Content-Length")
    if length is None or not length.isdigit():
        raise HTTPException(
            status_code=411, detail="an upload needs a Content-Length header (no chunked bodies)"
        )
    if int(length) > limit_mb * 2**20:
        raise HTTPException(
            status_code=413,
            detail=f"the upload is {int(length) / 2**20:.1f} MiB, over ingest.max_upload_mb "
            f"({limit_mb:g}); send fewer or smaller files, or raise the setting",
        )


_UPLOAD_ERRORS = {
    400: "a file name is not a bare name with a supported suffix",
    411: "no Content-Length",
    413: "over ingest.max_upload_mb",
}


class DocumentController(Controller):
    path = "/v1/documents"
    tags = ["admin"]  # noqa: RUF012 - litestar reads these class attributes
    dependencies = {"runtime": Provide(provide_runtime, sync_to_thread=False)}  # noqa: RUF012

    @post(
        "/",
        status_code=202,
        sync_to_thread=True,
        guards=[upload_size_guard],
        request_max_body_size=None,  # upload_size_guard applies ingest.max_upload_mb
        **access("admin", errors=_UPLOAD_ERRORS),
    )
    def upload(
        self,
        runtime: Runtime,
        data: Annotated[DocumentUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> IngestJobResponse:
        """Store the files in ``ingest.upload_dir`` (replacing files of the same name) and queue
        an ingest job over them; poll it at ``/v1/ingest/{job_id}``."""
        files = [(upload.filename, upload.file) for upload in data.files]
        return IngestJobResponse.of(runtime.ingest.upload(files))

    @get("/", sync_to_thread=True, **access("admin"))
    def list_documents(
        self,
        runtime: Runtime,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> DocumentList:
        """The indexed documents, by folder and file."""
        documents = runtime.ingest.documents()
        return DocumentList(
            total=len(documents),
            limit=limit,
            offset=offset,
            documents=[DocumentInfo.model_validate(d) for d in documents[offset : offset + limit]],
        )

    @delete(
        "/",
        status_code=200,
        sync_to_thread=True,
        **access("admin", errors={404: "no such document"}),
    )
    def delete_document(
        self, runtime: Runtime, doc_id: Annotated[str, Parameter(min_length=1, max_length=4096)]
    ) -> DocumentDeleted:
        """Remove one document from the index (and its file, if it was uploaded)."""
        return DocumentDeleted(doc_id=doc_id, points_removed=runtime.ingest.delete_document(doc_id))
