"""The stand-in LLM (tests/standin_llm.py) through the real ``openai`` client on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.standin_llm import ANSWER, StandinControl, StandinLlm

ROOT = Path(__file__).resolve().parents[2]
MESSAGES: list[dict[str, str]] = [{"role": "user", "content": "How do I reset my password?"}]


@pytest.fixture
def llm() -> Iterator[StandinLlm]:
    with StandinLlm() as server:
        yield server


def client(llm: StandinLlm, timeout: float = 5, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=llm.base_url, api_key="not-needed", timeout=timeout, max_retries=retries
    )


def ask(llm: StandinLlm, **options: Any) -> Any:
    timeout = options.pop("timeout", 5)
    return client(llm, timeout).chat.completions.create(model="m", messages=MESSAGES, **options)


def test_models_and_a_prompt_answer(llm: StandinLlm) -> None:
    assert [m.id for m in client(llm).models.list()] == ["standin-llm"]
    response = ask(llm)
    assert response.choices[0].message.content == ANSWER
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.completion_tokens == len(ANSWER.split())
    (record,) = llm.wait_for(lambda r: r[0]["finished"] is not None)
    assert record["status"] == 200 and not record["stream"]
    assert record["finished"] >= record["started"] and record["disconnected_at"] is None
    assert record["last_message_head"] == MESSAGES[0]["content"]


def test_stream_in_chunks_with_a_final_usage_chunk(llm: StandinLlm) -> None:
    chunks = list(ask(llm, stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(ANSWER.split())
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    (record,) = llm.wait_for(lambda r: r[0]["finished"] is not None)
    assert record["tokens_sent"] == len(ANSWER.split()) and record["disconnected_at"] is None


def test_max_tokens_caps_a_slow_stream(llm: StandinLlm) -> None:
    llm.configure(mode="slow", tokens=50)
    chunks = list(ask(llm, stream=True, max_tokens=3))
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 3
    assert chunks[-1].choices[0].finish_reason == "length"


def test_slow_answer_times_out_and_the_give_up_is_recorded(llm: StandinLlm) -> None:
    llm.configure(mode="slow", delay=5)
    started = time.time()
    with pytest.raises(openai.APITimeoutError):
        ask(llm, timeout=0.5)
    gave_up = time.time()
    assert gave_up - started < 2
    (record,) = llm.wait_for(lambda r: bool(r) and r[0]["finished"] is not None, timeout=2)
    assert record["disconnected_at"] is not None and record["status"] is None
    assert record["disconnected_at"] - gave_up < 0.5


def test_slow_stream_stops_within_a_second_of_the_disconnect(llm: StandinLlm) -> None:
    llm.configure(mode="slow", tokens=200, token_interval=0.05)
    stream = ask(llm, stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    stream.close()
    closed = time.time()
    (record,) = llm.wait_for(lambda r: r[0]["disconnected_at"] is not None, timeout=3)
    assert record["disconnected_at"] - closed < 1
    assert record["tokens_sent"] < 200
    time.sleep(0.2)
    assert llm.records()[0]["tokens_sent"] == record["tokens_sent"]  # it stopped generating


def test_garbage_text_makes_openai_raise(llm: StandinLlm) -> None:
    llm.configure(mode="garbage", garbage="text")
    # Not an openai.OpenAIError: the client's json.loads fails (a ValueError) in both cases.
    with pytest.raises(json.JSONDecodeError):
        ask(llm)
    with pytest.raises(json.JSONDecodeError):
        list(ask(llm, stream=True))


def test_garbage_without_choices_is_not_validated_by_openai(llm: StandinLlm) -> None:
    """The client does not check the body: the caller sees ``choices`` None, and a stream's
    chunks iterate to a None ``choices`` too."""
    llm.configure(mode="garbage", garbage="no-choices")
    assert ask(llm).choices is None
    assert [c.choices for c in ask(llm, stream=True)] == [None]


def test_server_error_is_retried_then_raised(llm: StandinLlm) -> None:
    llm.configure(mode="error")
    with pytest.raises(openai.InternalServerError):
        client(llm, retries=1).chat.completions.create(model="m", messages=MESSAGES)
    records = llm.wait_for(lambda r: all(x["finished"] for x in r), timeout=2)
    assert [r["status"] for r in records] == [500, 500]


def test_hang_ends_when_the_client_gives_up(llm: StandinLlm) -> None:
    llm.configure(mode="hang")
    with pytest.raises(openai.APITimeoutError):
        ask(llm, timeout=0.3)
    (record,) = llm.wait_for(lambda r: r[0]["finished"] is not None, timeout=2)
    assert record["disconnected_at"] is not None and record["status"] is None


def test_control_endpoints_from_another_process_view(llm: StandinLlm) -> None:
    control = StandinControl(llm.base_url)
    assert control.configure(mode="slow", delay=0.1)["mode"] == "slow"
    ask(llm)
    assert [r["mode"] for r in control.records()] == ["slow"]
    control.reset()
    assert control.records() == []
    with pytest.raises(ValueError, match="mode must be one of"):
        llm.configure(mode="sideways")
    with pytest.raises(ValueError, match="loopback"):
        StandinLlm(host="0.0.0.0")


def test_command_line_reports_its_port() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.standin_llm",
            "--mode",
            "slow",
            "--delay",
            "0",
            "--port",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        port = int(line.rsplit(" ", 1)[-1])
        records = StandinControl(f"http://127.0.0.1:{port}/v1").configure()
        assert records["mode"] == "slow"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
