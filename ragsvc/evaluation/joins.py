"""How people put two or three requests into one message: the join styles of the evaluation sets.

Each style turns real single questions into one message, the way a customer types it. ``DEV``
styles are the ones the splitter (``ragsvc/analysis/split.py``) was written and tuned from;
``HELD_OUT`` styles were written down before the splitter was changed and no rule or example was
taken from them, so their figures say how the splitter does on joins nobody designed it for.
Benchmarks report the two apart.

English (a part is the question as asked, its closing ``?``/``.``/``!`` dropped where the style
adds its own; "lower" lower-cases its first letter unless it is "I" or a name):
- dev: ``and`` "a and b" all lower case, no punctuation; ``comma_and`` "A, and b?"; ``and_also``
  "A, and also b?"; ``also_sentence`` "A? Also, b?"; ``semicolon`` "A; b"; ``slash`` "a / b";
  ``question_marks`` "A? B?"; ``sentences`` "A. B."; ``plus`` "A plus b"; ``newline`` "A\\nB";
  ``numbered`` "2 questions: 1) A 2) B"; ``comma`` "a, b" lower case.
- held out: ``ampersand`` "A & b"; ``dash`` "A - b"; ``btw`` "A. btw b"; ``one_more`` "A? one
  more thing, b?"; ``bullets`` "- A\\n- B".
Japanese (a part without its closing ？/?/。):
- dev: ``sore_to`` 「A？それと、B？」; ``ato`` 「A。あと、B」; ``sorekara`` 「A。それから、B？」;
  ``question_marks`` 「A？B？」; ``touten`` 「A、B」; ``newline`` 「A\\nB」; ``kuten`` 「A。B。」.
- held out: ``mou_hitotsu`` 「A。もう一つ、B」; ``soreni`` 「A？それに、B？」; ``slash``
  「A／B」; ``space`` 「A　B」 (ideographic space); ``bullets`` 「・A\\n・B」.
Three parts use the same separator twice ("a, b and c" for ``and``: the last join is the style's,
the earlier ones a comma, as people write lists; other styles repeat their separator).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Joiner = Callable[[Sequence[str]], str]


def _bare(part: str) -> str:
    return part.strip().rstrip("?？.。!！").rstrip()


def _lower(part: str) -> str:
    word = part.split(maxsplit=1)[0] if part else ""
    if word == "I" or word.startswith("I'") or word[1:] != word[1:].lower():
        return part  # "I", or a name such as "GitHub" or "AWS"
    return part[:1].lower() + part[1:]


def _en(first: str, separator: str, end: str = "?", lower_rest: bool = True) -> Joiner:
    """``first`` before the first part, ``separator`` between parts, ``end`` after the last."""

    def join(parts: Sequence[str]) -> str:
        bare = [_bare(p) for p in parts]
        rest = [_lower(p) if lower_rest else p for p in bare[1:]]
        return first + separator.join([bare[0], *rest]) + end

    return join


def _en_list(last: str, end: str = "?", lower_all: bool = False) -> Joiner:
    """ "a, b and c": commas, then ``last`` before the final part."""

    def join(parts: Sequence[str]) -> str:
        bare = [_bare(p) for p in parts]
        bare = [p.lower() for p in bare] if lower_all else [bare[0], *map(_lower, bare[1:])]
        head = ", ".join(bare[:-1])
        return f"{head}{last}{bare[-1]}{end}"

    return join


def _numbered(parts: Sequence[str]) -> str:
    items = " ".join(f"{n}) {_bare(p)}?" for n, p in enumerate(parts, start=1))
    return f"{len(parts)} questions: {items}"


def _ja(separator: str, end: str = "") -> Joiner:
    def join(parts: Sequence[str]) -> str:
        return separator.join(_bare(p) for p in parts) + end

    return join


def _ja_bullets(parts: Sequence[str]) -> str:
    return "\n".join(f"・{_bare(p)}" for p in parts)


EN_DEV: dict[str, Joiner] = {
    "and": _en_list(" and ", end="", lower_all=True),
    "comma_and": _en_list(", and "),
    "and_also": _en_list(", and also "),
    "also_sentence": _en("", "? Also, "),
    "semicolon": _en("", "; "),
    "slash": _en("", " / ", end="", lower_rest=True),
    "question_marks": _en("", "? ", lower_rest=False),
    "sentences": _en("", ". ", end=".", lower_rest=False),
    "plus": _en("", " plus "),
    "newline": _en("", "?\n", lower_rest=False),
    "numbered": _numbered,
    "comma": _en_list(", ", end="", lower_all=True),
}
EN_HELD_OUT: dict[str, Joiner] = {
    "ampersand": _en("", " & "),
    "dash": _en("", " - "),
    "btw": _en("", ". btw ", end=""),
    "one_more": _en("", "? one more thing, "),
    "bullets": lambda parts: "\n".join(f"- {_bare(p)}" for p in parts),
}
JA_DEV: dict[str, Joiner] = {
    "sore_to": _ja("？それと、", "？"),
    "ato": _ja("。あと、"),
    "sorekara": _ja("。それから、", "？"),
    "question_marks": _ja("？", "？"),
    "touten": _ja("、"),
    "newline": _ja("\n"),
    "kuten": _ja("。", "。"),
}
JA_HELD_OUT: dict[str, Joiner] = {
    "mou_hitotsu": _ja("。もう一つ、"),
    "soreni": _ja("？それに、", "？"),
    "slash": _ja("／"),
    "space": _ja("\u3000"),
    "bullets": _ja_bullets,
}
STYLES: dict[str, dict[str, dict[str, Joiner]]] = {
    "en": {"dev": EN_DEV, "held_out": EN_HELD_OUT},
    "ja": {"dev": JA_DEV, "held_out": JA_HELD_OUT},
}


def style_names(language: str, group: str) -> list[str]:
    return list(STYLES[language][group])


def join_parts(parts: Sequence[str], language: str, style: str) -> str:
    """``parts`` (two or more real questions) as one message in ``style``."""
    for group in STYLES[language].values():
        if style in group:
            return group[style](parts)
    raise ValueError(f"unknown {language} join style {style!r}")


def is_held_out(language: str, style: str) -> bool:
    return style in STYLES[language]["held_out"]
