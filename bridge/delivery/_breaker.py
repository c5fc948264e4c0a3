"""A circuit breaker per upstream (pybreaker), its state exported as a gauge."""

from __future__ import annotations

from typing import Any

import pybreaker

from bridge.delivery._errors import UpstreamRejected
from bridge.metrics import CIRCUIT_STATE
from bridge.observability import get_logger

_STATE_VALUE = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}
_log = get_logger("bridge.delivery")


class _StateToMetrics(pybreaker.CircuitBreakerListener):
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        CIRCUIT_STATE.labels(upstream=self.upstream).set(_STATE_VALUE.get(new_state.name, 0))
        _log.warning(
            "upstream.circuit",
            upstream=self.upstream,
            old=getattr(old_state, "name", None),
            new=new_state.name,
        )


def make_breaker(upstream: str, fail_max: int, reset_seconds: float) -> pybreaker.CircuitBreaker:
    CIRCUIT_STATE.labels(upstream=upstream).set(0)
    return pybreaker.CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_seconds,
        listeners=[_StateToMetrics(upstream)],
        name=upstream,
        exclude=[UpstreamRejected],
        throw_new_error_on_trip=False,
    )
