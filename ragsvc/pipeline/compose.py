"""A joined message's answer, composed from its parts' answers without a model.

Each part was routed on its own. The parts a cheap route answers (FAQ entry, passage, hand-off)
come first and are streamed at once, then the SLM's, then the LLM's: the answer lists them in that
order, numbered, each under the words of its part, with the parts' citations renumbered into one
list of sources (a passage two parts cite is one source).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ragsvc.pipeline import prompts
from ragsvc.pipeline.answering import EventSink
from ragsvc.traces.schema import PartTrace, Route, Source, Trace

ROUTE_ORDER: tuple[Route, ...] = (
    "no_answer",
    "faq_direct",
    "retrieval_direct",
    "slm_answer",
    "llm_synthesis",
)
"""Routes from the cheapest to the costliest."""
_WAIT = {"slm_answer": 1, "llm_synthesis": 2}
"""How long a route keeps a reader waiting: the model-free routes 0."""


def answer_order(routes: Sequence[Route]) -> list[int]:
    """The parts' indices in the order they are answered: quickest route first, else as asked."""
    return sorted(range(len(routes)), key=lambda i: _WAIT.get(routes[i], 0))


def costliest(routes: Sequence[Route]) -> Route:
    return max(routes, key=ROUTE_ORDER.index, default="no_answer")


class Composition:
    """The message's answer and sources, a part at a time: ``header`` then ``add``."""

    def __init__(self) -> None:
        self._blocks: list[str] = []
        self.sources: list[Source] = []

    def header(self, question: str) -> str:
        """The text that opens the next part's block (streamed before its answer)."""
        n = len(self._blocks) + 1
        return ("\n\n" if n > 1 else "") + f"{n}. {question}\n"

    def add(self, part: PartTrace) -> str:
        """Adds ``part``'s answer with the message's citation numbers; returns that text."""
        mapping = {source.n: self._number(source) for source in part.sources}
        body = prompts.renumber_citations(part.answer, mapping)
        if mapping and not prompts.cited(body, len(self.sources)):
            body += f" [{mapping[part.sources[0].n]}]"
        self._blocks.append(f"{len(self._blocks) + 1}. {part.question}\n{body}")
        return body

    def finish(self, message: Trace) -> None:
        """The message's answer, sources and route from its parts': the route is the costliest
        of theirs, the confidence the lowest, degraded if any part was."""
        routes = [part.route for part in message.parts]
        message.route = costliest(routes)
        message.route_reason = f"{len(routes)} parts, each routed on its own: {', '.join(routes)}"
        message.answer, message.sources = "\n\n".join(self._blocks), self.sources
        message.confidence = min(part.confidence for part in message.parts)
        message.degraded = message.degraded or any(part.degraded for part in message.parts)

    def _number(self, source: Source) -> int:
        for known in self.sources:
            if known.id == source.id:
                return known.n
        self.sources.append(source.model_copy(update={"n": len(self.sources) + 1}))
        return len(self.sources)


class PartStream:
    """A part's events on the message's stream: its route as a ``part`` event with the header of
    its block, then the LLM's text as it is written. The other routes' text goes out once the part
    is done (``pending``), with the message's citation numbers."""

    def __init__(self, sink: EventSink, composition: Composition, n: int, question: str) -> None:
        self.sink = sink
        self.composition = composition
        self.n = n
        self.question = question
        self.route: str | None = None
        self.streamed = False

    def __call__(self, kind: str, body: dict[str, Any]) -> None:
        if kind == "route":
            first = self.route is None
            self.route = body["route"]
            self.sink("part", {**body, "n": self.n, "question": self.question})
            if first:
                self.sink("delta", {"text": self.composition.header(self.question)})
        elif kind == "delta" and self.route == "llm_synthesis":
            self.streamed = True
            self.sink("delta", body)

    def pending(self, part: PartTrace) -> bool:
        """Whether ``part``'s answer has yet to be streamed."""
        return not (self.streamed and part.route == "llm_synthesis")
