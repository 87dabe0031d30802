"""``ragsvc serve``'s shutdown: the local LLM server it started is stopped on SIGTERM too."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


def test_sigterm_still_stops_the_local_llm_server(monkeypatch, tmp_path):
    import uvicorn

    import ragsvc.api.app
    import ragsvc.llm.local_server
    from ragsvc.cli import main

    stopped = []

    @contextmanager
    def fake_llm_server(settings, log_file) -> Iterator[object]:  # type: ignore[no-untyped-def]
        try:
            yield settings
        finally:
            stopped.append(True)

    def uvicorn_stopped_by_sigterm(app, **kwargs):  # type: ignore[no-untyped-def]
        signal.raise_signal(signal.SIGTERM)  # what uvicorn does once it has shut down

    config = tmp_path / "config.yaml"
    config.write_text("server:\n  torch_threads: null\n")
    monkeypatch.setattr(ragsvc.llm.local_server, "serving_local_llm", fake_llm_server)
    monkeypatch.setattr(ragsvc.api.app, "create_app", lambda settings: object())
    monkeypatch.setattr(uvicorn, "run", uvicorn_stopped_by_sigterm)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["serve", "--with-llm-server", "--config", str(config)])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stopped == [True]
    assert exit_info.value.code == 128 + signal.SIGTERM
