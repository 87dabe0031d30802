"""Language detection for the two languages the service supports: Japanese and English."""

from __future__ import annotations

import re

_KANA = re.compile(r"[\u3040-\u30ff]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")


def detect_language(text: str) -> str:
    """``ja`` when kana appear or CJK ideographs make up a fifth of the letters, else ``en``."""
    if _KANA.search(text):
        return "ja"
    letters = sum(1 for ch in text if ch.isalpha())
    cjk = len(_CJK.findall(text))
    return "ja" if letters and cjk / letters >= 0.2 else "en"
