"""What observing an answer costs the thread that answered it: the metrics update and the OTLP
export (spans built and queued; the batch exporter sends them from its own thread, here to a
receiver on loopback), per message, against the trace store's submit (the baseline: already paid
by every ask) in the same run.

    python bench/observe.py [--messages 2000]

The messages are synthetic traces shaped like real ones (bench/console.py): checks, a retrieval
with three hits, a model call on the model routes; every fifth is a joined message of two parts.
"""

from __future__ import annotations

import argparse
import http.server
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.console import synthetic_trace
from bench.harness import free_port, pct
from ragsvc.observe import metrics
from ragsvc.observe.otel import OtlpTraceExport
from ragsvc.settings import TraceSettings
from ragsvc.traces.schema import PartTrace, Trace
from ragsvc.traces.store import TraceStore


class _Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


def messages(count: int) -> list[Trace]:
    rng = random.Random(13)
    out = []
    for n in range(count):
        trace = synthetic_trace(n, f"question {n} about the vpn", rng)
        trace.trace_id = f"{n:032x}"
        trace.started_ms = {step: 10.0 * k for k, step in enumerate(trace.timings_ms)}
        for retrieval in trace.retrievals:
            retrieval.started_ms = 30.0
        for call in trace.model_calls:
            call.started_ms = 200.0
        if n % 5 == 0:
            trace.parts = [PartTrace(question="part", route="faq_direct") for _ in range(2)]
        out.append(trace)
    return out


def per_message_us(step: Callable[[Trace], None], traces: list[Trace]) -> list[float]:
    times = []
    for trace in traces:
        started = time.perf_counter()
        step(trace)
        times.append(1e6 * (time.perf_counter() - started))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    traces = messages(args.messages)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    otlp = OtlpTraceExport(f"http://127.0.0.1:{server.server_port}/v1/traces")
    with tempfile.TemporaryDirectory(prefix="bench-observe-") as scratch:
        store = TraceStore(TraceSettings(path=Path(scratch) / "traces.sqlite"))
        rows = [
            ("trace store submit (baseline)", per_message_us(store.submit, traces)),
            ("metrics.observe", per_message_us(metrics.observe, traces)),
            ("OTLP export (spans built and queued)", per_message_us(otlp.export, traces)),
        ]
        store.close()
    started = time.perf_counter()
    otlp.close()
    flush_s = time.perf_counter() - started
    server.shutdown()
    print(f"{args.messages} messages; the OTLP exporter's last flush took {flush_s:.2f} s\n")
    print("| per message, on the answering thread | p50 µs | p95 µs | mean µs |")
    print("|---|---|---|---|")
    for name, times in rows:
        mean = sum(times) / len(times)
        print(f"| {name} | {pct(times, 50):.0f} | {pct(times, 95):.0f} | {mean:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
