"""The delivery path: every call from the bridge to an upstream goes through here."""

from bridge.delivery._errors import (
    CircuitOpen,
    DeliveryError,
    UpstreamConnectError,
    UpstreamRefused,
    UpstreamRejected,
    UpstreamServerError,
    UpstreamTimeout,
    UpstreamTlsError,
    UpstreamUnavailable,
)
from bridge.delivery._outbox import Outbox
from bridge.delivery._outbox_types import Delivered, Enqueued, OutboxMessage, OutboxStats, Outcome, Rejected, Retry
from bridge.delivery._outbox_workers import WorkerPool
from bridge.delivery._policy import RetryPolicy, parse_retry_after
from bridge.delivery._tls import TlsSetupError, TlsTrust
from bridge.delivery._upstream import RetryAnswer, Timeouts, Upstream, UpstreamConfig, new_idempotency_key

__all__ = [
    "CircuitOpen",
    "Delivered",
    "DeliveryError",
    "Enqueued",
    "Outbox",
    "OutboxMessage",
    "OutboxStats",
    "Outcome",
    "Rejected",
    "Retry",
    "RetryAnswer",
    "RetryPolicy",
    "Timeouts",
    "TlsSetupError",
    "TlsTrust",
    "Upstream",
    "UpstreamConfig",
    "UpstreamConnectError",
    "UpstreamRefused",
    "UpstreamRejected",
    "UpstreamServerError",
    "UpstreamTimeout",
    "UpstreamTlsError",
    "UpstreamUnavailable",
    "WorkerPool",
    "new_idempotency_key",
    "parse_retry_after",
]
