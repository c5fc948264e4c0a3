"""Outbox metrics: deliveries counted as they happen, queue sizes read from the store at scrape time.

Labels are the message kind (the handlers registered: a closed set) and outcome words.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from bridge.observability import get_logger
from bridge.outbox._types import STATES, OutboxStats

_log = get_logger("bridge.outbox")

OUTCOMES = ("delivered", "rejected", "retry", "dead")

DELIVERIES = Counter(
    "bridge_outbox_deliveries_total",
    "Outbox delivery attempts by message kind and outcome (delivered, rejected, retry, dead).",
    ["kind", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "bridge_outbox_delivery_duration_seconds",
    "Time a handler took to deliver one outbox message (one attempt).",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)

_MESSAGES_HELP = "Outbox messages in the store by state (pending includes those leased to a worker now)."
_AGE_HELP = "Age in seconds of the oldest pending outbox message (0 when none is pending)."


class OutboxCollector(Collector):
    """Asks the store (a few COUNT/MIN queries) whenever Prometheus scrapes."""

    def __init__(self, stats: Callable[[], OutboxStats]) -> None:
        self._stats = stats

    def describe(self) -> Iterable[Metric]:
        # Registering must not touch the store: describe the families without samples.
        yield GaugeMetricFamily("bridge_outbox_messages", _MESSAGES_HELP, labels=["state"])
        yield GaugeMetricFamily("bridge_outbox_oldest_pending_age_seconds", _AGE_HELP)

    def collect(self) -> Iterable[Metric]:
        try:
            stats = self._stats()
        except Exception as exc:  # a scrape must not fail because the store is away
            _log.warning("outbox.metrics_unavailable", error=type(exc).__name__)
            return
        messages = GaugeMetricFamily("bridge_outbox_messages", _MESSAGES_HELP, labels=["state"])
        for state in STATES:
            if state in stats.counts:  # the scrape does not count delivered messages (Outbox.stats)
                messages.add_metric([state], stats.counts[state])
        yield messages
        yield GaugeMetricFamily(
            "bridge_outbox_oldest_pending_age_seconds", _AGE_HELP, value=stats.oldest_pending_age_seconds or 0.0
        )


_lock = threading.Lock()
_registered: OutboxCollector | None = None


def register_collector(collector: OutboxCollector) -> None:
    """Register on the default registry, replacing the collector registered before (one per process)."""
    global _registered
    with _lock:
        if _registered is not None:
            REGISTRY.unregister(_registered)
        REGISTRY.register(collector)
        _registered = collector


def unregister_collector() -> None:
    global _registered
    with _lock:
        if _registered is not None:
            REGISTRY.unregister(_registered)
            _registered = None
