"""The one place where domain errors become HTTP responses: every error body is litestar's own
shape (``status_code``, ``detail``, optional ``extra``), plus ``trace_id`` when a trace records the
failure, so one documented schema (``ErrorBody``) holds for all of them."""

from __future__ import annotations

import logging

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException

from ragsvc.errors import (
    ConflictError,
    FeedbackLimitError,
    InvalidRequestError,
    NotFoundError,
    RagsvcError,
    ServiceUnavailableError,
)

log = logging.getLogger(__name__)

_STATUS: dict[type[RagsvcError], int] = {  # subclasses before their bases
    FeedbackLimitError: 409,
    ConflictError: 409,
    InvalidRequestError: 400,
    NotFoundError: 404,
}


def status_of(exc: RagsvcError) -> int:
    """The HTTP status of a domain error: 503 unless it is the client's to fix."""
    return next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 503)


def domain_error(_: Request, exc: RagsvcError) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    status = status_of(exc)
    body: dict[str, object] = {"status_code": status, "detail": str(exc)}
    headers: dict[str, str] = {}
    if isinstance(exc, ServiceUnavailableError):
        body["trace_id"] = exc.trace_id
        headers["Retry-After"] = str(exc.retry_after_s)
    if status >= 500:
        log.error("service unavailable: %s", exc)
        headers.setdefault("Retry-After", "5")
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def http_error(_: Request, exc: HTTPException) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    body: dict[str, object] = {"status_code": exc.status_code, "detail": exc.detail}
    if exc.extra:
        body["extra"] = exc.extra
    headers = dict(exc.headers or {})
    if exc.status_code == 429 and "Retry-After" not in headers:
        headers["Retry-After"] = headers.get("RateLimit-Reset", "60")
    return Response(body, status_code=exc.status_code, media_type=MediaType.JSON, headers=headers)
