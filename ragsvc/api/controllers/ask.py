"""``POST /v1/ask`` and its server-sent-events variant ``POST /v1/ask/stream``."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
from litestar import Controller, Request, post
from litestar.di import Provide
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from ragsvc.api.access import access, bound_to_key
from ragsvc.api.deps import provide_limits, provide_runtime
from ragsvc.api.limits import RequestLimits
from ragsvc.api.schemas import AskRequest, AskResponse
from ragsvc.errors import RagsvcError, ServiceUnavailableError
from ragsvc.pipeline.answering import AskInput, ClientGoneError
from ragsvc.runtime import Runtime

log = logging.getLogger(__name__)

_DONE = None
Event = tuple[str, dict[str, Any]]
_ASK_ERRORS = {
    413: "the body is over api.max_body_kb",
    429: "too many asks from this client",
    503: "overloaded, or a part is down",
}


class AskController(Controller):
    path = "/v1/ask"
    tags = ["ask"]  # noqa: RUF012 - litestar reads these class attributes
    dependencies = {  # noqa: RUF012
        "runtime": Provide(provide_runtime, sync_to_thread=False),
        "limits": Provide(provide_limits, sync_to_thread=False),
    }

    @post("/", status_code=200, **access("ask", public=True, errors=_ASK_ERRORS))
    async def ask(
        self,
        runtime: Runtime,
        limits: RequestLimits,
        data: AskRequest,
        request: Request[Any, Any, Any],
    ) -> AskResponse:
        """Answer a question; the response names its route, sources and trace id."""
        asked = bound_to_key(request, data.to_input())
        runtime.ask.validate(asked)
        with limits.asks.held():
            trace = await anyio.to_thread.run_sync(runtime.ask.ask, asked)
        return AskResponse.of(trace)

    @post(
        "/stream",
        status_code=200,
        media_type="text/event-stream",
        **access("ask", public=True, errors=_ASK_ERRORS),
    )
    async def ask_stream(
        self,
        runtime: Runtime,
        limits: RequestLimits,
        data: AskRequest,
        request: Request[Any, Any, Any],
    ) -> ServerSentEvent:
        """Events: ``route`` (once chosen), ``delta`` (answer text as it is written), then
        ``answer`` (the full AskResponse, whose text and citation numbers are final) or ``error``
        (``detail``, ``status``, ``trace_id``). A joined message sends a ``part`` event (``n``,
        ``question``, ``route``) instead of ``route`` for each part, quickest route first, each
        followed by its deltas;
        a comment line every ``api.stream_heartbeat_s`` keeps proxies from closing the stream.
        When the client goes away, the answer's generation stops."""
        asked = bound_to_key(request, data.to_input())
        runtime.ask.validate(asked)
        limits.streams.enter()
        events: asyncio.Queue[Event | None] = asyncio.Queue()
        gone = threading.Event()
        _answer_in_background(runtime, asked, events, gone, limits)
        heartbeat = runtime.settings.api.stream_heartbeat_s

        async def stream() -> AsyncIterator[ServerSentEventMessage]:
            try:
                while True:
                    try:
                        item = await asyncio.wait_for(events.get(), heartbeat)
                    except TimeoutError:
                        yield ServerSentEventMessage(comment="keep-alive")
                        continue
                    if item is _DONE:
                        return
                    kind, body = item
                    yield ServerSentEventMessage(
                        event=kind, data=json.dumps(body, ensure_ascii=False)
                    )
            finally:  # the client left, or the stream ended: either way no more work for it
                gone.set()

        return ServerSentEvent(stream())


def _answer_in_background(
    runtime: Runtime,
    request: AskInput,
    events: asyncio.Queue[Event | None],
    gone: threading.Event,
    limits: RequestLimits,
) -> None:
    """Answer on a thread of its own (at most ``api.max_streams`` of them), handing events to
    the event loop; the sink raises :class:`ClientGoneError` once the client has disconnected."""
    loop = asyncio.get_running_loop()

    def put(item: Event | None) -> None:
        loop.call_soon_threadsafe(events.put_nowait, item)

    def sink(kind: str, body: dict[str, Any]) -> None:
        if gone.is_set():
            raise ClientGoneError("the client disconnected")
        put((kind, body))

    def work() -> None:
        try:
            trace = runtime.ask.ask(request, sink)
            put(("answer", AskResponse.of(trace).model_dump(mode="json")))
        except ServiceUnavailableError as exc:
            put(("error", {"detail": str(exc), "status": 503, "trace_id": exc.trace_id}))
        except RagsvcError as exc:
            put(("error", {"detail": str(exc), "status": 400, "trace_id": None}))
        except Exception:  # a bug: the stream still ends with an error event
            log.exception("streamed ask failed")
            put(("error", {"detail": "internal error", "status": 500, "trace_id": None}))
        finally:
            put(_DONE)
            limits.streams.leave()

    context = contextvars.copy_context()  # the request's ids, for the logs written while answering
    threading.Thread(target=context.run, args=(work,), name="ask-stream", daemon=True).start()
