"""Stage 1, milliseconds: surface cues, distance to the corpus, the nearest labelled examples and
the trained complexity head.

The question's embedding is the one retrieval computes anyway. Class scores are the mean cosine
similarity of the ``knn`` nearest examples of each class, turned into probabilities by a softmax
with ``temperature``; a cue (greeting, a join of two questions) settles at once. Unless the nearest
examples say small talk, simple vs complex is then the complexity head's call (``head.py``) where
one was fitted for the language and embedder; without one, a comparison or reasoning cue and the
nearest examples decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from ragsvc.analysis.config import AnalysisSettings
from ragsvc.analysis.cues import is_greeting, looks_complex
from ragsvc.analysis.head import ComplexityHead, load_head
from ragsvc.analysis.schema import QueryKind
from ragsvc.analysis.scope import ScopeCheck
from ragsvc.analysis.split import QuestionSplitter
from ragsvc.embedding.base import Embedder, Vectors
from ragsvc.errors import ConfigError

DEFAULT_EXEMPLARS = Path(__file__).with_name("exemplars.yaml")


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: QueryKind
    confidence: float
    detail: str
    sub_queries: list[str] = field(default_factory=list)
    domain: str | None = None
    decisive: bool = False
    """A cue (greeting, joined questions) settles the question whatever the threshold."""
    by_head: bool = False
    """The complexity head made the call (``analysis.head_confidence`` applies)."""


def load_exemplars(path: Path | None) -> dict[str, list[str]]:
    source = path or DEFAULT_EXEMPLARS
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read analysis exemplars {source}: {exc}") from exc
    if not isinstance(data, dict) or len(data) < 2:
        raise ConfigError(f"{source} must map at least two classes to lists of questions")
    return {str(k): [str(q) for q in v] for k, v in data.items()}


class FastClassifier:
    def __init__(
        self,
        embedder: Embedder,
        settings: AnalysisSettings,
        scope: ScopeCheck | None = None,
        exemplars: dict[str, list[str]] | None = None,
        head: ComplexityHead | None = None,
        splitter: QuestionSplitter | None = None,
    ) -> None:
        self.embedder = embedder
        self.splitter = splitter or QuestionSplitter()
        self.settings = settings
        self.scope = scope
        self.exemplars = exemplars or load_exemplars(settings.exemplars)
        if head is None and settings.use_complexity_head:
            head = load_head(settings.complexity_head, embedder.name)
        self.head = head
        self._matrix: Vectors | None = None
        self._labels: list[str] = []

    def warm_up(self) -> None:
        if self._matrix is None:
            questions = [q for qs in self.exemplars.values() for q in qs]
            self._labels = [label for label, qs in self.exemplars.items() for _ in qs]
            self._matrix = self.embedder.embed_queries(questions)

    def class_probabilities(self, vector: Vectors) -> dict[str, float]:
        self.warm_up()
        assert self._matrix is not None
        similarity = self._matrix @ vector
        labels = np.asarray(self._labels)
        scores = {}
        for label in self.exemplars:
            own = np.sort(similarity[labels == label])[::-1][: self.settings.knn]
            scores[label] = float(own.mean())
        values = np.asarray(list(scores.values())) / self.settings.temperature
        weights = np.exp(values - values.max())
        weights /= weights.sum()
        return dict(zip(scores, (float(w) for w in weights), strict=True))

    def classify(self, question: str, vector: Vectors, language: str) -> Verdict:
        if is_greeting(question):
            return Verdict("chitchat", 0.95, "greeting or small talk", decisive=True)
        split = self.splitter.split(question, language)
        if split.is_multi_part:
            detail = f"joined questions: {len(split.parts)} parts ({', '.join(split.cues)})"
            return Verdict("multi_part", 0.9, detail, split.parts, decisive=True)
        domain = None
        if self.scope is not None:
            nearest = self.scope.nearest(question, vector)
            domain = nearest.tags[0] if nearest.tags else None
            threshold = self.settings.scope_threshold
            if nearest.similarity < threshold:
                far = nearest.similarity < threshold - 0.05
                return Verdict(
                    "out_of_scope",
                    0.9 if far else 0.6,
                    f"corpus similarity {nearest.similarity:.3f} < {threshold} "
                    f"(mean of the {self.settings.scope_neighbours} nearest)",
                )
        probabilities = self.class_probabilities(vector)
        label = max(probabilities, key=probabilities.__getitem__)
        detail = ", ".join(f"{k} {v:.2f}" for k, v in sorted(probabilities.items()))
        p_complex = self.head.probability(question, vector, language) if self.head else None
        if label != "chitchat" and p_complex is not None:
            kind: QueryKind = "complex" if p_complex >= 0.5 else "simple_factual"
            confidence = max(p_complex, 1 - p_complex)
            head_detail = f"complexity head P(complex) {p_complex:.2f}"
            return Verdict(kind, confidence, head_detail, domain=domain, by_head=True)
        if looks_complex(question):
            return Verdict("complex", 0.85, "comparison or reasoning cue", domain=domain)
        kind = label  # type: ignore[assignment]
        return Verdict(kind, probabilities[label], f"nearest examples: {detail}", domain=domain)

    def informs(self, language: str) -> bool:
        """Whether an unsure simple/complex reading of this stage still beats a default."""
        return self.head is not None and language in self.head.heads
