"""The delivery path: every call from the bridge to an upstream goes through here."""

from bridge.delivery._errors import (
    CircuitOpen,
    DeliveryError,
    UpstreamConnectError,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from bridge.delivery._policy import RetryPolicy, parse_retry_after
from bridge.delivery._upstream import Timeouts, Upstream, UpstreamConfig, new_idempotency_key

__all__ = [
    "CircuitOpen",
    "DeliveryError",
    "RetryPolicy",
    "Timeouts",
    "Upstream",
    "UpstreamConfig",
    "UpstreamConnectError",
    "UpstreamRejected",
    "UpstreamServerError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "new_idempotency_key",
    "parse_retry_after",
]
