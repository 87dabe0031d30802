"""``ragsvc serve`` as a process: the embedder's torch threads, and the local LLM server it started
stopped on SIGTERM too. uvicorn and the app are replaced; the command's own work is checked."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import uvicorn

import ragsvc.api.app
import ragsvc.llm.local_server
from ragsvc.cli import main

Serve = Callable[..., int]


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Serve:
    """``ragsvc serve`` with ``config_text`` as its settings file and ``run`` in uvicorn's place."""
    monkeypatch.setattr(ragsvc.api.app, "create_app", lambda settings: object())

    def run_serve(config_text: str, *flags: str, run: Callable[..., None]) -> int:
        monkeypatch.setattr(uvicorn, "run", run)
        config = tmp_path / "config.yaml"
        config.write_text(config_text)
        return main(["serve", *flags, "--config", str(config)])

    return run_serve


def test_the_service_embeds_with_the_configured_torch_threads(serve: Serve) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert serve("server:\n  torch_threads: 1\n", run=lambda app, **kwargs: None) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_sigterm_still_stops_the_local_llm_server(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped = []

    @contextmanager
    def fake_llm_server(settings, log_file) -> Iterator[object]:  # type: ignore[no-untyped-def]
        try:
            yield settings
        finally:
            stopped.append(True)

    def uvicorn_stopped_by_sigterm(app, **kwargs):  # type: ignore[no-untyped-def]
        signal.raise_signal(signal.SIGTERM)  # what uvicorn does once it has shut down

    monkeypatch.setattr(ragsvc.llm.local_server, "serving_local_llm", fake_llm_server)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as exit_info:
            serve(
                "server:\n  torch_threads: null\n",
                "--with-llm-server",
                run=uvicorn_stopped_by_sigterm,
            )
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert stopped == [True]
    assert exit_info.value.code == 128 + signal.SIGTERM
