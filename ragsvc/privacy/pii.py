"""PII found by pattern and checksum and replaced by a placeholder such as ``[EMAIL]``.

Found: e-mail addresses; phone numbers (North American, Japanese, and any written with ``+`` and
a country code); payment cards (13-19 digits, Luhn); US SSNs (area, group and serial valid,
dashed or spaced, or nine digits after "SSN"/"social security"); Japanese My Numbers (12 digits,
check digit). Not found: names (no NER), postal addresses, bare 10-digit US numbers, and
numbers that merely look right (an order number in SSN shape, a Luhn-valid 16-digit id).

Why not a library (``bench/pii.py`` on ``tests/data/pii_sample.jsonl``, 131 EN/JA messages): this
module's recall is 1.00 on e-mails, cards, SSNs and My Numbers and 0.96 on phones. presidio-analyzer
2.2 with its no-op NLP engine (patterns only, no model) has no My Number recognizer (0.00), misses
e-mails and cards written against Japanese text and full-width digits (0.81, 0.82), rejects
123-45-6789 as a published example (SSN 0.75) and takes IP addresses and My Numbers for phones;
with spaCy NER it finds the 14 English names of 23 (0.65, precision 0.71: "Zoom", "JPY" and
whole Japanese sentences as names; no Japanese name but by such a sentence) but needs a model
package, which PyPI has only as unofficial mirrors. scrubadub 2.0 finds 0.09 of cards and 0.75
of phones, and its name detector downloads NLTK corpora.

Matching runs on a view of the text in which each character is NFKC-folded on its own where that
keeps it one character (full-width digits, ＠, ＋, ideographic space) and dash-likes (ー, −, ‐) read
as "-": offsets match the original, so everything outside a match is kept as written. Each pattern
starts at a boundary (a lookbehind) and has bounded or unambiguous repeats, so a search is linear
in the text's length.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

PiiType = Literal["EMAIL", "PHONE", "CARD", "SSN", "MY_NUMBER"]


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    type: PiiType


@dataclass(frozen=True, slots=True)
class Redaction:
    text: str
    counts: dict[str, int]
    """Placeholders put in, by type; only types found."""


# -- the folded view ----------------------------------------------------------------------------
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d\uff70")


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    if ch in _DASHES:
        return "-"
    folded = unicodedata.normalize("NFKC", ch)
    return folded if len(folded) == 1 else ch


def _fold(text: str) -> str:
    return text if text.isascii() else "".join(map(_fold_char, text))


# -- the rules ----------------------------------------------------------------------------------
_NOT_DIGIT = re.compile(r"[^0-9]")
_DIGIT = frozenset("0123456789")


def _stands_alone(folded: str, start: int, end: int) -> bool:
    """Whether the number at ``start:end`` is not part of a longer one: no digit joined to it by
    "-" or "." (a date, version, IP address or longer id), nor by " " when it is spaced itself."""
    separators = ".-" + (" " if " " in folded[start:end] else "")
    before, after = folded[max(start - 2, 0) : start], folded[end : end + 2]
    joined_before = (
        folded[start] in _DIGIT
        and len(before) == 2
        and before[0] in _DIGIT
        and before[1] in separators
    )
    joined_after = len(after) == 2 and after[0] in separators and after[1] in _DIGIT
    return not (joined_before or joined_after)


def _digits(text: str) -> str:
    return _NOT_DIGIT.sub("", text)


def _luhn(text: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(_digits(text))):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _my_number(text: str) -> bool:
    """The check digit of a My Number (個人番号), as the Ordinance on the Individual Number sets."""
    d = [int(ch) for ch in _digits(text)]
    total = sum(d[11 - n] * (n + 1 if n <= 6 else n - 5) for n in range(1, 12))
    remainder = total % 11
    return d[11] == (0 if remainder <= 1 else 11 - remainder)


def _ssn(text: str) -> bool:
    d = _digits(text)
    return d[:3] not in ("000", "666") and d[0] != "9" and d[3:5] != "00" and d[5:] != "0000"


def _international_phone(text: str) -> bool:
    return 8 <= len(_digits(text)) <= 15  # E.164: at most 15 digits with the country code


def _japanese_phone(text: str) -> bool:
    d = _digits(text)
    if len(d) == 10:
        return d[1] != "0"
    return len(d) == 11 and d[:3] in ("050", "070", "080", "090")


@dataclass(frozen=True, slots=True)
class _Rule:
    type: PiiType
    pattern: re.Pattern[str]
    valid: Callable[[str], bool] | None
    group: int


def _rule(
    kind: PiiType, pattern: str, valid: Callable[[str], bool] | None = None, *, group: int = 0
) -> _Rule:
    """A rule; a number's match never touches another digit."""
    if kind != "EMAIL":
        pattern = rf"(?<![0-9])(?:{pattern})(?![0-9])"
    return _Rule(kind, re.compile(pattern, re.ASCII), valid, group)


_RULES: tuple[_Rule, ...] = (
    _rule(
        "EMAIL",
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}(?![A-Za-z0-9-])",
    ),
    _rule(
        "CARD",
        r"(?=[2-6])(?:[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}"
        r"|[0-9]{4}([ -])[0-9]{6}\2[0-9]{4,5}|[0-9]{13,19})",
        _luhn,
    ),
    _rule("MY_NUMBER", r"[0-9]{4}([ -]?)[0-9]{4}\1[0-9]{4}", _my_number),
    _rule("SSN", r"[0-9]{3}([ -])[0-9]{2}\1[0-9]{4}", _ssn),
    _rule(
        "SSN", r"(?i:\b(?:ssn|social security(?: number)?)\b)[^0-9]{0,30}([0-9]{9})", _ssn, group=1
    ),
    # +81 90-1234-5678, +1 (312) 555-0198, +44 20 7946 0958: digit runs joined by one separator
    # or a bracketed run; possessive, so a failing run is given up at once
    _rule(
        "PHONE",
        r"(?<![A-Za-z0-9+])\+[0-9]++(?:(?:[ .-]?\([0-9]++\)[ .-]?|[ .-])[0-9]++)*+",
        _international_phone,
    ),
    # (555) 123-4567, 1-555-123-4567, 555.234.5678
    _rule(
        "PHONE", r"(?:1[ .-]?)?(?:\([2-9][0-9]{2}\)[ .-]?|[2-9][0-9]{2}[ .-])[0-9]{3}[ .-][0-9]{4}"
    ),
    # 03-1234-5678, 0120-123-456, (03)1234-5678, 03(1234)5678, 09012345678
    _rule(
        "PHONE",
        r"0[0-9]{1,4}([ -])[0-9]{1,4}\1[0-9]{3,4}|\(0[0-9]{1,4}\) ?[0-9]{1,4}-[0-9]{4}"
        r"|0[0-9]{1,4}\([0-9]{1,4}\)[0-9]{4}|0[0-9]{9,10}",
        _japanese_phone,
    ),
)


def find_pii(text: str) -> list[Span]:
    """The PII in ``text``, in order; where two findings overlap the longer one is kept."""
    folded = _fold(text)
    found: list[Span] = []
    for rule in _RULES:
        for match in rule.pattern.finditer(folded):
            start, end = match.span(rule.group)
            if rule.type != "EMAIL" and not _stands_alone(folded, start, end):
                continue
            if rule.valid is None or rule.valid(folded[start:end]):
                found.append(Span(start, end, rule.type))
    taken = bytearray(len(text))
    kept: list[Span] = []
    for span in sorted(found, key=lambda s: (s.start - s.end, s.start)):
        if not any(taken[span.start : span.end]):
            taken[span.start : span.end] = b"\x01" * (span.end - span.start)
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


def redact(text: str) -> Redaction:
    """``text`` with each PII finding replaced by ``[TYPE]``; the rest kept as written."""
    spans = find_pii(text)
    parts: list[str] = []
    last = 0
    for span in spans:
        parts += (text[last : span.start], f"[{span.type}]")
        last = span.end
    parts.append(text[last:])
    return Redaction("".join(parts), dict(Counter(span.type for span in spans)))


def is_local_endpoint(base_url: str) -> bool:
    """Whether ``base_url`` names a loopback host (localhost, 127.0.0.0/8, ::1)."""
    try:
        host = urlsplit(base_url if "//" in base_url else f"//{base_url}").hostname
    except ValueError:  # e.g. an unclosed "[": not a host we can call local
        return False
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
