"""``ragsvc calibrate --from-shadow``: the suggested raises as a table, the variant to try them
in, and the FAQ answers the judge disagreed with (candidates for phrasings or entries)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from ragsvc.control.compare import Estimate
from ragsvc.control.judge_check import distrust
from ragsvc.control.store import ControlStore
from ragsvc.control.suggest import Suggestion, margins, suggest
from ragsvc.settings import Settings
from ragsvc.traces.store import open_trace_store


def run_from_shadow(settings: Settings, days: int) -> int:
    """0 when there were verdicts to read, 1 when there were none."""
    store = open_trace_store(settings)
    try:
        since = datetime.now(UTC) - timedelta(days=days)
        control = ControlStore(store.database)
        verdicts = control.verdicts(since=since)
        found = margins(verdicts, store.get)
        state = control.load()
    finally:
        store.close()
    limit = settings.failsafe.max_misrouting
    suggestions = suggest(found, limit)
    print(f"{len(verdicts)} shadow verdicts in the last {days} days; limit {limit:g} (95% upper)")
    doubt = distrust(state.judge if state else None, settings.llm.model, settings.shadow)
    print(f"the judge is not trusted: {doubt}" if doubt else "the judge is trusted")
    if not suggestions:
        print("nothing to suggest: no judged cheap answer (is shadow.share above 0?)")
        return 1
    print()
    print(
        "| variant | route | threshold | judged | misrouting now | raise by | threshold to try "
        "| misrouting then | answers kept |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for s in suggestions:
        print(_row(s))
    for s in suggestions:
        if s.suggested is not None and s.raise_by:
            body = {"share": 0.1, "thresholds": {s.threshold: s.suggested}, "note": _note(s)}
            print(f"\ntry it: PUT /v1/routing/variants/{s.variant}-{s.route.replace('_', '-')}")
            print(json.dumps(body))
    faq = Counter(
        v.question for v in verdicts if v.route == "faq_direct" and v.verdict == "disagree"
    )
    if faq:
        print("\nFAQ answers the judge disagreed with (GET /v1/routing/disagreements for more):")
        for question, n in faq.most_common(20):
            print(f"- {n} x {question[:120]}")
    return 0


def _shown(e: Estimate | None) -> str:
    return "-" if e is None else f"{e.value:.2f} [{e.low:.2f}, {e.high:.2f}]"


def _row(s: Suggestion) -> str:
    raise_by = "none reaches the limit" if s.raise_by is None else f"{s.raise_by:g}"
    suggested = "-" if s.suggested is None else f"{s.suggested:g}"
    return (
        f"| {s.variant} | {s.route} | {s.threshold} {s.threshold_now:g} | {s.judged} | "
        f"{_shown(s.now)} | {raise_by} | {suggested} | {_shown(s.then)} | {s.kept_share:.0%} |"
    )


def _note(s: Suggestion) -> str:
    return (
        f"ragsvc calibrate --from-shadow: {s.route} misrouting {s.now.value:.2f} of {s.judged} "
        f"judged; {_shown(s.then)} on the {s.kept_share:.0%} kept"
    )
