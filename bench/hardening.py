"""Hardening bench: a real ``ragsvc serve`` on loopback under load and faults, with the stand-in
LLM (tests/standin_llm.py) as the model endpoint.

    .venv/bin/python bench/hardening.py [--phases a,b,c,d] [--clients 50] [--seconds 60]
                                        [--burst 50] [--llm-delay 20]

One run ingests demo/corpus into a fresh embedded store, starts the stand-in LLM
(``python -m tests.standin_llm --mode slow``) and ``ragsvc serve`` pointed at it (the SLM stays
in process as configured by default), waits for ``/readyz`` and runs the chosen phases, each
printing Markdown tables:

a. idle: the demo FAQ questions as written (and a few simple policy questions), one at a time;
   ``/healthz`` one at a time.
b. load: ``--clients`` clients for ``--seconds`` on a mix of FAQ and simple questions.
c. burst: ``--burst`` multi-part questions at once (they go to the LLM, which answers after
   ``--llm-delay`` s); during it ``/healthz`` every 200 ms and an FAQ question every 500 ms, and
   the trace events of the answers (read with the operator key).
d. stream disconnect: ``POST /v1/ask/stream`` with a multi-part question, the LLM streaming one
   token every 0.2 s; the client closes the connection at the first ``delta`` of a part the LLM
   answers (the cheap parts stream first) and the stand-in records when its own client (the
   service) went away. When every part is answered a cheaper way, no LLM stream starts: run this
   phase with the cheap routes off to measure it (``RAGSVC_ROUTING__FAQ_THRESHOLD=1
   RAGSVC_ROUTING__DIRECT_THRESHOLD=1 RAGSVC_SLM__ENABLED=false ... --phases d``).

The rate limit is per client address and every client here is 127.0.0.1, so the service runs with
``RAGSVC_API__RATE_LIMIT_PER_MINUTE=0`` (no limit) for the whole run. Everything is bounded by a
count or a deadline; only loopback addresses are used. Targets are reported, not enforced.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    RAGSVC,
    ROOT,
    Service,
    bench_config,
    free_port,
    get_json,
    ingest,
    pct,
    post,
    running_service,
    stop,
)
from ingest.readers import read_file
from tests.standin_llm import MODEL as STANDIN_MODEL
from tests.standin_llm import StandinControl

DEMO_CORPUS = ROOT / "demo" / "corpus"
PHASES = ("a", "b", "c", "d")
STANDIN = [sys.executable, "-m", "tests.standin_llm"]
NO_RATE_LIMIT = {"RAGSVC_API__RATE_LIMIT_PER_MINUTE": "0"}

SIMPLE_QUESTIONS: tuple[str, ...] = (
    # travel-and-expense-policy.pdf (FIN-020)
    "What is the hotel limit per night in Osaka?",
    "What is the hotel limit per night for an overseas trip in Asia?",
    "Who approves an expense claim of up to 50,000 JPY?",
    # information-security-policy.md (ISP-001)
    "After how many failed sign-in attempts is an account locked?",
    "How long is an account locked after failed sign-in attempts?",
    "How often do passwords expire?",
    "How many previous passwords cannot be reused?",
    "Which app is the approved MFA method?",
    "Who can grant administrator rights?",
    # remote-work-policy.html (HR-010)
    "Where must remote work be done?",
)
"""Short factual questions, each answered by a sentence of a demo policy; all ten went
``retrieval_direct`` one at a time on an idle service (others tried went to the SLM or the LLM)."""

COMPLEX_PARTS: tuple[str, ...] = (
    "what is the hotel limit in Tokyo",
    "how do I reset my password",
    "what is the meal allowance on an overnight trip",
    "how many days a week can I work from home",
    "what is the mileage rate for a private car",
    "how do I report a phishing email",
    "who approves expense claims over 50,000 JPY",
    "what are the core hours on flextime",
    "how long is the account locked after failed sign-ins",
)
"""Parts joined by "and" into multi-part questions that go to the LLM."""

OVERLOAD = re.compile(r"admission|admit|overload|slot|queue|capacity|busy|shed", re.IGNORECASE)


# --- questions -----------------------------------------------------------------------------


def faq_questions(corpus: Path = DEMO_CORPUS) -> list[str]:
    """Every FAQ entry's own question in ``corpus/faq``, as written."""
    questions = []
    for path in sorted((corpus / "faq").iterdir()):
        if path.is_file():
            questions += [entry.question for entry in read_file(path).faqs]
    return questions


def complex_questions(count: int, seed: int = 7) -> list[str]:
    """``count`` distinct three-part questions, e.g. "What is the hotel limit in Tokyo and how
    do I reset my password and what is the meal allowance on an overnight trip?"."""
    combos = list(itertools.permutations(COMPLEX_PARTS, 3))
    random.Random(seed).shuffle(combos)
    questions = []
    for parts in itertools.islice(itertools.cycle(combos), count):
        text = " and ".join(parts)
        questions.append(text[0].upper() + text[1:] + "?")
    return questions


# --- measuring -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    kind: str
    status: int
    """HTTP status; 0 when no response came (the error says why)."""
    ms: float
    route: str = ""
    degraded: bool = False
    trace_id: str = ""
    error: str = ""
    sent_at: float = 0.0
    """``time.perf_counter()`` when the request was sent."""


def ask(url: str, question: str, kind: str, timeout: float) -> Result:
    t0 = time.perf_counter()
    try:
        status, body, ms = post(f"{url}/v1/ask", {"question": question}, timeout=timeout)
    except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError, timeouts, resets
        ms = 1000 * (time.perf_counter() - t0)
        return Result(kind, 0, ms, error=_reason(exc))
    if status != 200:
        return Result(kind, status, ms, error=str(body.get("detail", ""))[:120], sent_at=t0)
    return Result(
        kind,
        status,
        ms,
        str(body.get("route", "")),
        bool(body.get("degraded")),
        str(body.get("trace_id", "")),
        sent_at=t0,
    )


def healthz(url: str, timeout: float = 10) -> Result:
    t0 = time.perf_counter()
    try:
        status, _, ms = get_json(f"{url}/healthz", timeout=timeout)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Result("healthz", 0, 1000 * (time.perf_counter() - t0), error=_reason(exc))
    return Result("healthz", status, ms)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return f"{type(exc).__name__}: {reason or exc}"[:120]


def every(interval_s: float, until: threading.Event, probe: Callable[[], Result]) -> list[Result]:
    """``probe()`` every ``interval_s`` (right after the previous one when it ran longer) until
    ``until`` is set."""
    results: list[Result] = []
    due = time.monotonic()
    while not until.is_set():
        results.append(probe())
        due = max(due + interval_s, time.monotonic()) if interval_s else time.monotonic()
        until.wait(max(0.0, due - time.monotonic()))
    return results


@contextmanager
def in_background(work: Callable[[], list[Result]], out: list[Result]) -> Iterator[None]:
    thread = threading.Thread(target=lambda: out.extend(work()), daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=120)


# --- tables --------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.0f}" if abs(value) >= 10 else f"{value:.1f}"
    return str(value).replace("|", "\\|")


def counts(values: Sequence[Any]) -> str:
    return ", ".join(f"{k} {n}" for k, n in Counter(values).most_common()) or "-"


def routes(results: Sequence[Result]) -> str:
    """The routes answered, with the HTTP status of any request that got no answer."""
    return counts([r.route or f"HTTP {r.status}" for r in results])


def latency_row(name: str, results: Sequence[Result]) -> list[Any]:
    ok = [r.ms for r in results if r.status == 200]
    errors = sum(1 for r in results if r.status != 200)
    return [name, len(results), errors, pct(ok, 50), pct(ok, 95), max(ok, default=float("nan"))]


LATENCY = ("what", "n", "errors", "p50 ms", "p95 ms", "max ms")


def section(title: str, *blocks: str) -> None:
    print(f"\n### {title}\n")
    print("\n\n".join(blocks), flush=True)


# --- phases --------------------------------------------------------------------------------


def phase_idle(url: str, faq: list[str], rounds: int) -> dict[str, list[Result]]:
    faq_results = [ask(url, q, "faq", 60) for _ in range(rounds) for q in faq]
    simple = [ask(url, q, "simple", 120) for q in SIMPLE_QUESTIONS]
    health = [healthz(url) for _ in range(100)]
    section(
        "a. idle baseline (one request at a time)",
        table(
            (*LATENCY, "routes"),
            [
                [
                    *latency_row(f"FAQ as written ({len(faq)} x {rounds})", faq_results),
                    routes(faq_results),
                ],
                [*latency_row("simple policy questions", simple), routes(simple)],
                [*latency_row("/healthz", health), ""],
            ],
        ),
    )
    return {"faq": faq_results, "simple": simple, "healthz": health}


def phase_load(
    url: str, faq: list[str], clients: int, seconds: float, faq_share: float
) -> list[Result]:
    deadline = time.monotonic() + seconds
    results: list[Result] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        rng = random.Random(1000 + n)
        mine = []
        while time.monotonic() < deadline:
            if rng.random() < faq_share:
                mine.append(ask(url, rng.choice(faq), "faq", 120))
            else:
                mine.append(ask(url, rng.choice(SIMPLE_QUESTIONS), "simple", 120))
        with lock:
            results.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 180)
    elapsed = time.perf_counter() - started
    ok = [r.ms for r in results if r.status == 200]
    errors = [r for r in results if r.status != 200]
    section(
        f"b. load: {clients} clients for {seconds:g} s, FAQ share {faq_share:g} "
        "(rate limit off: RAGSVC_API__RATE_LIMIT_PER_MINUTE=0; every client is 127.0.0.1)",
        table(
            ("requests", "errors", "req/s", "p50 ms", "p95 ms", "max ms", "routes", "degraded"),
            [
                [
                    len(results),
                    len(errors),
                    f"{len(results) / elapsed:.1f}",
                    pct(ok, 50),
                    pct(ok, 95),
                    max(ok, default=float("nan")),
                    counts([r.route for r in results if r.status == 200]),
                    sum(r.degraded for r in results),
                ]
            ],
        ),
        table(
            (*LATENCY, "routes"),
            [
                [*latency_row(kind, group), routes(group)]
                for kind in ("faq", "simple")
                if (group := [r for r in results if r.kind == kind])
            ],
        ),
        "errors: " + counts([f"{r.status} {r.error}" for r in errors]),
    )
    return results


def phase_burst(
    service: Service,
    control: StandinControl,
    faq: list[str],
    idle_faq_p95: float,
    burst: int,
    llm_delay: float,
    timeout: float,
) -> None:
    url = service.url
    control.configure(mode="slow", delay=llm_delay)
    control.reset()
    questions = complex_questions(burst)
    answers: list[Result | None] = [None] * burst
    gate = threading.Barrier(burst + 1)

    def one(n: int) -> None:
        gate.wait(timeout=60)
        answers[n] = ask(url, questions[n], "complex", timeout)

    done = threading.Event()
    health: list[Result] = []
    faq_probe: list[Result] = []
    cycle = itertools.cycle(faq)
    threads = [threading.Thread(target=one, args=(n,), daemon=True) for n in range(burst)]
    for thread in threads:
        thread.start()
    with (
        in_background(lambda: every(0.2, done, lambda: healthz(url)), health),
        in_background(
            lambda: every(0.5, done, lambda: ask(url, next(cycle), "faq", 60)), faq_probe
        ),
    ):
        started = time.perf_counter()
        gate.wait(timeout=60)
        for thread in threads:
            thread.join(timeout=timeout + 30)
        wall = time.perf_counter() - started
        done.set()
    results = [r or Result("complex", 0, float("nan"), error="no result") for r in answers]
    ok = [r.ms for r in results if r.status == 200]
    buckets = Counter(_bucket(r.ms) for r in results if r.status == 200)
    section(
        f"c. burst: {burst} multi-part questions at once, the LLM answering after "
        f"{llm_delay:g} s (wall {wall:.1f} s)",
        table(
            ("HTTP status", "routes", "degraded", "p50 ms", "p95 ms", "max ms", "latency"),
            [
                [
                    counts([r.status for r in results]),
                    counts([r.route for r in results if r.status == 200]),
                    sum(r.degraded for r in results),
                    pct(ok, 50),
                    pct(ok, 95),
                    max(ok, default=float("nan")),
                    ", ".join(f"{b} {buckets[b]}" for b in _BUCKETS if buckets[b]),
                ]
            ],
        ),
        "errors: " + counts([f"{r.status} {r.error}" for r in results if r.status != 200]),
    )
    _burst_traces(service, results)
    _burst_upstream(control.records())
    h_ok = [r.ms for r in health if r.status == 200]
    f_ok = [r.ms for r in faq_probe if r.status == 200]
    f95 = pct(f_ok, 95)
    section(
        "c. during the burst: the cheap paths",
        table(
            (*LATENCY, "routes", "target", "met"),
            [
                [
                    *latency_row("/healthz every 200 ms", health),
                    "",
                    "p95 < 100 ms",
                    _yes(pct(h_ok, 95) < 100 and len(h_ok) == len(health)),
                ],
                [
                    *latency_row("FAQ every 500 ms", faq_probe),
                    routes(faq_probe),
                    f"p95 <= 2 x idle p95 ({2 * idle_faq_p95:.0f} ms)",
                    _yes(f95 <= 2 * idle_faq_p95 and len(f_ok) == len(faq_probe)),
                ],
            ],
        ),
        f"FAQ p95 during the burst / idle p95: {f95:.0f} / {idle_faq_p95:.0f} ms = "
        f"{f95 / idle_faq_p95:.1f}x",
    )
    _slowest_faq(service, faq_probe, started)


def _slowest_faq(service: Service, probes: list[Result], burst_started: float, n: int = 6) -> None:
    """Where the slowest FAQ answers of the burst spent their time: when each was sent (seconds
    into the burst), the client's and the service's latency, and the trace's step timings."""
    rows = []
    for r in sorted((r for r in probes if r.trace_id), key=lambda r: r.ms, reverse=True)[:n]:
        status, trace, _ = get_json(
            f"{service.url}/v1/traces/{r.trace_id}", headers=service.operator
        )
        timings = trace.get("timings_ms", {}) if status == 200 else {}
        steps = ", ".join(f"{k} {v:.0f}" for k, v in sorted(timings.items(), key=lambda kv: -kv[1]))
        rows.append(
            [
                f"{r.sent_at - burst_started:.1f}",
                r.ms,
                trace.get("latency_ms", float("nan")) if status == 200 else float("nan"),
                steps or f"trace {status}",
            ]
        )
    section(
        "c. the slowest FAQ answers during the burst",
        table(("sent at s", "client ms", "service ms", "steps (ms)"), rows),
    )


_BUCKETS = ("<1 s", "1-5 s", "5-15 s", "15-30 s", "30-60 s", ">=60 s")


def _bucket(ms: float) -> str:
    for limit, name in zip((1, 5, 15, 30, 60), _BUCKETS, strict=False):
        if ms < 1000 * limit:
            return name
    return _BUCKETS[-1]


def _yes(flag: bool) -> str:
    return "yes" if flag else "**no**"


def _burst_traces(service: Service, results: list[Result]) -> None:
    events: Counter[tuple[str, str]] = Counter()
    calls: Counter[tuple[str, str]] = Counter()
    unreadable: Counter[int] = Counter()
    mentioning = 0
    for r in results:
        if not r.trace_id:
            continue
        status, trace, _ = get_json(
            f"{service.url}/v1/traces/{r.trace_id}", headers=service.operator
        )
        if status != 200:
            unreadable[status] += 1
            continue
        texts = []
        for record in (trace, *trace.get("parts", [])):  # a joined message's parts: their own
            for event in record.get("events", []):
                events[(event["kind"], event["detail"][:140])] += 1
                texts.append(f"{event['kind']} {event['detail']}")
            for call in record.get("model_calls", []):
                calls[(call["role"], (call.get("error") or "ok")[:140])] += 1
                texts.append(call.get("error") or "")
        mentioning += any(OVERLOAD.search(t) for t in texts)
    read = sum(1 for r in results if r.trace_id) - sum(unreadable.values())
    section(
        f"c. trace events of the burst's answers ({read} traces read with the operator key"
        + (f"; unreadable: {counts(list(unreadable.elements()))}" if unreadable else "")
        + f"; {mentioning} mention admission/overload)",
        table(
            ("event kind", "detail", "traces"),
            [[k, d, n] for (k, d), n in events.most_common(15)] or [["-", "no events", 0]],
        ),
        table(
            ("model call", "error", "calls"),
            [[k, d, n] for (k, d), n in calls.most_common(10)] or [["-", "no model calls", 0]],
        ),
    )


def _burst_upstream(records: list[dict[str, Any]]) -> None:
    now = time.time()
    spans = [(r["started"], r["finished"] or now) for r in records]
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    section(
        "c. what the LLM stand-in saw",
        table(
            ("requests", "most at once", "answered", "client went away", "still open"),
            [
                [
                    len(records),
                    peak,
                    sum(1 for r in records if r["status"] == 200),
                    sum(1 for r in records if r["disconnected_at"] is not None),
                    sum(1 for r in records if r["finished"] is None),
                ]
            ],
        ),
    )


@dataclass(frozen=True, slots=True)
class StreamRun:
    status: int
    route: str
    first_delta_s: float
    stop_after_close_s: float | None
    tokens_sent: int
    note: str


def phase_stream(
    service: Service,
    control: StandinControl,
    repeats: int,
    tokens: int,
    token_interval: float,
) -> None:
    control.configure(mode="slow", delay=0, tokens=tokens, token_interval=token_interval)
    control.reset()
    questions = complex_questions(repeats, seed=11)
    runs = [_stream_once(service.url, control, q, tokens * token_interval + 10) for q in questions]
    delays = [r.stop_after_close_s for r in runs if r.stop_after_close_s is not None]
    section(
        f"d. stream disconnect: the client closes at the first delta of the LLM (a joined "
        f"message's cheap parts stream first); the LLM streams one token every "
        f"{token_interval:g} s for {tokens} tokens",
        table(
            (
                "#",
                "HTTP",
                "route",
                "first delta s",
                "upstream stopped after close s",
                "tokens sent",
                "< 1 s",
                "note",
            ),
            [
                [
                    n,
                    r.status,
                    r.route,
                    f"{r.first_delta_s:.2f}",
                    "-" if r.stop_after_close_s is None else f"{r.stop_after_close_s:.2f}",
                    r.tokens_sent,
                    _yes(r.stop_after_close_s is not None and r.stop_after_close_s < 1),
                    r.note,
                ]
                for n, r in enumerate(runs, start=1)
            ],
        ),
        f"stopped within 1 s: {sum(1 for d in delays if d < 1)} of {len(runs)}; "
        f"max {max(delays, default=float('nan')):.2f} s",
    )


def _stream_once(url: str, control: StandinControl, question: str, wait_s: float) -> StreamRun:
    host, port = url.removeprefix("http://").split(":")
    sent_at = time.time()
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    route = ""
    try:
        conn.request(
            "POST",
            "/v1/ask/stream",
            json.dumps({"question": question}),
            {"Content-Type": "application/json", "Accept": "text/event-stream"},
        )
        response = conn.getresponse()
        if response.status != 200:
            detail = response.read()[:80].decode(errors="replace")
            return StreamRun(response.status, "", float("nan"), None, 0, detail)
        event = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = response.readline().decode("utf-8", errors="replace").rstrip("\r\n")
            if not line and response.isclosed():
                return StreamRun(200, route, float("nan"), None, 0, "stream ended, no delta")
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("route", "part"):  # a part: its own
                route = str(json.loads(line.split(":", 1)[1]).get("route", ""))
            elif line.startswith("data:") and event in ("answer", "error"):
                note = f"{event} before any delta of the LLM (the cheap routes answered)"
                return StreamRun(200, route, float("nan"), None, 0, note)
            elif line.startswith("data:") and event == "delta" and route == "llm_synthesis":
                break
        else:
            return StreamRun(200, route, float("nan"), None, 0, "no LLM delta within 120 s")
        first_delta = time.time() - sent_at
        _close(conn)
        closed = time.time()
    finally:
        conn.close()
    record = _upstream_end(control, sent_at, closed + wait_s)
    if record is None:
        return StreamRun(200, route, first_delta, None, 0, "no LLM stream reached the stand-in")
    if record["disconnected_at"] is not None:
        stopped = record["disconnected_at"] - closed
        return StreamRun(200, route, first_delta, stopped, record["tokens_sent"], "")
    if record["finished"] is not None:
        ran = record["finished"] - closed
        note = f"not cancelled: the LLM stream ran to its end {ran:.1f} s after the close"
        return StreamRun(200, route, first_delta, None, record["tokens_sent"], note)
    note = f"still generating {wait_s:.0f} s after the close"
    return StreamRun(200, route, first_delta, None, record["tokens_sent"], note)


def _close(conn: http.client.HTTPConnection) -> None:
    """Close the socket now (a FIN to the service), whatever still holds a reference to it."""
    if conn.sock is not None:
        with suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()


def _upstream_end(control: StandinControl, since: float, deadline: float) -> dict[str, Any] | None:
    """The stand-in's record of the stream started after ``since``, once it ended (or at
    ``deadline``); None when no such stream started."""
    record = None
    while True:
        streams = [r for r in control.records() if r["stream"] and r["started"] >= since - 0.05]
        record = streams[0] if streams else None
        if record is not None and (record["finished"] or record["disconnected_at"]):
            return record
        if time.time() > deadline:
            return record
        time.sleep(0.05)


# --- the run -------------------------------------------------------------------------------


@contextmanager
def standin_llm(delay: float, log: Path) -> Iterator[tuple[str, StandinControl]]:
    """``python -m tests.standin_llm --mode slow`` on a free loopback port."""
    with log.open("wb") as errors:
        process = subprocess.Popen(
            [*STANDIN, "--mode", "slow", "--delay", str(delay), "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline().decode()
            if "listening on" not in line:
                raise SystemExit(f"the stand-in LLM did not start; see {log}")
            base_url = line.split()[3]
            yield base_url, StandinControl(base_url)
        finally:
            stop(process, grace_s=10)


def effective_settings(config: Path, env: dict[str, str]) -> dict[str, Any]:
    output = subprocess.run(
        [*RAGSVC, "settings", "--config", str(config)],
        check=True,
        capture_output=True,
        env={**os.environ, **env},
    ).stdout
    settings: dict[str, Any] = json.loads(output)
    return settings


def settings_line(settings: dict[str, Any]) -> str:
    keys = {
        "llm": ("concurrency", "queue", "queue_wait_s", "timeout_s", "max_retries"),
        "slm": ("enabled", "queue", "queue_wait_s"),
        "api": ("rate_limit_per_minute", "max_in_flight", "max_streams", "stream_heartbeat_s"),
    }
    return "; ".join(
        f"{group}." + ", ".join(f"{k}={settings.get(group, {}).get(k, '?')}" for k in names)
        for group, names in keys.items()
    )


def log_problems(log: Path, limit: int = 8) -> str:
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    tracebacks = sum(1 for line in lines if line.startswith("Traceback"))
    errors = [line for line in lines if re.match(r"(ERROR|CRITICAL)\b", line)]
    exceptions = [line for line in lines if re.match(r"^[A-Za-z_.]+(Error|Exception):", line)]
    shown = list(dict.fromkeys(errors + exceptions))[:limit]
    return f"service log: {tracebacks} tracebacks, {len(errors)} ERROR lines" + (
        "\n\n" + "\n".join(f"    {line[:200]}" for line in shown) if shown else ""
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--phases", default=",".join(PHASES), help="a subset of a,b,c,d")
    parser.add_argument("--clients", type=int, default=50, help="b: concurrent clients")
    parser.add_argument("--seconds", type=float, default=60, help="b: duration")
    parser.add_argument("--faq-share", type=float, default=0.5, help="b: share of FAQ questions")
    parser.add_argument("--burst", type=int, default=50, help="c: multi-part questions at once")
    parser.add_argument("--llm-delay", type=float, default=20, help="c: LLM seconds per answer")
    parser.add_argument(
        "--burst-timeout", type=float, default=300, help="c: client timeout per question, s"
    )
    parser.add_argument("--idle-rounds", type=int, default=2, help="a: passes over the FAQs")
    parser.add_argument("--streams", type=int, default=5, help="d: disconnects measured")
    parser.add_argument("--stream-tokens", type=int, default=200, help="d: tokens per LLM stream")
    parser.add_argument("--token-interval", type=float, default=0.2, help="d: s per token")
    parser.add_argument("--port", type=int, default=0, help="service port (0: a free one)")
    parser.add_argument(
        "--workdir", type=Path, help="keep the store, config and logs here (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    args.phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    unknown = sorted(set(args.phases) - set(PHASES))
    if unknown or not args.phases:
        parser.error(f"--phases must be a subset of {','.join(PHASES)}, got {unknown or 'none'}")
    for name in ("clients", "seconds", "burst", "idle_rounds", "streams", "stream_tokens"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be greater than 0")
    if not 0 <= args.faq_share <= 1:
        parser.error(f"--faq-share must be between 0 and 1, got {args.faq_share}")
    return args


def run(args: argparse.Namespace, root: Path) -> None:
    port = args.port or free_port()
    faq = faq_questions()
    with standin_llm(args.llm_delay, root / "standin.log") as (llm_url, control):
        config = bench_config(root, port, llm={"base_url": llm_url, "model": STANDIN_MODEL})
        settings = effective_settings(config, NO_RATE_LIMIT)
        ingest(DEMO_CORPUS, config)
        with running_service(
            config, port, env=NO_RATE_LIMIT, accept=("ready", "degraded")
        ) as service:
            print(
                f"service {service.url} ({service.readiness['status']}), LLM stand-in {llm_url} "
                f"(slow, {args.llm_delay:g} s); {len(faq)} FAQ questions, "
                f"{len(SIMPLE_QUESTIONS)} simple questions; rate limit off for the whole run\n\n"
                f"{settings_line(settings)}",
                flush=True,
            )
            for question in (faq[0], SIMPLE_QUESTIONS[0]):  # warm-up, not measured
                ask(service.url, question, "warm-up", 120)
            idle_p95 = float("nan")
            if "a" in args.phases:
                idle = phase_idle(service.url, faq, args.idle_rounds)["faq"]
                idle_p95 = pct([r.ms for r in idle if r.status == 200], 95)
            if "b" in args.phases:
                phase_load(service.url, faq, args.clients, args.seconds, args.faq_share)
            if "c" in args.phases:
                if idle_p95 != idle_p95:  # phase a not run: a short idle baseline first
                    quick = [ask(service.url, q, "faq", 60) for q in faq]
                    idle_p95 = pct([r.ms for r in quick if r.status == 200], 95)
                phase_burst(
                    service,
                    control,
                    faq,
                    idle_p95,
                    args.burst,
                    args.llm_delay,
                    args.burst_timeout,
                )
            if "d" in args.phases:
                phase_stream(
                    service, control, args.streams, args.stream_tokens, args.token_interval
                )
        print("\n" + log_problems(service.log), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        run(args, args.workdir.resolve())
        return 0
    with tempfile.TemporaryDirectory(prefix="ragsvc-hardening-") as tmp:
        run(args, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
