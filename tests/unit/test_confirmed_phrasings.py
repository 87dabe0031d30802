"""Questions positive feedback confirmed an FAQ entry answers, found in the trace store, and
``ragsvc faq suggest`` listing them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ragsvc.cli import main
from ragsvc.settings import TraceSettings
from ragsvc.traces.confirmed import confirmed_phrasings
from ragsvc.traces.schema import Source, Trace
from ragsvc.traces.store import TraceStore


def _source(n: int, faq_id: str | None) -> Source:
    kind = "faq" if faq_id else "doc"
    return Source(n=n, id=f"p{n}", kind=kind, source="f", title="t", faq_id=faq_id)


def _trace(trace_id: str, question: str, route: str, *faq_ids: str | None, **kw: bool) -> Trace:
    sources = [_source(n, f) for n, f in enumerate(faq_ids, start=1)]
    return Trace(trace_id=trace_id, question=question, route=route, sources=sources, **kw)  # type: ignore[arg-type]


RATINGS = {
    "ok": (_trace("ok", "vpn wont start at home", "retrieval_direct", "vpn-1"), [5]),
    "again": (_trace("again", "VPN wont start  at home", "slm_answer", "vpn-1", None), [4]),
    "direct": (_trace("direct", "vpn from home", "faq_direct", "vpn-1"), [5]),
    "mixed": (_trace("mixed", "vpn or password", "llm_synthesis", "vpn-1", "pw-1"), [5]),
    "doc": (_trace("doc", "hotel limit", "retrieval_direct", None, "pw-1"), [5]),
    "disliked": (_trace("disliked", "password portal", "retrieval_direct", "pw-1"), [5, 1]),
    "low": (_trace("low", "reset password", "retrieval_direct", "pw-1"), [3]),
    "hidden": (
        _trace("hidden", "[redacted]", "retrieval_direct", "pw-1", question_redacted=True),
        [5],
    ),
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TraceStore]:
    traces = TraceStore(TraceSettings(path=tmp_path / "traces.sqlite"))
    for trace, _ in RATINGS.values():
        traces.submit(trace)
    traces.flush()
    for trace, ratings in RATINGS.values():
        for rating in ratings:
            assert traces.add_feedback(trace.trace_id, rating, "", max_per_trace=5)
    yield traces
    traces.close()


def test_only_positively_rated_answers_resting_on_one_entry_qualify(store: TraceStore) -> None:
    (found,) = confirmed_phrasings(store, min_rating=4)  # two wordings of one phrasing: once
    assert found.faq_id == "vpn-1" and found.trace_id in ("ok", "again")
    assert {c.faq_id for c in confirmed_phrasings(store, min_rating=3)} == {"vpn-1", "pw-1"}


def test_faq_suggest_lists_the_candidates(
    store: TraceStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"traces": {"path": str(tmp_path / "traces.sqlite")}}))
    assert main(["faq", "suggest", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "| vpn-1 |" in out and "1 candidates; add them with --apply" in out
    assert main(["faq", "suggest", "--min-rating", "5", "--config", str(config)]) == 0
    assert "| vpn-1 |" in capsys.readouterr().out
