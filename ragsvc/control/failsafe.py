"""The fail-safe: a route that misroutes, on the evidence, gets a stricter threshold on its own.

For each variant and each route with a threshold to raise (``RAISED``), the evidence since the
last raise or undo: the shadow verdicts (misrouting) and the feedback on that route's answers.
When the lower end of a 95% Wilson interval is over its limit (``failsafe.max_misrouting``,
``failsafe.max_negative_feedback``), so that chance alone is an unlikely cause, the threshold is
raised by ``failsafe.step``, at most ``failsafe.max_raise`` in all. A variant's route is also held
to control's on the same route: when its share is above control's by more than
``failsafe.max_lead_over_control``, with the lower end of the difference's 95% interval, it is
raised too (an A/B guardrail: a variant worse than the shipped routing trips before it is worse
than the absolute limits). Shadow verdicts count only
while the judge is trusted (``ragsvc/control/judge_check.py``), and then corrected for the errors
its check found; feedback counts always. The evidence then counts anew, so each further raise
needs as much new evidence. Each raise is logged, stored in the routing state (every trace it
affects says so) and counted in the metrics; an operator undoes it through the admin API.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from ragsvc.control.compare import Estimate, lead, misrouting, negative_share
from ragsvc.control.control import RoutingControl
from ragsvc.control.judge_check import corrected, distrust
from ragsvc.control.state import RAISED, RoutingState
from ragsvc.control.store import ControlStore
from ragsvc.errors import RagsvcError
from ragsvc.settings import CONTROL, FailsafeSettings, ShadowSettings
from ragsvc.traces.store import TraceStore

log = logging.getLogger(__name__)

FLUSH_WAIT_S = 2.0


@dataclass(frozen=True, slots=True)
class Trip:
    variant: str
    route: str
    reason: str
    raised: bool
    """False: the threshold is raised by ``failsafe.max_raise`` already."""


class Evidence(NamedTuple):
    """What the fail-safe reads on one variant's route since its last raise or undo."""

    corrected: Estimate | None
    """The misrouting corrected for the judge's errors; None while the judge is not trusted."""
    judged: Estimate
    rated: Estimate


class Failsafe:
    def __init__(
        self,
        settings: FailsafeSettings,
        control: RoutingControl,
        store: ControlStore,
        traces: TraceStore,
        judge: ShadowSettings,
        judge_model: str,
    ) -> None:
        """``judge``, ``judge_model``: the shadow judge's settings and the model it asks."""
        self.settings = settings
        self.judge = judge
        self.judge_model = judge_model
        self.control = control
        self.store = store
        self.traces = traces
        self._lock = threading.Lock()
        self._checked_at = -float("inf")
        self._queued = threading.Event()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="failsafe")
        self.trips: list[Trip] = []
        """Every trip of this process, oldest first."""

    def check_soon(self) -> None:
        """:meth:`maybe_check` on the fail-safe's own thread, so that the request that brought
        the evidence (a rating) waits neither for the trace writer nor for the evidence to be
        read; at most one check waits there."""
        if not self.settings.enabled or self._queued.is_set():
            return
        self._queued.set()
        try:
            self._thread.submit(self._queued_check)
        except RuntimeError:  # shutting down: the next start checks the stored evidence
            self._queued.clear()

    def _queued_check(self) -> None:
        self._queued.clear()  # evidence arriving from now on queues the next check
        self.maybe_check()

    def close(self) -> None:
        self._thread.shutdown(wait=True)

    def maybe_check(self) -> list[Trip]:
        """:meth:`check`, unless it ran less than ``failsafe.check_every_s`` ago (or another
        thread is running it); a failing store is logged, never raised."""
        if not self.settings.enabled or not self._lock.acquire(blocking=False):
            return []
        try:
            if time.monotonic() - self._checked_at < self.settings.check_every_s:
                return []
            self._checked_at = time.monotonic()
            return self.check()
        except RagsvcError as exc:
            log.warning("the fail-safe could not read its evidence: %s", exc)
            return []
        finally:
            self._lock.release()

    def check(self) -> list[Trip]:
        """Raise where the evidence says so. The traces waiting for the writer go first (briefly:
        ``FLUSH_WAIT_S``), so that a rating of an answer just given finds its route."""
        self.traces.flush(timeout_s=FLUSH_WAIT_S)
        state = self.control.state()
        evidence = self._evidence(state)
        trips = []
        for (variant, route), seen in evidence.items():
            control = evidence[CONTROL, route] if variant != CONTROL else None
            reason = self._over(seen) or self._behind_control(seen, control)
            if reason is None:
                continue
            s = self.settings
            raised = self.control.raise_threshold(variant, route, s.step, s.max_raise, reason)
            log.warning(
                "fail-safe: %s of variant %s: %s; %s",
                route,
                variant,
                reason,
                f"{RAISED[route]} raised by {s.step:g}" if raised else "raised in full already",
            )
            trips.append(Trip(variant, route, reason, raised))
        self.trips.extend(trips)
        return trips

    def _evidence(self, state: RoutingState) -> dict[tuple[str, str], Evidence]:
        """Per variant and route, what the stores hold since its last raise or undo; the shadow
        verdicts only while the judge is trusted."""
        doubt = distrust(state.judge, self.judge_model, self.judge)
        check = state.judge if doubt is None else None
        verdicts = self.store.verdicts() if check is not None else []
        ratings = self.traces.ratings()
        evidence = {}
        for variant in state.names():
            for route in RAISED:
                since = state.since(variant, route)
                judged = misrouting(
                    [
                        v
                        for v in verdicts
                        if _on(v.variant, v.route, v.created_at, variant, route, since)
                    ]
                )
                rated = negative_share(
                    [
                        r
                        for r in ratings
                        if _on(r.variant, r.route, r.created_at, variant, route, since)
                    ]
                )
                real = corrected(judged, check) if check is not None else None
                evidence[variant, route] = Evidence(real, judged, rated)
        return evidence

    def _over(self, seen: Evidence) -> str | None:
        """Why the route is over an absolute limit."""
        s = self.settings
        real, judged, rated = seen
        if real is not None and judged.n >= s.min_judged and real.low > s.max_misrouting:
            return (
                f"misrouting {real.value:.2f} [{real.low:.2f}, {real.high:.2f}] of "
                f"{judged.n} judged (corrected for the judge's errors; judged "
                f"{judged.value:.2f}) > {s.max_misrouting:g}"
            )
        if rated.n >= s.min_rated and rated.low > s.max_negative_feedback:
            return (
                f"negative feedback {rated.value:.2f} [{rated.low:.2f}, {rated.high:.2f}] of "
                f"{rated.n} rated > {s.max_negative_feedback:g}"
            )
        return None

    def _behind_control(self, seen: Evidence, control: Evidence | None) -> str | None:
        """Why a variant's route is worse than control's on the same route (None for control)."""
        if control is None:
            return None
        s = self.settings
        real, judged, rated = seen
        pairs = [("negative feedback", rated, control.rated, rated.n >= s.min_rated)]
        if real is not None and control.corrected is not None:
            pairs.insert(0, ("misrouting", real, control.corrected, judged.n >= s.min_judged))
        for what, own, theirs, enough in pairs:
            gap = lead(own, theirs)
            if enough and gap.low > s.max_lead_over_control:
                return (
                    f"{what} {own.value:.2f} of {own.n} against control's {theirs.value:.2f} of "
                    f"{theirs.n} on the same route: {gap.value:+.2f} [{gap.low:+.2f}, "
                    f"{gap.high:+.2f}] > {s.max_lead_over_control:g}"
                )
        return None


def _on(
    variant: str,
    route: str,
    at: datetime,
    wanted_variant: str,
    wanted_route: str,
    since: datetime | None,
) -> bool:
    return variant == wanted_variant and route == wanted_route and (since is None or at >= since)
