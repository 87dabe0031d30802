"""The one place where domain errors become HTTP responses."""

from __future__ import annotations

import logging

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException

from ragsvc.errors import InvalidRequestError, NotFoundError, RagsvcError

log = logging.getLogger(__name__)

_STATUS: dict[type[RagsvcError], int] = {InvalidRequestError: 400, NotFoundError: 404}


def domain_error(_: Request, exc: RagsvcError) -> Response[dict[str, str]]:  # type: ignore[type-arg]
    status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 503)
    if status >= 500:
        log.error("service unavailable: %s", exc)
    return Response({"detail": str(exc)}, status_code=status, media_type=MediaType.JSON)


def http_error(_: Request, exc: HTTPException) -> Response[dict[str, object]]:  # type: ignore[type-arg]
    body: dict[str, object] = {"detail": exc.detail}
    if exc.extra:
        body["errors"] = exc.extra
    return Response(body, status_code=exc.status_code, media_type=MediaType.JSON)
