"""Multi-part messages split into self-contained parts, English and Japanese, in microseconds
(plus one small embedding batch when a boundary is in doubt).

People put two requests into one message in many ways: question marks, line breaks, semicolons,
slashes, "and"/"also"/"plus" or a bare comma before a new clause, two sentences, numbered lists,
「あと」「それから」「、」. The splitter works in two passes:

1. **Candidate boundaries** from those cues. A word-level join ("and", "plus", ",", ...) is a
   boundary only before the start of a new clause (a question word, an auxiliary verb, "I", an
   imperative), so "terms and conditions" or "USD and GBP" never split.
2. **Merges.** Each candidate segment is a *question* (it asks: a question mark, a question word or
   auxiliary first, a request) or a *statement* (context: "My card expires next week."). Two
   adjacent questions stay apart. A statement next to a question is the same message's context
   ("My card expires next week. How do I get a new one?") unless the two are about different
   things: with an embedder, their cosine below ``max_similarity`` keeps them apart ("password
   reset / vpn from home"); without one, they are merged (the conservative reading).

A part that leans on the one before ("... and how do I book it?") gets that part's subject in
parentheses when the two are about the same thing, so it can be retrieved on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ragsvc.embedding.spaces import EmbeddingSpaces
    from ragsvc.settings import Settings

Similarity = Callable[[Sequence[str], str], np.ndarray]
"""Unit vectors of ``texts`` asked in ``language`` (one row each), for the doubt test."""

MAX_PARTS = 6

# -- English ----------------------------------------------------------------------------------
_WH = r"what|what's|how|how's|when|where|where's|who|who's|whom|whose|which|why"
_AUX = (
    r"can|can't|could|do|does|did|don't|doesn't|is|isn't|are|aren't|was|were|should|will|won't|"
    r"would|may|might|must|have|has|am|shall"
)
_IMPERATIVE = r"tell|explain|give|list|show|help|please|let|i|i'm|i've|i'd|i'll|any|is there"
_CLAUSE_START = rf"(?:{_WH}|{_AUX}|{_IMPERATIVE})\b"
_EN_PREAMBLE = re.compile(
    r"^\s*(?:(?:\d+|two|three|four|a few|a couple of|some|several)\s+questions?\s*[:\-]\s*)",
    re.IGNORECASE,
)
_EN_NUMBERED = re.compile(r"(?:^|\s)\(?\d\)\s+|(?:^|\s)\d\.\s+(?=[A-Za-z])")
_LIST = re.compile(r"\s*\n+\s*|\s*[;；]\s*")
"""Line breaks and semicolons: a list of requests, each line its own part unless it leans."""
LIST_CUES = ("numbered", "line break or ;")
_EN_HARD = re.compile(r"\s+/\s+|(?<=[?!])\s*(?=[A-Za-z(])")
_EN_SENTENCE = re.compile(r"(?<![\s(.][A-Za-z]\.)(?<!^[A-Za-z]\.)(?<!vs\.)(?<=\.)\s+(?=[A-Za-z])")
"""A full stop and a space before the next word, unless the stop closes an initial or a
one-letter abbreviation ("J. Smith", "e.g. punctuation", "i.e. sold"; not the "s" of "Chili's.");
with no space after it, it is part of a word (".com", "node.js", "e.g.")."""
_EN_BRACKETED = re.compile(r"\([^()]*\)")
_SHIELDED = " \t,.;/?!"
_SHIELD = str.maketrans({c: chr(0xE000 + n) for n, c in enumerate(_SHIELDED)})
_UNSHIELD = str.maketrans({chr(0xE000 + n): c for n, c in enumerate(_SHIELDED)})
"""An aside in brackets is never split ("(tweets and everything)", "(e.g. punctuation)"): its
spaces and punctuation are swapped for private-use characters that no boundary matches, and
swapped back in each segment."""
_EN_BARE_AND = re.compile(r"(\s+(?:and|plus)\s+)", re.IGNORECASE)
_FUNCTION_WORD_LIST = (
    "a an the i me my we our you your it its this that these those there here is are was were be "
    "been am do does did done can could should would will shall may might must have has had what "
    "how why when where who which any some anything something way ways to of in on for with at "
    "by from about so not no yes please help thanks get go know tell wrong happen happens "
    "happening happened going possible ok okay just still now then else s deal big long much many "
    "often soon hello hi hey"
)
_FUNCTION_WORDS = frozenset(_FUNCTION_WORD_LIST.split())
"""Words that ask nothing by themselves: a part made of them only leans on the part before ("What
did I do wrong?", "How long?"), and a plea or greeting made of them ("Help me!", "Hi") on the
part after."""
_EN_SOFT = re.compile(
    rf"\s*,?\s+(?:and\s+also|and\s+then|and|also|plus|as\s+well\s+as)\s+(?={_CLAUSE_START})"
    rf"|\s*,\s*(?={_CLAUSE_START})",
    re.IGNORECASE,
)
_EN_LEADING = re.compile(r"^(?:also|and|plus|additionally|oh and)[,\s]+", re.IGNORECASE)
_EN_SUBORDINATE = re.compile(
    rf"^(?:when|if|because|since|after|before|as|while|though|although|whenever)\b"
    rf"(?!\s+(?:{_AUX})\b)",
    re.IGNORECASE,
)
_EN_LEAD_IN = re.compile(
    r"^(?:when|if|because|since|after|before|as|while|though|although|whenever|in|on|at|for|"
    r"with|without|using|during|from|given)\b",
    re.IGNORECASE,
)
"""A clause or phrase that sets up what follows ("If I get another card, ...", "in austin, ...",
"As a college student ..."): never a part on its own unless it asks something itself."""
_EN_WH_ANYWHERE = re.compile(rf"\b(?:{_WH})\b", re.IGNORECASE)
_EN_FOLLOW_UP = re.compile(
    r"^(?:(?:if (?:yes|not|so)|then|or|so|but|otherwise|thanks|thank you|please help|"
    r"any (?:advice|ideas|help|suggestions|tips))\b|why(?:\s+\w+)?\s*[?.!]*$"
    r"|i(?:'m| am)? (?:do not|don't|dont|not sure|unsure) (?:know |understand |see )?"
    r"why\s*[?.!]*$)",
    re.IGNORECASE,
)
"""A part that follows up on the one before: "If yes, then who?", "Why not?" (a bare "why" only:
"why was my exchange rate different" asks a question of its own), "I don't know why"."""
_EN_QUESTION = re.compile(
    rf"\?\s*$|^(?:{_WH}|{_AUX}|tell|explain|give|list|show|help|please|is there|any)\b"
    r"|\b(?:i (?:need|want|would like|'d like) to know|how to|tell me|help me|"
    r"looking for|is it possible)\b",
    re.IGNORECASE,
)
_EXTRAPOSED_IT = (
    r"(?:(?:possible|true|ok|okay|safe|necessary|normal|legal|allowed|worth|better|best|easy|"
    r"hard|take|takes|cost|costs)\s+(?:to|that)|been\s+since)"
)
_PRONOUN = re.compile(
    rf"\b(?:it(?!\s+{_EXTRAPOSED_IT}\b)|its|they|them|their|this|these|those"
    r"|(?<!\bis )(?<!\bare )(?<!\bwas )(?<!\bwere )(?<!\bany )there"
    r"(?!['’]s\b|\s+(?:is|isn't|are|aren't|was|wasn't|were|weren't|has|have|had|will|seems?)\b)"
    r"|(?<!\bso )(?<!\bknow )(?<!\bsure )that"
    r"(?!\s+(?:i|i'm|my|we|our|you|your|the|a|an|he|she|they|it)\b)"
    r"|(?<!\bthan )(?<!\bthe )one|mine)\b",
    re.IGNORECASE,
)
"""A word that may point back at the part before. Not existential "is there" or "there is", not
"it" standing for what follows ("is it possible to ...", "how long does it take to ...", "how
long has it been since ..."), not "that" joining a clause ("so that my reply address ...", "that
I sent"), not "one" counting ("more than one", "the one for which"): those ask nothing of the
previous part, and counting them kept two joined requests together."""
_WORD = re.compile(r"\w+")

# -- Japanese ---------------------------------------------------------------------------------
_JA_HARD = re.compile(r"(?<=[？?！!])\s*(?=\S)|(?<=。)\s*(?=\S)")
_JA_CONNECTOR = re.compile(r"^(?:それと|それから|あと|また|ついでに|加えて|さらに)、?")
_JA_QUESTION_END = (
    r"(?:か|かな|は|何|なに|誰|だれ|いつ|どこ|どれ|どう|どんな|いくら|いくつ|ですか|ますか|"
    r"でしょうか|ください|下さい|たい|ほしい|教えて)"
)
_JA_SOFT = re.compile(rf"({_JA_QUESTION_END})(、)(?=\S)")
_JA_QUESTION = re.compile(rf"(?:[？?]|{_JA_QUESTION_END}[。？?]?)\s*$")
_JA_BUT = re.compile(r"(?:のですが|んですが|のですけど|んだけど|けれど|けど)、")
_JA_NOUN_END = (
    "方法|手順|やり方|仕方|期限|締め切り|場所|連絡先|条件|金額|上限|時間|申請|設定|手続き|"
    "ルール|規定|担当|窓口|費用|料金|日数|回数|理由|可否|有無"
)
_JA_AND = re.compile(rf"({_JA_NOUN_END})と(?=\S)")
_JA_REQUEST_TAIL = re.compile(
    r"(も|を|について)?(教えて(ください|下さい)?|知りたい(です)?|ください)[。？?]*$"
)


@dataclass(slots=True)
class Split:
    """The parts of a message (one when it is one question) and how they were found."""

    parts: list[str]
    cues: list[str] = field(default_factory=list)
    """The cue at each boundary that was kept, e.g. ``"punctuation"`` or ``"join + clause"``."""
    merged: list[str] = field(default_factory=list)
    """Candidate boundaries that were not kept, and why (cosine vs ``max_similarity``)."""

    @property
    def is_multi_part(self) -> bool:
        return len(self.parts) >= 2


@dataclass(frozen=True, slots=True)
class _Segment:
    text: str
    cue: str
    """The boundary before this segment ("" for the first)."""
    weak: bool = False
    """The boundary is in doubt even between two questions (a bare "and"; Japanese 「…は、…」,
    as often a topic as the end of a question): kept only when the embedder says two topics."""


class QuestionSplitter:
    def __init__(
        self, similarity: Similarity | None = None, max_similarity: dict[str, float] | None = None
    ) -> None:
        """``max_similarity``: per question language ("" for any other), the cosine from which a
        statement and its neighbour are one topic (each embedder has its own scale)."""
        self.similarity = similarity
        self.max_similarity = max_similarity or {}

    def split(self, text: str, language: str) -> Split:
        segments = _segments_ja(text) if language == "ja" else _segments_en(text)
        segments = [s for s in segments if _WORD.search(s.text)]
        if len(segments) < 2:
            return Split([text.strip()])
        cosines = _Cosines(self.similarity, [s.text for s in segments], language)
        groups: list[list[_Segment]] = [[segments[0]]]
        merged: list[str] = []
        for n, segment in enumerate(segments[1:]):
            why = self._merge_reason(groups[-1], segment, partial(cosines.at, n), language)
            if why:
                merged.append(f"{segment.cue}: {why}")
                groups[-1].append(segment)
            else:
                groups.append([segment])
        if len(groups) < 2:
            return Split([text.strip()], merged=merged)
        parts = [_finish(_rejoined(text, group, language), language) for group in groups]
        parts = parts[:MAX_PARTS]
        if language != "ja":
            parts = _share_subject(parts, cosines, groups, self._threshold(language))
        return Split(parts, [g[0].cue for g in groups[1:]], merged)

    def _merge_reason(
        self,
        group: list[_Segment],
        segment: _Segment,
        cosine_of: Callable[[], float | None],
        language: str,
    ) -> str:
        """Why ``segment`` stays with the ``group`` before it ("" when it is a part of its own).
        In English, asking nothing is said of the whole group: "... delete my account now,
        please" is a request of its own even though its last piece ("please") is not. In
        Japanese, of the last piece: 「生命は、いつ、どこで、…」 is one question in short pieces."""
        previous = group[-1]
        said = previous.text if language == "ja" else " ".join(s.text for s in group)
        if _leans_on_previous(segment.text, language) or _asks_nothing(said, language):
            return "asks nothing of its own, or follows up"
        if segment.cue in LIST_CUES:
            return ""
        if language != "ja" and (why := _english_context(previous.text)):
            return why
        is_question = _is_question_ja if language == "ja" else _is_question_en
        if is_question(previous.text) and is_question(segment.text) and not segment.weak:
            return ""
        if language != "ja" and _PRONOUN.search(segment.text):
            return "context: the later part refers back"
        cosine = cosine_of()
        if cosine is None:
            return "context (no embedding test)"
        one_topic = cosine >= self._threshold(language)
        return f"context: one topic (cosine {cosine:.2f})" if one_topic else ""

    def _threshold(self, language: str) -> float:
        return self.max_similarity.get(language, self.max_similarity.get("", 1.0))


class _Cosines:
    """Cosines of neighbouring segments, embedded (one batch) only once a boundary needs one."""

    def __init__(self, similarity: Similarity | None, texts: list[str], language: str) -> None:
        self.similarity, self.texts, self.language = similarity, texts, language
        self._vectors: np.ndarray | None = None

    def at(self, n: int) -> float | None:
        """Between segment ``n`` and ``n + 1``; None without an embedder."""
        if self.similarity is None:
            return None
        if self._vectors is None:
            self._vectors = self.similarity(self.texts, self.language)
        return float(self._vectors[n] @ self._vectors[n + 1])


def _segments_en(text: str) -> list[_Segment]:
    text = _EN_PREAMBLE.sub("", text.strip())
    text = _EN_BRACKETED.sub(lambda m: m.group(0).translate(_SHIELD), text)
    segments = [_Segment(text, "")]
    for pattern, cue in (
        (_EN_NUMBERED, "numbered"),
        (_LIST, "line break or ;"),
        (_EN_HARD, "punctuation"),
        (_EN_SENTENCE, "sentence"),
        (_EN_SOFT, "join + clause"),
    ):
        segments = [
            _Segment(_EN_LEADING.sub("", piece.strip()).strip(" ,"), segment.cue if i == 0 else cue)
            for segment in segments
            for i, piece in enumerate(pattern.split(segment.text))
            if piece.strip()
        ]
    return [
        _Segment(piece.text.translate(_UNSHIELD), piece.cue, piece.weak)
        for segment in segments
        for piece in _split_bare_and(segment)
    ]


def _split_bare_and(segment: _Segment) -> list[_Segment]:
    """ "... and ..." or "... plus ..." with no new clause after it ("... marked as spam plus
    having two dropbox accounts"): a boundary in doubt, between two pieces of four words or more
    only; a shorter piece stays with the one before ("what is owed for my water and gas bills |
    plus set a timer")."""
    first, *rest = _EN_BARE_AND.split(segment.text)
    pieces = [[first]]
    for joiner, piece in zip(rest[::2], rest[1::2], strict=True):
        if _words("".join(pieces[-1])) < 4 or _words(piece) < 4:
            pieces[-1] += [joiner, piece]
        else:
            pieces.append([piece])
    texts = ["".join(words) for words in pieces]
    return [_Segment(texts[0], segment.cue), *(_Segment(t, "and", weak=True) for t in texts[1:])]


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def _segments_ja(text: str) -> list[_Segment]:
    segments: list[_Segment] = []
    for line in (p for p in _LIST.split(text.strip()) if p.strip()):
        for m, sentence in enumerate(p for p in _JA_HARD.split(line) if p.strip()):
            clauses = _split_ja_clause(_JA_CONNECTOR.sub("", sentence.strip()))
            first, *rest = clauses or [_Segment("", "")]
            cue = "" if not segments else "punctuation" if m else LIST_CUES[1]
            segments.append(_Segment(first.text, cue))
            segments.extend(rest)
    return segments


def _split_ja_clause(sentence: str) -> list[_Segment]:
    """「AのですがBとCも教えてください」 -> A, B, C; 「Aは何か、Bはいつか」 -> A, B."""
    parts: list[_Segment] = []
    rest = sentence
    if _JA_BUT.search(sentence):
        problem, rest = _JA_BUT.split(sentence, maxsplit=1)
        parts.append(_Segment(f"{problem}場合はどうすればよいですか？", ""))
    cuts = [(m.start(2), m.group(1) == "は") for m in _JA_SOFT.finditer(rest)]
    starts = [(0, False), *cuts]
    ends = [c for c, _ in cuts] + [len(rest)]
    for (start, weak), end in zip(starts, ends, strict=True):
        clause = rest[start:end].strip(" 、")
        tail = _JA_REQUEST_TAIL.search(clause)
        body = clause[: tail.start()] if tail else clause
        items = [i.strip(" 、") for i in _JA_AND.sub("\\1\0", body).split("\0") if i.strip()]
        texts = [f"{i}を教えてください。" for i in items] if len(items) >= 2 else [clause]
        for n, text in enumerate(t for t in texts if t):
            cue = "と" if n else "、" if start else ""
            parts.append(_Segment(text, cue, weak=weak and n == 0))
    return parts


def _is_question_en(text: str) -> bool:
    text = text.strip()
    return bool(_EN_QUESTION.search(text)) and not _EN_SUBORDINATE.match(text)


def _english_context(previous: str) -> str:
    """Why ``previous`` is context for what follows in English, whatever the embedder says.
    (Measured and not kept, on 600 real singles and 600 joined messages: a short statement before
    a question, a statement after a question, no bare "and" inside a question: each split fewer
    singles, 0.2-0.7 points, and lost 2-11 points of joined messages split.)"""
    asks = _is_question_en(previous) or _EN_WH_ANYWHERE.search(previous)
    return "context: a lead-in to what follows" if _EN_LEAD_IN.match(previous) and not asks else ""


def _is_question_ja(text: str) -> bool:
    return bool(_JA_QUESTION.search(text.strip()))


def _too_short(text: str, language: str) -> bool:
    if language == "ja":
        return len(text.strip(" 、。？?")) < 4
    return _words(text) < 2


def _asks_nothing(text: str, language: str) -> bool:
    """Too short to stand alone, or (English) with nothing of its own to ask about: "What did I
    do wrong?", "Help me!"."""
    short = _too_short(text, language)
    if short or language == "ja":
        return short
    return all(w in _FUNCTION_WORDS for w in _WORD.findall(text.lower()))


def _leans_on_previous(text: str, language: str) -> bool:
    """Asks nothing of its own, or a follow-up ("If yes, then who?")."""
    follow_up = language != "ja" and bool(_EN_FOLLOW_UP.match(text))
    return _asks_nothing(text, language) or follow_up


def _rejoined(text: str, group: list[_Segment], language: str) -> str:
    """A group of segments as one part: the span of ``text`` they cover, with the words between
    them that the split took out ("and", 「と」), else (a segment was rewritten) joined."""
    first, last = group[0].text, group[-1].text
    start = text.find(first)
    end = text.find(last, start + len(first)) if len(group) > 1 else start
    if start < 0 or end < 0:
        joiner = "" if language == "ja" else " "
        return joiner.join(_tidy(s.text, language) for s in group)
    return _tidy(text[start : end + len(last)], language)


def _tidy(text: str, language: str) -> str:
    return text.strip(" ,、;；") if language == "ja" else text.strip(" ,;")


def _finish(part: str, language: str) -> str:
    if language == "ja":
        return part
    part = part if part.endswith(("?", ".", "!")) else f"{part}?"
    first = _WORD.match(part)
    if first is None or first.group(0).lower() not in _FUNCTION_WORDS:
        return part  # "vpn from home?" stays as written: a name or acronym, not "Vpn"
    return part[:1].upper() + part[1:]


def _share_subject(
    parts: list[str],
    cosines: _Cosines,
    groups: list[list[_Segment]],
    max_similarity: float,
) -> list[str]:
    """A short part with a pronoun, about the same thing as the part before it, repeats it."""
    shared = [parts[0]]
    boundary = 0
    for n, part in enumerate(parts[1:], start=1):
        boundary += len(groups[n - 1])
        if not (_PRONOUN.search(part) and len(part.split()) <= 8):
            shared.append(part)
            continue
        cosine = cosines.at(boundary - 1)
        if cosine is None or cosine >= max_similarity:
            part = f"{part.rstrip('?.!')} ({parts[n - 1].rstrip('?.!')})?"
        shared.append(part)
    return shared


def build_splitter(settings: Settings, spaces: EmbeddingSpaces) -> QuestionSplitter:
    """The service's splitter: the rules, and the embedding test in each language's space."""
    thresholds = split_thresholds(
        settings.analysis.split_max_similarity,
        settings.multilingual.split_max_similarity,
        settings.multilingual.languages if settings.multilingual.enabled else [],
    )
    return QuestionSplitter(spaces.unit_vectors if thresholds else None, thresholds)


def split_thresholds(
    primary: float | None, multilingual: float, multilingual_languages: Sequence[str]
) -> dict[str, float]:
    """``QuestionSplitter.max_similarity`` from the settings (empty: no embedding test)."""
    if primary is None:
        return {}
    return {"": primary, **{language: multilingual for language in multilingual_languages}}


_RULES_ONLY = QuestionSplitter()


def split_question(text: str, language: str) -> list[str]:
    """The parts by the rules alone (no embedder: a statement beside a question stays with it)."""
    return _RULES_ONLY.split(text, language).parts
