"""Shadow sampling: a share of the cheap routes' answers is put to the LLM in the background,
which tells whether the cheap answer answers the question from the passages (``shadow.method``:
asked YES or NO, or answering itself, the cheap answer right when the LLM cites its source or
draws its answer from it); the verdicts are the live misrouting estimate per route and variant,
and the fail-safe's evidence.

Off the response path by construction: the answer has gone out (or is going out) when a sample is
offered; the sample waits in a bounded queue (``shadow.max_pending``, beyond which it is dropped)
for one background thread, takes an LLM slot only when one is free (a user never waits behind a
sample; a busy LLM skips it), and only within the month's budget (a reservation, and never once the
budget is nearly spent). Which answers are sampled follows the trace id (``shadow.share``), so a
replay samples the same ones. Skips and drops are counted per reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from textwrap import shorten

from ragsvc.control.state import bucket
from ragsvc.control.store import ControlStore, ShadowVerdict
from ragsvc.cost.ledger import CostLedger, estimate_tokens
from ragsvc.llm.client import ChatModel, LlmError
from ragsvc.pipeline import prompts
from ragsvc.pipeline.admission import ModelSlots, OverloadedError
from ragsvc.pipeline.answering import Answering
from ragsvc.pipeline.quality import DRAWN_MIN_SHARE, declines, drawn_from
from ragsvc.privacy.pii import redact
from ragsvc.retrieval.fusion import Hit
from ragsvc.settings import CONTROL, Settings
from ragsvc.traces.schema import Trace, utc_now

log = logging.getLogger(__name__)

Retrieve = Callable[[Answering], list[Hit]]


def source_key(faq_id: str | None, point_id: str) -> str:
    """What an answer's source counts as when the citations method compares it: its FAQ entry
    (any of the entry's points: a phrasing, its answer), else the passage itself."""
    return f"faq:{faq_id}" if faq_id else point_id


def hit_source(hit: Hit) -> str:
    faq = hit.payload.get("faq")
    return source_key(str(faq["faq_id"]) if faq else None, hit.id)


def trace_sources(trace: Trace) -> frozenset[str]:
    """The sources a cheap answer rests on: its FAQ entry, the passage it quotes, or the ones it
    cites."""
    return frozenset(source_key(s.faq_id, s.id) for s in trace.sources)


NO_PASSAGE = "no passage"
"""The source of an LLM answer that declines or takes its words from none of the passages: the
passages do not hold the answer, so a cheap answer resting on one of them is wrong."""


def attributed(answer: str, given: Sequence[Hit]) -> tuple[tuple[str, ...], str]:
    """The sources an LLM answer rests on, and how that was read: the passages it cites, else
    :data:`NO_PASSAGE` when it declines, else the one source (:func:`hit_source`, an FAQ entry's
    points taken together) its words are drawn from (``ragsvc/pipeline/quality.py``), else
    :data:`NO_PASSAGE` when no source holds half its words, else none (two sources hold as much
    of it)."""
    cited = tuple(hit_source(given[n - 1]) for n in prompts.cited(answer, len(given)))
    if cited:
        return cited, f"the LLM cited {', '.join(cited)}"
    if declines(answer):
        return (NO_PASSAGE,), "the LLM found no answer in the passages"
    texts: dict[str, list[str]] = {}
    for hit in given:
        texts.setdefault(hit_source(hit), []).append(hit.text)
    sources = list(texts)
    drawn = drawn_from(answer, ["\n".join(texts[s]) for s in sources])
    shares = f"{drawn.share:.2f} of its words, the next source {drawn.runner_up:.2f}"
    if drawn.index is not None:
        source = sources[drawn.index]
        return (source,), f"the LLM cited no passage; its answer is drawn from {source} ({shares})"
    if drawn.share < DRAWN_MIN_SHARE:
        return (NO_PASSAGE,), f"the LLM answered from none of the passages ({shares})"
    return (), f"the LLM cited no passage, and its answer is drawn from none ({shares})"


def citation_verdict(cited: Sequence[str], sources: Collection[str]) -> bool | None:
    """The citations method's verdict: the LLM cited one of ``sources`` (True), only others
    (False), or nothing (None: no verdict)."""
    if not cited:
        return None
    return any(c in sources for c in cited)


ANSWER_SHOWN_CHARS = 400
"""How much of the LLM's own answer a citations verdict's reason shows (the operator reads what
the LLM said in the cheap answer's place)."""

_VERDICTS = {True: "agree", False: "disagree", None: "unclear"}
"""The judge's reply read (it answers, it does not, unreadable) as the verdict stored."""
OnVerdict = Callable[[ShadowVerdict], None]


class ShadowSampler:
    def __init__(
        self,
        settings: Settings,
        llm: ChatModel | None,
        slots: ModelSlots,
        ledger: CostLedger,
        store: ControlStore,
        retrieve: Retrieve,
    ) -> None:
        self.settings = settings
        self.llm = llm
        self.slots = slots
        self.ledger = ledger
        self.store = store
        self.retrieve = retrieve
        self.on_verdict: list[OnVerdict] = []
        """Called with each stored verdict (the fail-safe, the metrics); a failing one is logged."""
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")
        self._lock = threading.Lock()
        self._pending = 0
        self.skipped: Counter[str] = Counter()
        """Samples not judged, per reason (queue_full, busy, budget, llm_error, store_error)."""
        self.judged = 0

    def sampled(self, trace: Trace) -> bool:
        """Whether ``trace``'s answer is one to judge: a one-question message answered by a cheap
        route in ``shadow.routes``, not degraded, in the ``shadow.share`` its trace id falls in."""
        s = self.settings.shadow
        return (
            s.share > 0
            and self.llm is not None
            and not trace.parts
            and not trace.degraded
            and trace.route in s.routes
            and bucket(trace.trace_id, "shadow") < s.share
        )

    def offer(self, trace: Trace, stored: Trace, ctx: Answering) -> bool:
        """Queue ``trace`` for judging when it is sampled; never waits. ``stored`` is the trace
        as stored (redacted as configured): the verdict keeps its question and answer."""
        if not self.sampled(trace):
            return False
        with self._lock:
            if self._pending >= self.settings.shadow.max_pending:
                self.skipped["queue_full"] += 1
                return False
            self._pending += 1
        self._pool.submit(self._judge_one, trace, stored, ctx)
        return True

    def pending(self) -> int:
        with self._lock:
            return self._pending

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _judge_one(self, trace: Trace, stored: Trace, ctx: Answering) -> None:
        try:
            verdict = self._judge(trace, stored, ctx)
        except Exception:  # a sample never takes the service down
            log.exception("shadow sample of question %s failed", trace.trace_id)
            verdict = None
        finally:
            with self._lock:
                self._pending -= 1
        if verdict is None:
            return
        for listener in self.on_verdict:
            try:
                listener(verdict)
            except Exception:
                log.exception("a listener of shadow verdicts failed")

    def _judge(self, trace: Trace, stored: Trace, ctx: Answering) -> ShadowVerdict | None:
        hits = ctx.hits or self.retrieve(ctx.part(ctx.question, ctx.language, ctx.vector))
        try:
            reply = self.ask(
                trace.question,
                trace.answer,
                hits,
                language=trace.language,
                sources=trace_sources(trace),
                wait_s=0,
            )
        except OverloadedError:
            self.skipped["busy"] += 1
            return None
        except LlmError as exc:
            self.skipped["llm_error"] += 1
            log.warning("shadow judge of question %s failed: %s", trace.trace_id, exc)
            return None
        if reply is None:
            self.skipped["budget"] += 1
            return None
        reason = reply.reason
        if self.settings.traces.redact_questions:  # the reason may repeat the question
            reason = ""
        elif self.settings.traces.redact_pii:
            reason = redact(reason).text
        verdict = ShadowVerdict(
            trace_id=trace.trace_id,
            variant=trace.variant or CONTROL,
            route=trace.route,
            verdict=_VERDICTS[reply.answers],
            reason=reason,
            question=stored.question,
            answer=stored.answer,
            cost_usd=reply.cost_usd,
            latency_ms=reply.latency_ms,
            created_at=utc_now(),
        )
        try:
            self.store.add_verdict(verdict)
        except Exception as exc:
            self.skipped["store_error"] += 1
            log.warning("shadow verdict of question %s not stored: %s", trace.trace_id, exc)
            return None
        self.judged += 1
        return verdict

    def ask(
        self,
        question: str,
        answer: str,
        hits: Sequence[Hit],
        *,
        language: str,
        sources: Collection[str],
        wait_s: float | None = None,
    ) -> JudgeReply | None:
        """One judge call: does ``answer`` (resting on ``sources``: :func:`source_key`) answer
        ``question``, given ``hits``? By ``shadow.method``: the LLM asked YES or NO, or the LLM
        answering itself and citing. Within the month's budget (None: too little of it is left)
        and an LLM slot (``wait_s`` as :meth:`ModelSlots.slot`); raises OverloadedError or
        LlmError."""
        assert self.llm is not None
        if self.ledger.remaining_share() < self.settings.cost.low_budget_share:
            return None
        given = list(hits[: self.settings.routing.passages])
        chars = self.settings.llm.passage_chars
        by_citations = self.settings.shadow.method == "citations"
        messages = (
            prompts.llm_messages(question, given, language, chars)
            if by_citations
            else prompts.judge_messages(question, answer, given, chars)
        )
        prompt_tokens = sum(estimate_tokens(m["content"]) for m in messages)
        max_tokens = self.settings.shadow.max_tokens
        reservation = self.ledger.reserve(
            self.ledger.cost(self.llm.model, prompt_tokens, max_tokens)
        )
        if reservation is None:
            return None
        started = time.perf_counter()
        try:
            with self.slots.slot(wait_s=wait_s):
                result = self.llm.complete(messages, max_tokens=max_tokens)
        except (OverloadedError, LlmError):
            self.ledger.release(reservation)
            raise
        cost = self.ledger.cost(self.llm.model, result.prompt_tokens, result.completion_tokens)
        self.ledger.settle(reservation, cost)
        latency_ms = round(1000 * (time.perf_counter() - started), 2)
        if not by_citations:
            answers, reason = prompts.verdict_of(result.text)
            return JudgeReply(answers, reason, cost, latency_ms)
        cited, reason = attributed(result.text, given)
        reason = f"{reason}; it answered: {shorten(result.text, ANSWER_SHOWN_CHARS)}"
        return JudgeReply(citation_verdict(cited, sources), reason, cost, latency_ms, cited)


@dataclass(frozen=True, slots=True)
class JudgeReply:
    answers: bool | None
    """True: the answer answers the question; False: it does not; None: the reply was unreadable."""
    reason: str
    cost_usd: float
    latency_ms: float
    cited: tuple[str, ...] = ()
    """The sources the LLM cited (the citations method), in citing order."""
