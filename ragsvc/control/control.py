"""The routing control: which variant a question is routed by, and the changes an operator (or
the fail-safe) makes to the variants without a restart.

Every process re-reads the stored state at most every ``routing.state_refresh_s``, so a change
made through one replica reaches the others within that time (the one that made it at once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ragsvc.control.state import (
    RAISED,
    JudgeCheck,
    Raise,
    RoutingPlan,
    RoutingState,
    Snapshot,
    assign,
    plans,
)
from ragsvc.control.store import ControlStore
from ragsvc.errors import ConflictError, InvalidRequestError, NotFoundError, RagsvcError
from ragsvc.settings import CONTROL, Settings, VariantSettings
from ragsvc.traces.schema import utc_now

log = logging.getLogger(__name__)


class RoutingControl:
    def __init__(self, settings: Settings, store: ControlStore) -> None:
        self.settings = settings
        self.store = store
        self._lock = threading.Lock()
        self._state = RoutingState.configured(settings)
        self._plans = plans(settings, self._state)
        self._read_at = -float("inf")

    # -- reading --------------------------------------------------------------------------------
    def state(self) -> RoutingState:
        """The current state, re-read when older than ``routing.state_refresh_s``; a store that
        cannot be read keeps the last state known (logged)."""
        if time.monotonic() - self._read_at < self.settings.routing.state_refresh_s:
            return self._state
        try:
            stored = self.store.load()
        except RagsvcError as exc:
            log.warning("routing state not refreshed, the last one known stands: %s", exc)
            stored = None
        with self._lock:
            self._read_at = time.monotonic()
            if stored is not None and stored.version != self._state.version:
                self._adopt(stored)
            return self._state

    def plan_for(self, key: str) -> RoutingPlan:
        """The plan of the variant ``key`` (a conversation id, else the question's trace id) is
        assigned to."""
        state = self.state()
        return self._plans[assign(key, state.variants)]

    def plan(self, variant: str) -> RoutingPlan:
        self.state()
        return self._plans[variant]

    # -- changes --------------------------------------------------------------------------------
    def put_variant(self, name: str, variant: VariantSettings) -> RoutingState:
        def change(state: RoutingState) -> RoutingState:
            state.variants[name] = variant
            _checked(state)
            return state

        return self._update(change)

    def delete_variant(self, name: str) -> RoutingState:
        def change(state: RoutingState) -> RoutingState:
            _known(state, name)
            del state.variants[name]
            return state

        return self._update(change)

    def promote(self, name: str) -> RoutingState:
        """``name``'s thresholds become everyone's; the variant ends (all its traffic is control
        now). The fail-safe's raises on control are dropped: they were on the old thresholds."""

        def change(state: RoutingState) -> RoutingState:
            _known(state, name)
            snapshot = Snapshot(
                promoted=state.promoted,
                promoted_llm_model=state.promoted_llm_model,
                variants=dict(state.variants),
                variant=name,
            )
            state.history.append(snapshot)
            promoted = state.variants.pop(name)
            state.promoted = {**state.promoted, **promoted.thresholds}
            state.promoted_llm_model = promoted.llm_model or state.promoted_llm_model
            state.raises.pop(CONTROL, None)
            state.evidence_since[CONTROL] = dict.fromkeys(RAISED, utc_now())
            return state

        return self._update(change)

    def rollback(self) -> RoutingState:
        """Undo the last promotion: its thresholds and the variants as they were before it."""

        def change(state: RoutingState) -> RoutingState:
            if not state.history:
                raise ConflictError("nothing was promoted: nothing to roll back")
            snapshot = state.history.pop()
            state.promoted, state.variants = snapshot.promoted, snapshot.variants
            state.promoted_llm_model = snapshot.promoted_llm_model
            state.raises.pop(CONTROL, None)
            state.evidence_since[CONTROL] = dict.fromkeys(RAISED, utc_now())
            return state

        return self._update(change)

    def raise_threshold(
        self, variant: str, route: str, step: float, limit: float, why: str
    ) -> bool:
        """The fail-safe's raise of ``route``'s threshold for ``variant``, by ``step`` up to
        ``limit`` in all; False when it is raised by ``limit`` already. Evidence counts anew."""
        raised: list[bool] = []

        def change(state: RoutingState) -> RoutingState:
            routes = state.raises.setdefault(variant, {})
            before = routes[route].by if route in routes else 0.0
            by = round(min(limit, before + step), 6)
            raised.append(by > before)
            if by > before:
                routes[route] = Raise(threshold=RAISED[route], by=by, reason=why)
            state.evidence_since.setdefault(variant, {})[route] = utc_now()
            return state

        self._update(change)
        return raised[0]

    def undo_raise(self, variant: str, route: str) -> RoutingState:
        """An operator's undo of the fail-safe's raise; evidence before now no longer counts."""

        def change(state: RoutingState) -> RoutingState:
            if route not in state.raises.get(variant, {}):
                raise NotFoundError(f"the fail-safe has not raised {route} for {variant!r}")
            del state.raises[variant][route]
            state.evidence_since.setdefault(variant, {})[route] = utc_now()
            return state

        return self._update(change)

    def record_judge_check(self, check: JudgeCheck) -> RoutingState:
        """The shadow judge's latest check (``ragsvc routing check-judge``) replaces the last."""

        def change(state: RoutingState) -> RoutingState:
            state.judge = check
            return state

        return self._update(change)

    def _update(self, change: Callable[[RoutingState], RoutingState]) -> RoutingState:
        with self._lock:
            changed = self.store.update(change, RoutingState.configured(self.settings))
            self._adopt(changed)
            self._read_at = time.monotonic()
            return changed

    def _adopt(self, state: RoutingState) -> None:
        self._plans = plans(self.settings, state)
        self._state = state


def _known(state: RoutingState, name: str) -> None:
    if name not in state.variants:
        known = ", ".join(sorted(state.variants)) or "none"
        raise NotFoundError(f"no variant {name!r}; the variants are: {known}")


def _checked(state: RoutingState) -> None:
    try:
        state.check()
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from exc
