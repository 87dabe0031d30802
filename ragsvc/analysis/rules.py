"""Stage 3, the fallback that always answers: cues only, and an honest low confidence."""

from __future__ import annotations

from ragsvc.analysis.cues import is_greeting, looks_complex
from ragsvc.analysis.fast import Verdict
from ragsvc.analysis.split import split_question

RULE_CONFIDENCE = 0.5


def classify_by_rules(question: str, language: str) -> Verdict:
    if is_greeting(question):
        return Verdict("chitchat", 0.9, "rule: greeting")
    parts = split_question(question, language)
    if len(parts) >= 2:
        return Verdict("multi_part", 0.8, f"rule: joined questions, {len(parts)} parts", parts)
    if looks_complex(question):
        return Verdict("complex", 0.7, "rule: comparison or reasoning cue")
    return Verdict("simple_factual", RULE_CONFIDENCE, "rule: default, one question")
