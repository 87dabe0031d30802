"""``ragsvc calibrate --from-shadow``: the smallest raise of a cheap route's threshold whose
judged misrouting is within the limit, read from the shadow verdicts and their traces."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from ragsvc.control.store import ControlStore, ShadowVerdict
from ragsvc.control.suggest import margins, suggest
from ragsvc.control.suggest_cli import run_from_shadow
from ragsvc.settings import CONTROL, Settings
from ragsvc.traces.schema import Trace, utc_now
from ragsvc.traces.store import TraceStore
from tests.conftest import make_settings

THRESHOLD = 0.9


def judged(n: int, score: float, verdict: str) -> tuple[Trace, ShadowVerdict]:
    trace = Trace(trace_id=f"t{n}", question=f"question {n}", route="faq_direct")
    trace.check("faq_confidence", score, THRESHOLD, True)
    return trace, ShadowVerdict(
        trace_id=trace.trace_id,
        variant=CONTROL,
        route="faq_direct",
        verdict=verdict,
        reason="",
        question=trace.question,
        answer="an answer",
        cost_usd=0.0,
        latency_ms=1.0,
        created_at=utc_now(),
    )


def mostly_wrong_near_the_threshold() -> list[tuple[Trace, ShadowVerdict]]:
    """Confidences 0.90-0.93: half judged wrong; 0.95-0.99: all right."""
    low = [judged(n, 0.90 + 0.01 * (n % 4), "disagree" if n % 2 else "agree") for n in range(40)]
    high = [judged(100 + n, 0.95 + 0.01 * (n % 5), "agree") for n in range(60)]
    return low + high


def test_the_smallest_raise_within_the_limit_is_suggested() -> None:
    pairs = mostly_wrong_near_the_threshold()
    traces = {t.trace_id: t for t, _ in pairs}
    found = margins([v for _, v in pairs], traces.get)
    (s,) = suggest(found, max_misrouting=0.1)
    assert (s.variant, s.route, s.threshold, s.judged) == (
        CONTROL,
        "faq_direct",
        "faq_threshold",
        100,
    )
    assert s.now.value == pytest.approx(0.2)
    assert s.raise_by == pytest.approx(0.05) and s.suggested == pytest.approx(0.95)
    assert s.then is not None and s.then.value == 0 and s.then.high <= 0.1
    assert s.kept_share == pytest.approx(0.6)
    (strict,) = suggest(found, max_misrouting=0.01)
    assert strict.raise_by is None and strict.suggested is None  # 60 right answers are too few


def test_unclear_verdicts_and_missing_traces_are_left_out() -> None:
    trace, verdict = judged(1, 0.95, "unclear")
    _, lost = judged(2, 0.95, "disagree")
    assert margins([verdict, lost], {trace.trace_id: trace}.get) == {}


def test_the_command_reads_the_trace_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings: Settings = make_settings(tmp_path)
    store = TraceStore(settings.traces)
    control = ControlStore(store.database)
    for trace, verdict in mostly_wrong_near_the_threshold():
        store.submit(trace)
        control.add_verdict(verdict)
    store.close()
    assert run_from_shadow(settings, days=30) == 0
    out = capsys.readouterr().out
    assert "100 shadow verdicts in the last 30 days; limit 0.25" in out
    assert "the judge is not trusted: the shadow judge was never checked" in out
    assert (
        "| control | faq_direct | faq_threshold 0.9 | 100 | 0.20 [0.13, 0.29] | 0.02 | 0.92 |"
        in out
    )
    assert "PUT /v1/routing/variants/control-faq-direct" in out
    assert '"thresholds": {"faq_threshold": 0.92}' in out
    assert "- 1 x question 1" in out


def test_no_verdicts_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(tmp_path)
    TraceStore(settings.traces).close()
    assert run_from_shadow(settings, days=7) == 1
    assert "nothing to suggest" in capsys.readouterr().out


def test_verdicts_are_kept_as_long_as_traces(tmp_path: Path) -> None:
    """A verdict holds the question and the answer: it goes when a trace of its age would."""
    traces = TraceStore(make_settings(tmp_path).traces)
    try:
        store = ControlStore(traces.database, retention_days=30)
        _, old = judged(1, 0.95, "agree")
        store.add_verdict(dataclasses.replace(old, created_at=utc_now() - timedelta(days=31)))
        assert [v.trace_id for v in store.verdicts()] == ["t1"]
        _, new = judged(2, 0.95, "disagree")
        store.add_verdict(new)
        assert [v.trace_id for v in store.verdicts()] == ["t2"]
    finally:
        traces.close()
