"""The routing state the replicas share, and what one question is answered with.

The state is one JSON document (:class:`ragsvc.control.store.ControlStore`): the variants (A/B),
the thresholds promoted over the configured routing (and, per promotion, what it replaced, for a
rollback), and the fail-safe's raises per variant and route. :func:`assign` puts a conversation in
a variant, :func:`plans` turns the state into each variant's :class:`RoutingPlan`: the settings
its questions are routed with, and the notes its traces carry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

from ragsvc.settings import CONTROL, Settings, ShadowMethod, VariantSettings, check_variants
from ragsvc.traces.schema import EventKind, utc_now

RAISED: dict[str, str] = {
    "faq_direct": "faq_threshold",
    "retrieval_direct": "direct_threshold",
    "slm_answer": "escalate_confidence",
}
"""The threshold the fail-safe raises when a route misroutes: a higher FAQ confidence, a closer
passage to quote, a stricter check of the SLM's answer (more escalations to the LLM)."""


class Raise(BaseModel):
    """The fail-safe raised ``threshold`` by ``by`` for one variant's route."""

    threshold: str
    by: float
    reason: str
    at: datetime = Field(default_factory=utc_now)


class Snapshot(BaseModel):
    """What a promotion replaced: a rollback restores it."""

    promoted: dict[str, float]
    promoted_llm_model: str | None = None
    variants: dict[str, VariantSettings]
    variant: str
    """The variant that was promoted."""
    at: datetime = Field(default_factory=utc_now)


class JudgeCheck(BaseModel):
    """How the shadow judge did on answers whose truth is known (``ragsvc routing check-judge``):
    each FAQ entry's own answer (it answers) and the answer of the entry nearest to it (it does
    not), both asked with one of the entry's phrasings."""

    model: str
    method: ShadowMethod = "judge"
    """``shadow.method`` when it was checked (a check of one method does not vouch for the
    other)."""
    right_answers: int
    right_judged_right: int
    """Right answers the judge said answer the question (its sensitivity's count)."""
    wrong_answers: int
    wrong_judged_wrong: int
    """Wrong answers the judge said do not (its specificity's count)."""
    unclear: int = 0
    """Replies that could not be read (counted in neither)."""
    at: datetime = Field(default_factory=utc_now)


class RoutingState(BaseModel):
    version: int = 0
    promoted: dict[str, float] = Field(default_factory=dict)
    """Thresholds set over the configured routing by promotions (empty: as configured)."""
    promoted_llm_model: str | None = None
    """The LLM model a promotion set over ``llm.model`` (None: as configured)."""
    variants: dict[str, VariantSettings] = Field(default_factory=dict)
    history: list[Snapshot] = Field(default_factory=list)
    """The promotions, oldest first."""
    raises: dict[str, dict[str, Raise]] = Field(default_factory=dict)
    """variant -> route -> the fail-safe's raise."""
    evidence_since: dict[str, dict[str, datetime]] = Field(default_factory=dict)
    """variant -> route -> evidence before this time no longer counts (a raise or an undo acted
    on it)."""
    judge: JudgeCheck | None = None
    """The shadow judge's last check against known answers (None: never checked)."""

    @classmethod
    def configured(cls, settings: Settings) -> RoutingState:
        return cls(variants=dict(settings.routing.variants))

    def check(self) -> None:
        """Raises ValueError for variants that cannot be assigned."""
        check_variants(self.variants)

    def names(self) -> list[str]:
        return [CONTROL, *sorted(self.variants)]

    def since(self, variant: str, route: str) -> datetime | None:
        return self.evidence_since.get(variant, {}).get(route)


def bucket(key: str, salt: str) -> float:
    """``key``'s place in [0, 1): the same for the same key, evenly spread over keys."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(key: str, variants: Mapping[str, VariantSettings]) -> str:
    """The variant of the conversation (or question) ``key``: variants in name order take their
    shares of [0, 1), the rest is ``control``. Sticky while the shares stand."""
    place, edge = bucket(key, "variant"), 0.0
    for name in sorted(variants):
        edge += variants[name].share
        if place < edge:
            return name
    return CONTROL


@dataclass(frozen=True, slots=True)
class RoutingPlan:
    """How one variant's questions are routed."""

    variant: str
    settings: Settings
    """The settings with the variant's thresholds (and the fail-safe's raises) applied."""
    faq_threshold: float | None
    """Set by a promotion or the variant; None: the FAQ matcher's own (calibrated) threshold."""
    faq_raise: float
    llm_model: str | None
    """The model the LLM calls ask for, set by the variant or a promotion; None: the client's."""
    notes: tuple[tuple[EventKind, str], ...]
    """What differs from the configured routing, as trace events."""

    def faq_threshold_for(self, default: float) -> float:
        base = default if self.faq_threshold is None else self.faq_threshold
        return min(1.0, base + self.faq_raise)


def plans(settings: Settings, state: RoutingState) -> dict[str, RoutingPlan]:
    """Each variant's plan (``control``'s included)."""
    return {name: _plan(settings, state, name) for name in state.names()}


def _plan(settings: Settings, state: RoutingState, name: str) -> RoutingPlan:
    variant = state.variants.get(name)
    thresholds = {**state.promoted, **(variant.thresholds if variant else {})}
    raises = state.raises.get(name, {})
    notes: list[tuple[EventKind, str]] = []
    llm_model = (variant.llm_model if variant else None) or state.promoted_llm_model
    if state.promoted:
        notes.append(("variant", "promoted thresholds: " + _listed(state.promoted)))
    if state.promoted_llm_model:
        notes.append(("variant", f"promoted LLM model: {state.promoted_llm_model}"))
    if variant and variant.thresholds:
        notes.append(("variant", f"variant {name}: " + _listed(variant.thresholds)))
    if variant and variant.llm_model:
        notes.append(("variant", f"variant {name}: LLM model {variant.llm_model}"))
    raised = {r.threshold: r.by for r in raises.values()}
    for route, r in sorted(raises.items()):
        notes.append(("failsafe", f"{route}: {r.threshold} raised by {r.by:g} ({r.reason})"))
    routing = settings.routing.model_copy(
        update={
            key: min(1.0, value + raised.get(key, 0.0))
            for key, value in {
                **settings.routing.model_dump(include=set(RAISED.values()) - {"faq_threshold"}),
                **thresholds,
            }.items()
            if key != "faq_threshold"
        }
    )
    direct_raise = raised.get("direct_threshold", 0.0)
    multilingual = settings.multilingual.model_copy(
        update={"direct_threshold": min(1.0, settings.multilingual.direct_threshold + direct_raise)}
    )
    effective = settings.model_copy(update={"routing": routing, "multilingual": multilingual})
    return RoutingPlan(
        name,
        effective,
        thresholds.get("faq_threshold"),
        raised.get("faq_threshold", 0.0),
        llm_model,
        tuple(notes),
    )


def _listed(thresholds: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {value:g}" for name, value in sorted(thresholds.items()))
