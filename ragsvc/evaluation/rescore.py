"""Scoring a finished eval again from the traces it recorded: the same answers under the current
scorer, after a scoring fix, without asking any model again."""

from __future__ import annotations

from collections.abc import Callable, Collection

from ragsvc.errors import ConfigError
from ragsvc.evaluation.records import EvalRun
from ragsvc.evaluation.scoring import outcome_of
from ragsvc.traces.store import TraceStore

PassageTexts = Callable[[Collection[str]], dict[str, str]]


def rescore(run: EvalRun, traces: TraceStore, texts: PassageTexts) -> EvalRun:
    """``run`` with every outcome scored again from its trace in ``traces``; ``texts``: the
    stored text of passages by id (the eval's index), for the cited-passage rule."""
    results = []
    for result in run.results:
        outcomes = {}
        for policy, outcome in result.outcomes.items():
            trace = traces.get(outcome.trace_id) if outcome.trace_id else None
            if trace is None:
                raise ConfigError(
                    f"the trace {outcome.trace_id!r} of {result.question.id} ({policy}) is not in "
                    "the eval's trace store: rescore a report from the folder it was run in"
                )
            cited = texts({source.id for source in trace.sources})
            outcomes[policy] = outcome_of(result.question, trace, cited)
        results.append(result.model_copy(update={"outcomes": outcomes}))
    return run.model_copy(update={"results": results})
