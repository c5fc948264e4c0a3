"""The outbox: deliveries that are never lost (docs/outbox.md).

A message is committed with the caller's own rows (:meth:`Outbox.enqueue` in the caller's session),
then delivered by worker threads (:class:`WorkerPool`) through the handler registered for its kind,
with backoff, dead letters and per-aggregate order. Each handler calls its upstream through
``bridge.delivery.Upstream``; the outbox itself never calls out.

- ``_outbox``: enqueue, look up, replay, drop; ``_claim``: leases on due messages;
- ``_delivery``: one batch's deliveries and the grouped write of their outcomes;
- ``_workers``: the threads; ``_metrics``: counters and the gauges computed from the store;
- ``_schema``: the ``outbox_message`` table (its migration is the core's 0003); ``_admin``: /admin/outbox.
"""

from bridge.outbox._admin import admin_routes
from bridge.outbox._outbox import Outbox
from bridge.outbox._types import (
    REPLAYABLE,
    STATES,
    Delivered,
    Enqueued,
    OutboxMessage,
    OutboxStats,
    Outcome,
    Rejected,
    Retry,
)
from bridge.outbox._workers import WorkerPool

__all__ = [
    "REPLAYABLE",
    "STATES",
    "Delivered",
    "Enqueued",
    "Outbox",
    "OutboxMessage",
    "OutboxStats",
    "Outcome",
    "Rejected",
    "Retry",
    "WorkerPool",
    "admin_routes",
]
