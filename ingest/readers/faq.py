"""FAQ files: CSV, JSON (a list, or an object with ``faqs``), JSONL and YAML.

Each entry: ``question`` and ``answer`` (required), ``alternatives`` (other phrasings: a list, or in
CSV one cell separated by ``|``), ``tags`` (list, or ``|``/``,`` separated), ``language``, ``id``,
``url`` (where the entry is published: the citation links there; a bad one is dropped with a
warning).
An entry missing its question or answer is skipped with a warning naming its row; the rest of the
file is ingested.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import reprlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from ingest.records import FaqEntry, ReadError, ReadLimits, ReadResult
from ingest.urls import BadUrlError, checked_url

# Separators only: items are stripped afterwards. (``\s*[|,]\s*`` would be quadratic on a long
# run of spaces, as the regex engine retries the leading ``\s*`` from every space in it.)
_TAG_SEPARATOR = re.compile(r"[|,]")
_ALTERNATIVE_SEPARATOR = re.compile(r"\|")


def _as_list(value: Any, separator: re.Pattern[str]) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = value if isinstance(value, list) else separator.split(str(value))
    return tuple(str(v).strip() for v in items if str(v).strip())


def _entry(raw: Any, where: str, warnings: list[str]) -> FaqEntry:
    if isinstance(raw, str):  # a reader's own description of what is wrong with the row
        raise ValueError(f"{where}: {raw}")
    if not isinstance(raw, dict):
        raise ValueError(
            f"{where}: expected an object with question and answer, got {reprlib.repr(raw)}"
        )
    question = str(raw.get("question") or "").strip()
    answer = str(raw.get("answer") or "").strip()
    missing = [name for name, value in (("question", question), ("answer", answer)) if not value]
    if missing:
        raise ValueError(f"{where}: missing {' and '.join(missing)}")
    faq_id = str(raw.get("id") or hashlib.sha1(question.encode()).hexdigest()[:12])
    try:
        url = checked_url(raw.get("url"))
    except BadUrlError as exc:
        warnings.append(f"{where}: {exc}; the entry is kept without a link")
        url = None
    return FaqEntry(
        faq_id=faq_id,
        question=question,
        answer=answer,
        alternatives=_as_list(raw.get("alternatives"), _ALTERNATIVE_SEPARATOR),
        tags=_as_list(raw.get("tags"), _TAG_SEPARATOR),
        language=(str(raw["language"]).strip() or None) if raw.get("language") else None,
        url=url,
    )


def _collect(rows: Iterable[tuple[str, Any]], title: str) -> ReadResult:
    result = ReadResult(kind="faq", title=title)
    for where, raw in rows:
        try:
            result.faqs.append(_entry(raw, where, result.warnings))
        except ValueError as exc:
            result.warnings.append(str(exc))
    if not result.faqs:
        raise ReadError(
            "no valid FAQ entry: " + "; ".join(result.warnings[:3] or ["file is empty"])
        )
    return result


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReadError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def read_faq_csv(path: Path, limits: ReadLimits) -> ReadResult:
    reader = csv.DictReader(_text(path).splitlines())
    try:
        return _collect(_csv_rows(reader), path.stem)
    except csv.Error as exc:  # e.g. an unclosed quote swallowing the rest of a large file
        raise ReadError(f"malformed CSV after line {reader.line_num}: {exc}") from exc


def _csv_rows(reader: csv.DictReader[str]) -> list[tuple[str, Any]]:
    fields = {f.strip().lower() for f in reader.fieldnames or []}
    if not {"question", "answer"} <= fields:
        raise ReadError(
            f"CSV header must name 'question' and 'answer' columns, got {sorted(fields)}"
        )
    width = len(reader.fieldnames or [])
    rows: list[tuple[str, Any]] = []
    for row in reader:
        where = f"line {reader.line_num}"
        if None in row or None in row.values():
            rows.append((where, f"has a different number of cells than the header's {width}"))
        else:
            rows.append((where, {k.strip().lower(): v for k, v in row.items()}))
    return rows


def _entries_of(data: Any) -> list[Any]:
    if isinstance(data, dict) and isinstance(data.get("faqs"), list):
        return list(data["faqs"])
    if isinstance(data, list):
        return data
    raise ReadError("expected a list of FAQ entries or an object with a 'faqs' list")


def _deeper_than(data: Any, depth: int) -> bool:
    """Whether lists and objects nest in ``data`` more than ``depth`` deep (no recursion)."""
    stack = [(data, 0)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            if level >= depth:
                return True
            stack.extend((item, level + 1) for item in value)
    return False


def _load_json(text: str, max_depth: int) -> Any:
    """``json.loads`` refusing nesting deeper than ``ingest.max_json_depth``."""
    try:
        data = json.loads(text)
        too_deep = _deeper_than(data, max_depth)
    except RecursionError:  # the parser's own limit, near 1,000 levels
        too_deep = True
    if too_deep:
        raise ReadError(
            f"JSON nested deeper than ingest.max_json_depth ({max_depth}); "
            "flatten the data, or raise the setting"
        )
    return data


def read_faq_json(path: Path, limits: ReadLimits) -> ReadResult:
    try:
        data = _load_json(_text(path), limits.max_json_depth)
    except json.JSONDecodeError as exc:
        raise ReadError(f"invalid JSON: {exc}") from exc
    return _collect(((f"entry {n}", e) for n, e in enumerate(_entries_of(data), 1)), path.stem)


def read_faq_jsonl(path: Path, limits: ReadLimits) -> ReadResult:
    rows: list[tuple[str, Any]] = []
    for n, line in enumerate(_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((f"line {n}", _load_json(line, limits.max_json_depth)))
        except json.JSONDecodeError as exc:
            rows.append((f"line {n}", f"invalid JSON ({exc.msg})"))
        except ReadError as exc:
            rows.append((f"line {n}", str(exc)))
    return _collect(rows, path.stem)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting aliases as they would be expanded: an alias of a node that
    holds ``k`` aliases counts ``1 + k``. A plain count would let "billion laughs" through (nine
    levels of nine aliases each: 72 aliases, 9**9 expanded values)."""

    def __init__(self, text: str, max_aliases: int) -> None:
        super().__init__(text)
        self.max_aliases = max_aliases
        self.aliases = 0
        self.aliases_inside: dict[int, int] = {}  # id(node) -> aliases expanded in it, if any

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        is_alias = self.check_event(yaml.AliasEvent)
        before = self.aliases
        node = super().compose_node(parent, index)  # for an alias: the node it refers to
        if is_alias:
            self.aliases += 1 + self.aliases_inside.get(id(node), 0)
            if self.aliases > self.max_aliases:
                raise ReadError(
                    f"YAML aliases over ingest.max_yaml_aliases ({self.max_aliases}), counted as "
                    "expanded (an alias bomb?); write the values out, or raise the setting"
                )
        elif inside := self.aliases - before:
            self.aliases_inside[id(node)] = inside
        return node


def read_faq_yaml(path: Path, limits: ReadLimits) -> ReadResult:
    loader = _BoundedLoader(_text(path), limits.max_yaml_aliases)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ReadError(f"invalid YAML: {exc}") from exc
    finally:
        loader.dispose()
    return _collect(((f"entry {n}", e) for n, e in enumerate(_entries_of(data), 1)), path.stem)
