"""``ragsvc routing check-judge`` on the real index of the demo FAQ: an LLM whose replies are no
verdict leaves nothing stored and says so; a reply of NO to everything is a judge at chance,
stored, reported as not trusted; by citations, one call per question, and an LLM that cites the
best passage is right about every entry asked with its own phrasing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ragsvc.cli import main
from ragsvc.control.store import ControlStore
from ragsvc.settings import load_settings
from ragsvc.traces.store import TraceStore
from tests.conftest import DEMO_CORPUS
from tests.standin_llm import MODEL, StandinLlm


def test_the_judge_is_checked_on_the_indexed_faq(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with StandinLlm(mode="ok") as llm:
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "store": {"path": str(tmp_path / "qdrant")},
                    "traces": {"path": str(tmp_path / "traces.sqlite")},
                    "cost": {"ledger_path": str(tmp_path / "cost.sqlite")},
                    "slm": {"enabled": False},
                    "llm": {"base_url": llm.base_url, "model": MODEL, "max_retries": 0},
                    "shadow": {"method": "judge"},
                }
            )
        )
        assert main(["ingest", str(DEMO_CORPUS / "faq"), "--config", str(config)]) == 0
        check = ["routing", "check-judge", "--pairs", "3", "--config", str(config)]
        assert main(check) == 1  # "The answer is in the passages [1]." is no verdict
        assert "no readable verdict came back" in capsys.readouterr().out
        assert len(llm.records()) == 6  # 3 entries, each with its own answer and another's

        llm.configure(mode="ok", answer="NO. It does not say.")
        assert main(check) == 0
        out = capsys.readouterr().out
        assert (
            "| standin-llm (judge) | 0.00 [0.00, 0.56] of 3 | 1.00 [0.44, 1.00] of 3 | 0.00 | 0 |"
            in out
        )
        assert "not trusted" in out

        settings = yaml.safe_load(config.read_text())
        config.write_text(yaml.safe_dump({**settings, "shadow": {"method": "citations"}}))
        llm.configure(mode="ok", answer="The answer is in the passages [1].")
        calls = len(llm.records())
        assert main(check) == 0
        assert len(llm.records()) == calls + 3  # one answer per question, both answers read
        assert "| standin-llm (citations) | 1.00 [0.44, 1.00] of 3 | 1.00 [0.44, 1.00] of 3 |" in (
            capsys.readouterr().out
        )
    traces = TraceStore(load_settings(config).traces)
    try:
        state = ControlStore(traces.database).load()
        assert state is not None and state.judge is not None
        judge = state.judge
        assert (judge.model, judge.method, judge.right_answers, judge.wrong_answers) == (
            MODEL,
            "citations",
            3,
            3,
        )
    finally:
        traces.close()
