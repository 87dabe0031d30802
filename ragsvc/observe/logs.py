"""Logs that say which request and which question they are about.

Every HTTP request gets a request id (the caller's ``X-Request-ID`` when it is a plain token,
else a new one), returned in the response's ``X-Request-ID``; the ask that answers it records its
trace id beside it. Both ride on a context variable, so every log line written while the request
is served, in the event loop or in the worker threads that answer it, carries them, and one
access line per request closes it (method, path, status, milliseconds). ``server.log_format:
json`` writes each line as a JSON object (python-json-logger); ``text`` keeps them readable.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any, Literal

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
access_log = logging.getLogger("ragsvc.access")

LogFormat = Literal["text", "json"]


class RequestIds:
    """The ids of the request being served: set once, read from every thread serving it."""

    __slots__ = ("request_id", "trace_id")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.trace_id: str | None = None


_current: ContextVar[RequestIds | None] = ContextVar("ragsvc_request", default=None)


def note_trace(trace_id: str) -> None:
    """Record the trace id of the question the current request is answering."""
    ids = _current.get()
    if ids is not None:
        ids.trace_id = trace_id


class RequestContextFilter(logging.Filter):
    """Puts ``request_id`` and ``trace_id`` on every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _current.get()
        record.request_id = ids.request_id if ids else None
        record.trace_id = ids.trace_id if ids else None
        return True


def request_ids_middleware(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: the request id in, out, and on the access line."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        method = scope.get("method", "")
        given = (
            dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
        )
        ids = RequestIds(given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex)
        token = _current.set(ids)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = ids.request_id
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            access_log.info(
                "%s %s %d",
                method,
                scope["path"],
                status,
                extra={
                    "method": method,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(1000 * (time.perf_counter() - started), 2),
                },
            )
            _current.reset(token)

    return middleware


def configure_logging(log_format: LogFormat, level: str = "INFO") -> None:
    """The root logger writes to stderr in ``log_format``, each record with its ids; Python
    warnings (a library's FutureWarning) go through it too, so a JSON log stays one JSON object
    a line."""
    logging.captureWarnings(True)
    handler = logging.StreamHandler()
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def formatter(log_format: LogFormat) -> logging.Formatter:
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        fields: dict[str, Any] = {"levelname": "level", "asctime": "time", "name": "logger"}
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s",
            rename_fields=fields,
            timestamp=False,
        )
    return logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(trace_id)s]: %(message)s"
    )
