"""Request limits of the HTTP layer: asks in flight, open streams, and the per-client rate limit.

Model work has its own slots (``ragsvc.pipeline.admission``); these caps bound what the HTTP layer
accepts at all, so a flood gets 503 or 429 with ``Retry-After`` instead of a growing queue.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.middleware.rate_limit import RateLimitConfig

from ragsvc.errors import ServiceUnavailableError
from ragsvc.settings import ApiSettings


class InFlight:
    """At most ``limit`` holders at once; one more is refused at once (never queued)."""

    def __init__(self, what: str, limit: int, setting: str) -> None:
        if limit <= 0:
            raise ValueError(f"limit must be greater than 0, got {limit}")
        self.what = what
        self.limit = limit
        self.setting = setting
        self._count = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            if self._count >= self.limit:
                raise ServiceUnavailableError(
                    f"{self.limit} {self.what} in progress, the limit ({self.setting}); "
                    "retry shortly",
                    retry_after_s=2,
                )
            self._count += 1

    def leave(self) -> None:
        with self._lock:
            self._count -= 1

    @contextmanager
    def held(self) -> Iterator[None]:
        self.enter()
        try:
            yield
        finally:
            self.leave()

    @property
    def count(self) -> int:
        return self._count


@dataclass(frozen=True, slots=True)
class RequestLimits:
    asks: InFlight
    streams: InFlight

    @classmethod
    def of(cls, api: ApiSettings) -> RequestLimits:
        return cls(
            InFlight("asks", api.max_in_flight, "api.max_in_flight"),
            InFlight("streams", api.max_streams, "api.max_streams"),
        )


def _throttled(request: Request[Any, Any, Any]) -> bool:
    """Only the routes open to askers are rate limited; keyed users have their own discipline."""
    return bool(request.route_handler.opt.get("role") == "ask")


def rate_limit(api: ApiSettings) -> RateLimitConfig | None:
    """Asks per client address and minute (``api.rate_limit_per_minute``; 0 turns it off). In
    memory, so per replica; behind a proxy, the client address comes from ``X-Forwarded-For``
    when the proxy is in ``server.forwarded_allow_ips``."""
    if api.rate_limit_per_minute == 0:
        return None
    return RateLimitConfig(
        rate_limit=("minute", api.rate_limit_per_minute), check_throttle_handler=_throttled
    )
