"""Scoring a finished eval again from the traces it recorded: the same answers under the current
scorer, after a scoring fix, without asking any model again."""

from __future__ import annotations

from ragsvc.errors import ConfigError
from ragsvc.evaluation.records import EvalRun
from ragsvc.evaluation.scoring import outcome_of
from ragsvc.traces.store import TraceStore


def rescore(run: EvalRun, traces: TraceStore) -> EvalRun:
    """``run`` with every outcome scored again from its trace in ``traces``."""
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
            outcomes[policy] = outcome_of(result.question, trace)
        results.append(result.model_copy(update={"outcomes": outcomes}))
    return run.model_copy(update={"results": results})
