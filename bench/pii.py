"""PII detectors compared on a labelled help-desk sample: recall and precision per type.

    python bench/pii.py [--sample tests/data/pii_sample.jsonl] [--spacy-model NAME]

The sample (``tests/data/pii_sample.jsonl``) is English and Japanese help-desk messages, each
``{"text", "spans": [{"start", "end", "type"}]}``; numbers that look like PII but are not (order
numbers failing Luhn, SSNs with area 000/666/9xx, 12-digit ids failing the My Number check digit,
dates, prices, tickets, IPs, versions) are left unlabelled, so finding them costs precision.
Scores are span level: a labelled span is found when a finding of its type overlaps it; a finding
is right when it overlaps a labelled span of its type. "any" ignores types: what a redaction
would remove.

Detectors: ours (``ragsvc.privacy.pii``) always. presidio-analyzer and scrubadub are not ragsvc
dependencies: they are measured when importable, e.g. from a throwaway virtualenv with
``pip install presidio-analyzer scrubadub``. presidio runs with its no-op NLP engine (pattern
recognizers only, no model), once as shipped and once with Japan added to the phone regions; with
``--spacy-model`` (an installed spaCy pipeline) also with spaCy NER, which adds names. scrubadub
runs its e-mail, phone, card and SSN detectors, the locale ja_JP for Japanese messages and en_US
for the rest (its name detector needs NLTK corpora downloaded, so it is left out).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ragsvc.privacy.pii import find_pii

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "data" / "pii_sample.jsonl"
TYPES = ("EMAIL", "PHONE", "CARD", "SSN", "MY_NUMBER", "NAME")
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")

Finding = tuple[int, int, str]  # start, end, type
Detector = Callable[[str], list[Finding]]


@dataclass(frozen=True, slots=True)
class Message:
    text: str
    spans: tuple[Finding, ...]


@dataclass(slots=True)
class Score:
    labelled: int = 0
    found: int = 0
    flagged: int = 0
    right: int = 0

    @property
    def recall(self) -> float | None:
        return self.found / self.labelled if self.labelled else None

    @property
    def precision(self) -> float | None:
        return self.right / self.flagged if self.flagged else None


def load_sample(path: Path = SAMPLE) -> list[Message]:
    messages = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        spans = tuple((s["start"], s["end"], s["type"]) for s in row["spans"])
        messages.append(Message(row["text"], spans))
    return messages


def _overlaps(a: Finding, b: Finding, same_type: bool) -> bool:
    return a[0] < b[1] and b[0] < a[1] and (not same_type or a[2] == b[2])


def score(messages: Iterable[Message], detect: Detector) -> dict[str, Score]:
    """Per type and ``"any"``: how many labelled spans were found and how many findings right."""
    scores = {kind: Score() for kind in (*TYPES, "any")}
    for message in messages:
        findings = detect(message.text)
        for kind, same_type in [*((k, True) for k in TYPES), ("any", False)]:
            gold = [s for s in message.spans if not same_type or s[2] == kind]
            flagged = [f for f in findings if not same_type or f[2] == kind]
            s = scores[kind]
            s.labelled += len(gold)
            s.found += sum(any(_overlaps(g, f, same_type) for f in flagged) for g in gold)
            s.flagged += len(flagged)
            s.right += sum(any(_overlaps(f, g, same_type) for g in gold) for f in flagged)
    return scores


def ours(text: str) -> list[Finding]:
    return [(s.start, s.end, s.type) for s in find_pii(text)]


PRESIDIO_TYPES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CARD",
    "US_SSN": "SSN",
    "PERSON": "NAME",
}


def presidio(*, japan: bool, spacy_model: str | None) -> Detector:
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngine, NoOpNlpEngine, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    # its e-mail recognizer asks tldextract, which tries to fetch the public suffix list and
    # falls back to the copy it ships: quiet that offline
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)
    models = [{"lang_code": "en", "model_name": spacy_model or "none"}]
    nlp: NlpEngine = SpacyNlpEngine(models=models) if spacy_model else NoOpNlpEngine(models=models)
    nlp.load()
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(nlp_engine=nlp)
    if japan:
        registry.remove_recognizer("PhoneRecognizer")
        regions = (*PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS, "JP")
        registry.add_recognizer(PhoneRecognizer(supported_regions=regions))
    engine = AnalyzerEngine(nlp_engine=nlp, registry=registry)
    entities = [k for k in PRESIDIO_TYPES if spacy_model or k != "PERSON"]

    def detect(text: str) -> list[Finding]:
        results = engine.analyze(text, language="en", entities=entities)
        return [(r.start, r.end, PRESIDIO_TYPES[r.entity_type]) for r in results]

    return detect


SCRUBADUB_TYPES = {
    "email": "EMAIL",
    "phone": "PHONE",
    "credit_card": "CARD",
    "social_security_number": "SSN",
}


def scrubadub() -> Detector:
    import scrubadub as sd

    def scrubber(locale: str) -> Any:
        s = sd.Scrubber(locale=locale, detector_list=[])
        for name in SCRUBADUB_TYPES:
            s.add_detector(name)
        return s

    english, japanese = scrubber("en_US"), scrubber("ja_JP")

    def detect(text: str) -> list[Finding]:
        s = japanese if JAPANESE.search(text) else english
        found = []
        for filth in s.iter_filth(text):
            for f in getattr(filth, "filths", None) or [filth]:  # a MergedFilth holds several
                found.append((f.beg, f.end, SCRUBADUB_TYPES[f.type]))
        return found

    return detect


def detectors(spacy_model: str | None) -> dict[str, Detector]:
    found: dict[str, Detector] = {"ours (regex+checksum)": ours}
    try:
        found["presidio (no NLP engine)"] = presidio(japan=False, spacy_model=None)
        found["presidio (no NLP engine, +JP phones)"] = presidio(japan=True, spacy_model=None)
        if spacy_model:
            found[f"presidio ({spacy_model}, +JP phones)"] = presidio(
                japan=True, spacy_model=spacy_model
            )
    except ImportError as exc:
        print(f"presidio not measured: {exc}", file=sys.stderr)
    try:
        found["scrubadub (en_US / ja_JP)"] = scrubadub()
    except ImportError as exc:
        print(f"scrubadub not measured: {exc}", file=sys.stderr)
    return found


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def table(messages: Sequence[Message], found: dict[str, Detector]) -> str:
    results, timings = {}, {}
    for name, detect in found.items():
        started = time.perf_counter()
        results[name] = score(messages, detect)
        timings[name] = (time.perf_counter() - started) * 1000 / len(messages)
    first = next(iter(results.values()))
    lines = [
        "| type (labelled) | " + " | ".join(f"{n} R / P" for n in found) + " |",
        "|---|" + "---|" * len(found),
    ]
    for kind in (*TYPES, "any"):
        cells = [f"{_cell(r[kind].recall)} / {_cell(r[kind].precision)}" for r in results.values()]
        lines.append(f"| {kind} ({first[kind].labelled}) | " + " | ".join(cells) + " |")
    lines.append("| ms per message | " + " | ".join(f"{t:.2f}" for t in timings.values()) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    parser.add_argument("--spacy-model", help="an installed spaCy pipeline, for presidio's NER")
    args = parser.parse_args()
    messages = load_sample(args.sample)
    labelled = sum(len(m.spans) for m in messages)
    print(f"{len(messages)} messages, {labelled} labelled spans, {args.sample.name}\n")
    print(table(messages, detectors(args.spacy_model)))


if __name__ == "__main__":
    main()
