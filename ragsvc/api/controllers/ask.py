"""``POST /v1/ask`` and its server-sent-events variant ``POST /v1/ask/stream``."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
from litestar import Controller, post
from litestar.di import Provide
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from ragsvc.api.deps import provide_runtime
from ragsvc.api.schemas import AskRequest, AskResponse
from ragsvc.errors import RagsvcError
from ragsvc.runtime import Runtime

_DONE = None


class AskController(Controller):
    path = "/v1/ask"
    tags = ["ask"]  # noqa: RUF012 - litestar reads these class attributes
    dependencies = {"runtime": Provide(provide_runtime, sync_to_thread=False)}  # noqa: RUF012

    @post("/", status_code=200)
    async def ask(self, runtime: Runtime, data: AskRequest) -> AskResponse:
        """Answer a question; the response names its route, sources and trace id."""
        request = data.to_input()
        runtime.ask.validate(request)
        trace = await anyio.to_thread.run_sync(runtime.ask.ask, request)
        return AskResponse.of(trace)

    @post("/stream", status_code=200)
    async def ask_stream(self, runtime: Runtime, data: AskRequest) -> ServerSentEvent:
        """Events: ``route`` (once chosen), ``delta`` (answer text as it is written), then
        ``answer`` (the full AskResponse) or ``error``."""
        request = data.to_input()
        runtime.ask.validate(request)
        events: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()

        def work() -> None:
            try:
                trace = runtime.ask.ask(request, lambda kind, body: events.put((kind, body)))
                events.put(("answer", AskResponse.of(trace).model_dump(mode="json")))
            except RagsvcError as exc:
                events.put(("error", {"detail": str(exc)}))
            finally:
                events.put(_DONE)

        threading.Thread(target=work, name="ask-stream", daemon=True).start()

        async def stream() -> AsyncIterator[ServerSentEventMessage]:
            while (item := await anyio.to_thread.run_sync(events.get)) is not _DONE:
                kind, body = item
                yield ServerSentEventMessage(event=kind, data=json.dumps(body, ensure_ascii=False))

        return ServerSentEvent(stream())
