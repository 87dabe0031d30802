"""``ragsvc faq``: add confirmed phrasings to an FAQ entry (by hand, or those positive feedback
confirmed), and fit the FAQ-direct confidence on the deployment's own labelled questions."""

from __future__ import annotations

import argparse
import json
import statistics
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragsvc.errors import ConfigError, InvalidRequestError, RagsvcError
from ragsvc.settings import Settings, load_settings

if TYPE_CHECKING:
    from ragsvc.index import Index
    from ragsvc.retrieval.faq_confidence import FaqCalibration

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

    remove = subcommands.add_parser(
        "remove-phrasing", help="remove a phrasing learned from use (one added by mistake)"
    )
    remove.add_argument("faq_id")
    remove.add_argument("phrasing")
    remove.add_argument("--doc-id", help="the FAQ file, when several files use the FAQ id")
    remove.set_defaults(handler=run_remove_phrasing)

    suggest = subcommands.add_parser(
        "suggest",
        help="questions positive feedback confirmed an FAQ entry answers through a costlier "
        "route; --apply adds them as phrasings",
    )
    suggest.add_argument("--min-rating", type=int, default=4, choices=range(1, 6))
    suggest.add_argument("--limit", type=int, default=500, help="newest rated traces read")
    suggest.add_argument("--apply", action="store_true", help="add them to their entries")
    suggest.set_defaults(handler=run_suggest)

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
    return [add, remove, suggest, calibrate]


class PhrasingWriter:
    """Phrasing changes through the running service when it holds the embedded store (like
    ``ragsvc ingest``), else on the index, opened once for all of them."""

    def __init__(self, settings: Settings) -> None:
        from ingest.handoff import service_is_up, service_url

        self.settings = settings
        url = service_url(settings)
        self.service = url if settings.store.url is None and service_is_up(url) else None
        self._index: Index | None = None

    def __enter__(self) -> PhrasingWriter:
        return self

    def __exit__(self, *_: object) -> None:
        if self._index is not None:
            self._index.close()

    def _opened(self) -> Index:
        if self._index is None:
            from ragsvc.index import open_index

            self._index = open_index(self.settings)
        return self._index

    def _call(
        self, faq_id: str, body: dict[str, Any] | None = None, query: dict[str, str] | None = None
    ) -> Any:
        """POST ``body`` to the entry's phrasings, or DELETE the one ``query`` names."""
        from ingest.handoff import admin_key_for_cli, call_service

        quoted = urllib.parse.quote(faq_id, safe="")
        url = f"{self.service}/v1/faq/{quoted}/phrasings"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        key = admin_key_for_cli(self.settings)
        return call_service(url, key, body, method=None if body is not None else "DELETE")

    def add(
        self, faq_id: str, phrasings: list[str], trace_ids: list[str], doc_id: str | None = None
    ) -> tuple[list[tuple[str, bool]], str]:
        """Each phrasing with whether it was new, and the FAQ file."""
        if self.service is not None:
            body: dict[str, Any] = {
                "phrasings": phrasings,
                "trace_ids": trace_ids,
                "doc_id": doc_id,
            }
            result = self._call(faq_id, body)
            added = [(p["phrasing"], bool(p["added"])) for p in result["phrasings"]]
            return added, str(result["doc_id"])
        from ingest.phrasings import add_phrasings
        from ragsvc.traces.confirmed import asked_questions
        from ragsvc.traces.store import open_trace_store

        if trace_ids:
            traces = open_trace_store(self.settings)
            try:
                phrasings = [*phrasings, *asked_questions(traces, trace_ids)]
            finally:
                traces.close()
        index = self._opened()
        done = add_phrasings(index.store, self.settings.lexical, faq_id, phrasings, doc_id)
        return [(a.phrasing, a.added) for a in done], done[0].doc_id

    def remove(self, faq_id: str, phrasing: str, doc_id: str | None = None) -> str:
        """Remove a learned phrasing; returns the FAQ file."""
        if self.service is not None:
            query = {"phrasing": phrasing, **({"doc_id": doc_id} if doc_id else {})}
            return str(self._call(faq_id, query=query)["doc_id"])
        from ingest.phrasings import remove_phrasing

        return remove_phrasing(self._opened().store, faq_id, phrasing, doc_id)


def run_add_phrasing(args: argparse.Namespace) -> int:
    if not args.phrasings and not args.trace:
        raise InvalidRequestError("give at least one phrasing or --trace")
    with PhrasingWriter(load_settings(args.config)) as writer:
        added, doc_id = writer.add(args.faq_id, args.phrasings, args.trace, args.doc_id)
    for phrasing, new in added:
        print(f"{'added' if new else 'known'}: {phrasing}")
    print(f"{sum(new for _, new in added)} new phrasings of {args.faq_id} ({doc_id})")
    return 0


def run_remove_phrasing(args: argparse.Namespace) -> int:
    with PhrasingWriter(load_settings(args.config)) as writer:
        doc_id = writer.remove(args.faq_id, args.phrasing, args.doc_id)
    print(f"removed from {args.faq_id} ({doc_id}): {args.phrasing}")
    return 0


def run_suggest(args: argparse.Namespace) -> int:
    from ragsvc.traces.confirmed import confirmed_phrasings
    from ragsvc.traces.store import open_trace_store

    settings = load_settings(args.config)
    store = open_trace_store(settings)
    try:
        found = confirmed_phrasings(store, args.min_rating, args.limit)
    finally:
        store.close()
    if not found:
        print(f"no question rated {args.min_rating}+ reached an FAQ answer through another route")
        return 0
    print("| faq_id | question | route | rating | trace |\n|---|---|---|---|---|")
    for c in found:
        print(f"| {c.faq_id} | {c.question} | {c.route} | {c.rating} | {c.trace_id} |")
    if not args.apply:
        print(f"\n{len(found)} candidates; add them with --apply")
        return 0
    by_entry: dict[str, list[str]] = {}
    for c in found:
        by_entry.setdefault(c.faq_id, []).append(c.question)
    added = 0
    with PhrasingWriter(settings) as writer:
        for faq_id, questions in by_entry.items():
            try:
                done, _ = writer.add(faq_id, questions, [])
            except RagsvcError as exc:  # one entry gone or ambiguous: the others go on
                print(f"{faq_id}: not added: {exc}")
                continue
            added += sum(new for _, new in done)
    print(f"\n{added} new phrasings added to {len(by_entry)} entries")
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    """One calibration per dense space the labelled questions searched (English questions the
    primary one, Japanese the multilingual one); a space with too few of them keeps the
    calibration it has, which the written file carries over."""
    from ragsvc.index import open_index
    from ragsvc.retrieval.faq_confidence import save_calibrations

    settings = load_settings(args.config)
    labelled = _read_labelled(args.questions)
    minimum = args.min_precision or settings.evaluation.faq_min_precision
    index = open_index(settings)
    try:
        by_space: dict[str, tuple[list[dict[str, float]], list[bool]]] = {}
        for question, faq_id in labelled:
            matches = index.faq.match(question)
            if not matches:
                raise ConfigError("the index holds no FAQ entry: ingest the FAQ files first")
            rows, correct = by_space.setdefault(matches[0].space, ([], []))
            rows.append(matches[0].features)
            correct.append(matches[0].faq_id == faq_id)
        calibrations: list[FaqCalibration] = []
        for space, embedder in index.store.spaces.embedders().items():
            rows, correct = by_space.get(space, ([], []))
            fitted = _fit_space(space, embedder.name, rows, correct, minimum, args.questions.name)
            kept = index.faq.calibrations.get(space)
            if fitted is None and kept is not None:
                print(f"{space}: the calibration in use is kept ({kept.fitted_on})")
            if chosen := fitted or kept:
                calibrations.append(chosen)
    finally:
        index.close()
    if not any(len(rows) >= MIN_LABELLED for rows, _ in by_space.values()):
        raise InvalidRequestError(
            f"need at least {MIN_LABELLED} labelled questions in one language to fit a calibration"
        )
    save_calibrations(args.output, calibrations)
    print(f"wrote {args.output}; use it with routing.faq_calibration: {args.output}")
    return 0


MIN_LABELLED = 20


def _fit_space(
    space: str,
    embedder: str,
    rows: list[dict[str, float]],
    correct: list[bool],
    minimum: float,
    source: str,
) -> FaqCalibration | None:
    from ragsvc.retrieval.faq_confidence import fit_calibration

    if len(rows) < MIN_LABELLED:
        print(f"{space}: {len(rows)} labelled questions searched it, {MIN_LABELLED} needed to fit")
        return None
    calibration = fit_calibration(
        rows,
        correct,
        embedder=embedder,
        min_precision=minimum,
        fitted_on=f"{source} ({len(rows)} questions)",
    )
    answered = [c for r, c in zip(rows, correct, strict=True) if calibration.answers(r)]
    print(
        f"{space} ({embedder}): top-1 {statistics.fmean(correct):.3f} over {len(rows)} questions; "
        f"at the threshold {calibration.threshold:.3f} (similarity floor "
        f"{calibration.min_similarity:.3f}): coverage {len(answered) / len(rows):.3f}, "
        f"precision {statistics.fmean(answered) if answered else float('nan'):.3f} (on the "
        "fitting data)"
    )
    return calibration


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
