"""The delivery path: every call from the bridge to an upstream goes through here (``Upstream``).

Deliveries that must never be lost wait in ``bridge.outbox``, whose handlers call through here too.
"""

from bridge.delivery._errors import (
    CircuitOpen,
    DeliveryError,
    UpstreamConnectError,
    UpstreamRefused,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from bridge.delivery._policy import RetryPolicy, parse_retry_after
from bridge.delivery._upstream import RetryAnswer, Timeouts, Upstream, UpstreamConfig, new_idempotency_key

__all__ = [
    "CircuitOpen",
    "DeliveryError",
    "RetryAnswer",
    "RetryPolicy",
    "Timeouts",
    "Upstream",
    "UpstreamConfig",
    "UpstreamConnectError",
    "UpstreamRefused",
    "UpstreamRejected",
    "UpstreamServerError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "new_idempotency_key",
    "parse_retry_after",
]
