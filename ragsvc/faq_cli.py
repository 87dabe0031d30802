"""``ragsvc faq``: add confirmed phrasings to an FAQ entry, and fit the FAQ-direct confidence on
the deployment's own labelled questions."""

from __future__ import annotations

import argparse
import json
import statistics
import urllib.parse
from pathlib import Path

from ragsvc.errors import ConfigError, InvalidRequestError
from ragsvc.settings import Settings, load_settings

DEFAULT_OUTPUT = Path("var/faq_calibration.json")


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> list[argparse.ArgumentParser]:
    """``faq`` and its subcommands; returns the leaf parsers (the main CLI adds ``--config``)."""
    faq = commands.add_parser("faq", help="FAQ phrasings and the FAQ-direct confidence")
    subcommands = faq.add_subparsers(dest="faq_command", required=True)

    add = subcommands.add_parser(
        "add-phrasing",
        help="add confirmed phrasings to a published FAQ entry (through the running service "
        "when it holds the embedded store)",
    )
    add.add_argument("faq_id")
    add.add_argument("phrasings", nargs="*", help="new ways of asking the entry's question")
    add.add_argument(
        "--trace", action="append", default=[], help="a trace whose question the entry answers"
    )
    add.add_argument("--doc-id", help="the FAQ file, when several files use the FAQ id")
    add.set_defaults(handler=run_add_phrasing)

    calibrate = subcommands.add_parser(
        "calibrate",
        help="fit the FAQ-direct confidence on labelled questions (JSONL: question, faq_id or "
        "null) against the index, and write it for routing.faq_calibration",
    )
    calibrate.add_argument("questions", type=Path)
    calibrate.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    calibrate.add_argument(
        "--min-precision",
        type=float,
        help="precision the threshold must keep (default: evaluation.faq_min_precision)",
    )
    calibrate.set_defaults(handler=run_calibrate)
    return [add, calibrate]


def _through_service(settings: Settings) -> str | None:
    from ingest.handoff import service_is_up, service_url

    url = service_url(settings)
    return url if settings.store.url is None and service_is_up(url) else None


def run_add_phrasing(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if not args.phrasings and not args.trace:
        raise InvalidRequestError("give at least one phrasing or --trace")
    service = _through_service(settings)
    if service is not None:
        from ingest.handoff import admin_key_for_cli, call_service

        body = {"phrasings": args.phrasings, "trace_ids": args.trace, "doc_id": args.doc_id}
        faq_id = urllib.parse.quote(args.faq_id, safe="")
        result = call_service(
            f"{service}/v1/faq/{faq_id}/phrasings", admin_key_for_cli(settings), body
        )
        added = [(p["phrasing"], bool(p["added"])) for p in result["phrasings"]]
        doc_id = str(result["doc_id"])
    else:
        added, doc_id = _add_directly(settings, args)
    for phrasing, new in added:
        print(f"{'added' if new else 'known'}: {phrasing}")
    print(f"{sum(new for _, new in added)} new phrasings of {args.faq_id} ({doc_id})")
    return 0


def _add_directly(
    settings: Settings, args: argparse.Namespace
) -> tuple[list[tuple[str, bool]], str]:
    from ingest.phrasings import add_phrasings
    from ragsvc.index import open_index

    phrasings = [*args.phrasings, *_stored_questions(settings, args.trace)]
    index = open_index(settings)
    try:
        done = add_phrasings(
            index.store, index.embedder, settings.lexical, args.faq_id, phrasings, args.doc_id
        )
    finally:
        index.close()
    return [(a.phrasing, a.added) for a in done], done[0].doc_id


def _stored_questions(settings: Settings, trace_ids: list[str]) -> list[str]:
    if not trace_ids:
        return []
    from ragsvc.traces.store import TraceStore

    store = TraceStore(settings.traces)
    try:
        traces = [(trace_id, store.get(trace_id)) for trace_id in trace_ids]
    finally:
        store.close()
    questions = []
    for trace_id, trace in traces:
        if trace is None or trace.question_redacted:
            raise InvalidRequestError(f"trace {trace_id} is not stored with its question")
        questions.append(trace.question)
    return questions


def run_calibrate(args: argparse.Namespace) -> int:
    from ragsvc.index import open_index
    from ragsvc.retrieval.faq_confidence import fit_calibration, save_calibrations

    settings = load_settings(args.config)
    labelled = _read_labelled(args.questions)
    minimum = args.min_precision or settings.evaluation.faq_min_precision
    index = open_index(settings)
    try:
        rows, correct = [], []
        for question, faq_id in labelled:
            matches = index.faq.match(question)
            if not matches:
                raise ConfigError("the index holds no FAQ entry: ingest the FAQ files first")
            rows.append(matches[0].features)
            correct.append(matches[0].faq_id == faq_id)
        calibration = fit_calibration(
            rows,
            correct,
            embedder=index.embedder.name,
            min_precision=minimum,
            fitted_on=f"{args.questions.name} ({len(rows)} questions)",
        )
    finally:
        index.close()
    save_calibrations(args.output, [calibration])
    confidences = [calibration.confidence(r) for r in rows]
    answered = [c for p, c in zip(confidences, correct, strict=True) if p >= calibration.threshold]
    print(
        f"top-1 {statistics.fmean(correct):.3f} over {len(rows)} questions; at the threshold "
        f"{calibration.threshold:.3f}: coverage {len(answered) / len(rows):.3f}, precision "
        f"{statistics.fmean(answered) if answered else float('nan'):.3f} (on the fitting data)"
    )
    print(f"wrote {args.output}; use it with routing.faq_calibration: {args.output}")
    return 0


def _read_labelled(path: Path) -> list[tuple[str, str | None]]:
    """``{"question": ..., "faq_id": ...}`` per line; ``faq_id`` null when no entry answers."""
    labelled = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidRequestError(f"cannot read {path}: {exc.strerror}") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            labelled.append((str(row["question"]), row.get("faq_id")))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidRequestError(
                f'{path}:{n}: expected {{"question": ..., "faq_id": ... or null}}: {exc!r}'
            ) from exc
    return labelled
