"""A stand-in OpenAI-compatible LLM server for fault tests and benches, on loopback.

    with StandinLlm(mode="slow", delay=2) as llm:      # in a test; llm.base_url ends in /v1
        ...
    python -m tests.standin_llm --mode slow --delay 20 --port 0   # from a bench; prints the port

Endpoints: ``GET /v1/models`` (always answers, in every mode, so readiness checks pass) and
``POST /v1/chat/completions``, non-streaming or ``stream: true`` (server-sent events in the
OpenAI chunk format, ending with a usage chunk when ``stream_options.include_usage`` is set,
then ``data: [DONE]``). Modes:

- ``ok``: answers :data:`ANSWER` at once (streamed word by word).
- ``slow``: waits ``delay`` seconds, then answers; a stream then sends ``tokens`` tokens, one
  every ``token_interval`` seconds (capped by the request's ``max_tokens``).
- ``garbage``: HTTP 200 with a body the client cannot use: ``garbage="text"`` is not JSON at all,
  ``garbage="no-choices"`` is JSON without ``choices``.
- ``error``: HTTP 500 with an OpenAI-style error body.
- ``hang``: never answers; the request ends when the client goes away (or after ``hang_max_s``).

Every chat request is recorded (:meth:`StandinLlm.records`; over HTTP ``GET /_standin/records``):
``started``, ``finished`` and ``disconnected_at`` are ``time.time()`` seconds, so another process
on the machine can compare them with its own clock. A client that goes away is noticed while the
stand-in waits (the socket turns readable with nothing to read: the peer closed it) and when a
write fails; generation stops there, so a test can assert how soon after its disconnect the
tokens stopped. ``POST /_standin/config`` changes the mode and its parameters of a running
server (for the requests that start afterwards), ``POST /_standin/reset`` clears the records.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import select
import signal
import socket
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

Mode = Literal["ok", "slow", "garbage", "error", "hang"]
Garbage = Literal["text", "no-choices"]
MODES: tuple[Mode, ...] = ("ok", "slow", "garbage", "error", "hang")
GARBAGE: tuple[Garbage, ...] = ("text", "no-choices")
ANSWER = "The answer is in the passages [1]."
MODEL = "standin-llm"
_POLL_S = 0.02
"""How often a waiting request checks whether its client went away."""


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What a chat request gets; copied when the request starts, so a change applies to the
    requests after it."""

    mode: Mode = "ok"
    delay: float = 0.0
    tokens: int = 20
    token_interval: float = 0.0
    garbage: Garbage = "text"
    answer: str = ANSWER
    hang_max_s: float = 600.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.garbage not in GARBAGE:
            raise ValueError(f"garbage must be one of {', '.join(GARBAGE)}, got {self.garbage!r}")
        for name in ("delay", "token_interval", "hang_max_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.tokens <= 0:
            raise ValueError(f"tokens must be greater than 0, got {self.tokens}")

    def updated(self, changes: dict[str, Any]) -> Behaviour:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown settings {unknown}; known: {sorted(known)}")
        return replace(self, **changes)


class ClientGoneError(Exception):
    """The client closed the connection."""


def _words(text: str, count: int) -> list[str]:
    """``count`` tokens cycling through the words of ``text``, each with its leading space."""
    words = text.split() or ["token"]
    return [("" if i == 0 else " ") + words[i % len(words)] for i in range(count)]


def _estimate_tokens(messages: Any) -> int:
    if not isinstance(messages, list):
        return 0
    return sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 120  # an idle keep-alive connection is closed after this many seconds

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.verbose:
            super().log_message(format, *args)

    # --- routing -------------------------------------------------------------------------

    def do_GET(self) -> None:
        owner = self.server.owner
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": owner.model, "object": "model"}]})
        elif self.path == "/_standin/records":
            self._json(200, {"records": owner.records()})
        elif self.path == "/_standin/config":
            self._json(200, asdict(owner.behaviour))
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        owner = self.server.owner
        try:
            body = self._body()
        except ValueError as exc:
            self._json(400, {"error": {"message": str(exc)}})
            return
        if self.path.rstrip("/") == "/v1/chat/completions":
            self._chat(body, owner.behaviour)
        elif self.path == "/_standin/config":
            try:
                owner.configure(**body)
            except (TypeError, ValueError) as exc:
                self._json(400, {"error": {"message": str(exc)}})
                return
            self._json(200, asdict(owner.behaviour))
        elif self.path == "/_standin/reset":
            owner.reset()
            self._json(200, {"records": []})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    # --- chat completions ----------------------------------------------------------------

    def _chat(self, body: dict[str, Any], behaviour: Behaviour) -> None:
        owner = self.server.owner
        stream = bool(body.get("stream"))
        record = owner._open_record(
            {
                "mode": behaviour.mode,
                "stream": stream,
                "model": body.get("model"),
                "max_tokens": body.get("max_tokens"),
                "last_message_head": _last_message_head(body.get("messages")),
            }
        )
        status = 0
        try:
            status = self._answer(body, behaviour, stream, record)
        except ClientGoneError:
            owner._update(record, disconnected_at=time.time())
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            owner._update(record, disconnected_at=time.time())
            self.close_connection = True
        finally:
            owner._update(record, finished=time.time(), status=status or None)

    def _answer(self, body: dict[str, Any], behaviour: Behaviour, stream: bool, record: int) -> int:
        mode = behaviour.mode
        if mode == "hang":
            self._wait(behaviour.hang_max_s)
            self.close_connection = True
            return 0
        if mode == "error":
            self._json(500, {"error": {"message": "stand-in server error", "type": "server_error"}})
            return 500
        if mode == "slow":
            self._wait(behaviour.delay)
        if mode == "garbage":
            return self._garbage(behaviour.garbage, stream)
        count = behaviour.tokens if mode == "slow" else len(behaviour.answer.split()) or 1
        limit = body.get("max_tokens")
        if isinstance(limit, int) and 0 < limit < count:
            count, finish = limit, "length"
        else:
            finish = "stop"
        tokens = _words(behaviour.answer, count)
        prompt_tokens = _estimate_tokens(body.get("messages"))
        model = str(body.get("model") or self.server.owner.model)
        if stream:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            interval = behaviour.token_interval if mode == "slow" else 0.0
            self._stream(tokens, interval, finish, model, prompt_tokens, include_usage, record)
        else:
            self._json(200, _completion(model, "".join(tokens), finish, prompt_tokens, len(tokens)))
            self.server.owner._update(record, tokens_sent=len(tokens))
        return 200

    def _stream(
        self,
        tokens: list[str],
        interval: float,
        finish: str,
        model: str,
        prompt_tokens: int,
        include_usage: bool,
        record: int,
    ) -> None:
        owner = self.server.owner
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk_id = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        created = int(time.time())

        def chunk(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> None:
            data: dict[str, Any] = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
            }
            if include_usage:
                data["usage"] = usage
            self._event(json.dumps(data))

        delta: dict[str, Any] = {"role": "assistant", "content": ""}
        chunk([{"index": 0, "delta": delta, "finish_reason": None}])
        for n, token in enumerate(tokens, start=1):
            if n > 1:
                self._wait(interval)
            chunk([{"index": 0, "delta": {"content": token}, "finish_reason": None}])
            owner._update(record, tokens_sent=n)
        chunk([{"index": 0, "delta": {}, "finish_reason": finish}])
        if include_usage:
            chunk([], _usage(prompt_tokens, len(tokens)))
        self._event("[DONE]")
        self._write(b"0\r\n\r\n")

    def _garbage(self, kind: Garbage, stream: bool) -> int:
        if kind == "text":
            payload = b"<html><body>502 upstream gateway says hello</body></html> not json {"
            content_type = "text/event-stream" if stream else "application/json"
            if stream:
                payload = b"data: {not json\n\ndata: <html>\n\n"
            self._raw(200, content_type, payload)
        elif stream:
            lines = [
                "data: " + json.dumps({"id": "x", "object": "chat.completion.chunk"}),
                "data: [DONE]",
            ]
            self._raw(200, "text/event-stream", ("\n\n".join(lines) + "\n\n").encode())
        else:
            body = {"id": "x", "object": "chat.completion", "model": self.server.owner.model}
            self._json(200, body)
        return 200

    # --- I/O -----------------------------------------------------------------------------

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the request body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError("the request body must be a JSON object")
        return data

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``, raising :class:`ClientGoneError` as soon as the client closes the
        connection, and returning early when the server stops."""
        deadline = time.monotonic() + seconds
        stopping = self.server.owner._stopping
        while (left := deadline - time.monotonic()) > 0:
            if stopping.is_set():
                raise ClientGoneError("the stand-in is stopping")
            if self._client_gone(min(left, _POLL_S)):
                raise ClientGoneError("the client closed the connection")

    def _client_gone(self, timeout: float) -> bool:
        """True when the peer closed its side: readable, and a peek reads nothing. (Bytes that
        can be read are a pipelined request: the client is still there.)"""
        try:
            readable, _, _ = select.select([self.connection], [], [], timeout)
            if not readable:
                return False
            peeked: bytes = self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except (OSError, ValueError):
            return True
        return peeked == b""

    def _event(self, data: str) -> None:
        payload = f"data: {data}\n\n".encode()
        self._write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _raw(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self._write(payload)

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._raw(status, "application/json", json.dumps(body).encode())


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _last_message_head(messages: Any, chars: int = 120) -> str:
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        return str(messages[-1].get("content", ""))[:chars]
    return ""


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _completion(
    model: str, text: str, finish: str, prompt_tokens: int, completion_tokens: int
) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
            }
        ],
        "usage": _usage(prompt_tokens, completion_tokens),
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], owner: StandinLlm) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class StandinLlm:
    """The stand-in server on ``host:port`` (port 0: a free one, see :attr:`port`)."""

    def __init__(
        self,
        mode: Mode = "ok",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = MODEL,
        verbose: bool = False,
        **behaviour: Any,
    ) -> None:
        if not _loopback(host):
            raise ValueError(f"host must be a loopback address, e.g. 127.0.0.1, got {host!r}")
        self.behaviour = Behaviour(mode=mode, **behaviour)
        self.model = model
        self.verbose = verbose
        self._address = (host, port)
        self._lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> StandinLlm:
        if self._server is not None:
            raise RuntimeError("the stand-in LLM is already running")
        self._stopping.clear()
        self._server = _Server(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; waiting requests end at once (recorded as disconnected)."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StandinLlm:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the stand-in LLM is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._address[0]}:{self.port}/v1"

    # --- behaviour and records -----------------------------------------------------------

    def configure(self, **changes: Any) -> Behaviour:
        """Change the mode or its parameters for the requests that start from now on."""
        with self._lock:
            self.behaviour = self.behaviour.updated(changes)
            return self.behaviour

    def records(self) -> list[dict[str, Any]]:
        """A copy of every chat request's record, oldest first: ``id``, ``mode``, ``stream``,
        ``started``, ``finished``, ``disconnected_at`` (``time.time()`` or None),
        ``tokens_sent``, ``status`` (None when nothing was answered), ``model``, ``max_tokens``
        and ``last_message_head`` (the first characters of the last message)."""
        with self._lock:
            return [dict(r) for r in self._records]

    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """The records once ``predicate(records)`` is true; raises TimeoutError after
        ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.records()
            if predicate(records):
                return records
            if time.monotonic() > deadline:
                raise TimeoutError(f"the stand-in records did not match within {timeout} s")
            time.sleep(_POLL_S)

    def _open_record(self, request: dict[str, Any]) -> int:
        with self._lock:
            index = len(self._records)
            self._records.append(
                {
                    "id": index,
                    "started": time.time(),
                    "finished": None,
                    "disconnected_at": None,
                    "tokens_sent": 0,
                    "status": None,
                    **request,
                }
            )
            return index

    def _update(self, index: int, **changes: Any) -> None:
        with self._lock:
            if index < len(self._records):  # a reset may have removed it
                record = self._records[index]
                for key, value in changes.items():
                    if key == "disconnected_at" and record["disconnected_at"] is not None:
                        continue
                    record[key] = value


class StandinControl:
    """The control endpoints of a stand-in running in another process."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.root = base_url.removesuffix("/").removesuffix("/v1")
        self.timeout = timeout

    def _call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.root}{path}", data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            result: dict[str, Any] = json.loads(response.read())
        return result

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self._call("/_standin/config", changes)

    def records(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self._call("/_standin/records")["records"]
        return records

    def reset(self) -> None:
        self._call("/_standin/reset", {})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.standin_llm", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--delay", type=float, default=0.0, help="slow: seconds before answering")
    parser.add_argument("--tokens", type=int, default=20, help="slow, streaming: tokens sent")
    parser.add_argument(
        "--token-interval", type=float, default=0.0, help="slow, streaming: seconds per token"
    )
    parser.add_argument("--garbage", choices=GARBAGE, default="text")
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    if not _loopback(args.host):
        parser.error(f"--host must be a loopback address, got {args.host!r}")
    llm = StandinLlm(
        args.mode,
        host=args.host,
        port=args.port,
        model=args.model,
        verbose=args.verbose,
        delay=args.delay,
        tokens=args.tokens,
        token_interval=args.token_interval,
        garbage=args.garbage,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    with llm:
        print(f"standin-llm listening on {llm.base_url} port {llm.port}", flush=True)
        while not stop.wait(0.5):
            pass
    print("standin-llm stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
