"""The delivery path: every call from the bridge to an upstream goes through here (``Upstream``).

Deliveries that must never be lost wait in ``bridge.outbox``, whose handlers call through here too.
Its exceptions are the ``DeliveryError`` branch of the bridge's one tree (``bridge.errors``),
re-exported here because this is where the callers of ``Upstream`` look for them.
"""

from bridge.delivery._policy import RetryPolicy, parse_retry_after
from bridge.delivery._tls import TlsSetupError, TlsTrust
from bridge.delivery._upstream import RetryAnswer, Timeouts, Upstream, UpstreamConfig, new_idempotency_key

# The delivery branch of the one exception tree (drawn in bridge/errors.py), where callers of Upstream look.
from bridge.errors import (
    CircuitOpen,
    DeliveryError,
    UpstreamBusy,
    UpstreamConnectError,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamTlsError,
    UpstreamUnavailable,
)

__all__ = [
    "CircuitOpen",
    "DeliveryError",
    "RetryAnswer",
    "RetryPolicy",
    "Timeouts",
    "TlsSetupError",
    "TlsTrust",
    "Upstream",
    "UpstreamBusy",
    "UpstreamConfig",
    "UpstreamConnectError",
    "UpstreamRejected",
    "UpstreamServerError",
    "UpstreamTimeout",
    "UpstreamTlsError",
    "UpstreamUnavailable",
    "new_idempotency_key",
    "parse_retry_after",
]
