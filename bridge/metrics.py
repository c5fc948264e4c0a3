"""Prometheus metrics of the bridge: one catalogue, no personal data in any label.

Label values are always drawn from small closed sets (service and operation names from
the WSDL, upstream names from configuration, endpoint *templates* rather than paths,
status codes and outcome words), so the series count stays bounded.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

__all__ = [
    "CIRCUIT_STATE",
    "MAPPING_ERRORS",
    "MULTIPROC_ENV",
    "SOAP_PARKED",
    "SOAP_REQUESTS",
    "SOAP_REQUEST_SECONDS",
    "UPSTREAM_ATTEMPTS",
    "UPSTREAM_REQUESTS",
    "UPSTREAM_REQUEST_SECONDS",
    "counts_in_files",
    "exposition",
    "multiprocess_dir",
    "worker_exited",
]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

SOAP_REQUESTS = Counter(
    "bridge_soap_requests_total",
    "SOAP requests served to the МИС, by service, operation and outcome "
    "(ok, client_fault, server_fault).",
    ["service", "operation", "outcome"],
)
SOAP_REQUEST_SECONDS = Histogram(
    "bridge_soap_request_duration_seconds",
    "Time to answer a SOAP request, upstream calls included.",
    ["service", "operation"],
    buckets=_LATENCY_BUCKETS,
)
SOAP_PARKED = Gauge(
    "bridge_soap_parked_calls",
    "SOAP calls waiting for an upstream's answer without holding a thread (parked: a СМЭВ answer), "
    "by service, summed over the live workers; bounded per worker by soap_parked.",
    ["service"],
    multiprocess_mode="livesum",
)
UPSTREAM_REQUESTS = Counter(
    "bridge_upstream_requests_total",
    "Upstream calls as the caller saw them (after retries), by upstream, endpoint template and "
    "final status: an HTTP status code, or timeout, connect_error, protocol_error, circuit_open.",
    ["upstream", "endpoint", "status"],
)
UPSTREAM_ATTEMPTS = Counter(
    "bridge_upstream_attempts_total",
    "Single HTTP attempts to an upstream (a call with two retries counts three), by status.",
    ["upstream", "endpoint", "status"],
)
UPSTREAM_REQUEST_SECONDS = Histogram(
    "bridge_upstream_request_duration_seconds",
    "Duration of upstream calls, retries and back-off included.",
    ["upstream", "endpoint"],
    buckets=_LATENCY_BUCKETS,
)
CIRCUIT_STATE = Gauge(
    "bridge_upstream_circuit_state",
    "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open "
    "(with several workers, each has its own breaker: the worst of the live workers).",
    ["upstream"],
    multiprocess_mode="livemax",
)
MAPPING_ERRORS = Counter(
    "bridge_mapping_errors_total",
    "Values a mapping could not convert, by mapping, field and direction (to_upstream, to_mis).",
    ["mapping", "field", "direction"],
)


# --- several worker processes ----------------------------------------------------------------
#
# With ``bridge serve --workers N`` every worker counts in its own memory-mapped files under
# PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode, switched on by that variable
# being set before prometheus_client is imported: the ``bridge`` command sets it before it imports
# anything when it is to supervise workers, bridge/cli/__init__.py, and the workers forked from the
# supervisor count in the metrics objects it made; each file is named by the pid that writes it,
# prometheus_client starting new files when it sees the pid change). A scrape lands on one worker,
# which answers for all of them:
# - counters and histograms are summed over the workers (dead ones included: a count stays);
# - gauges: CIRCUIT_STATE is the worst of the live workers ("livemax"; the supervisor marks a dead
#   worker's files); any other gauge in the default mode ("all", one series per pid) is reduced to
#   the largest value per label set, so the series are the same as with one process;
# - collectors that compute at scrape time from the store (the outbox depth, an adapter's backlog
#   in its tables) run once, in the worker that answers, never once per worker;
# - the per-process collectors (process_*, python_gc_*, python_info) are left out: they would
#   describe only the worker that happened to answer.

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PER_PROCESS = (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def counts_in_files() -> bool:
    """True when this process's metrics count in PROMETHEUS_MULTIPROC_DIR's files: the variable was
    set when prometheus_client was imported. Then a process forked from this one counts there too,
    under its own pid; otherwise it would count only in its copy of this process's memory."""
    return values.ValueClass is not values.MutexValue and multiprocess_dir() is not None


class _ScrapeTimeCollectors(Collector):
    """The default registry's custom collectors: those whose values are not kept in the files."""

    def collect(self) -> Iterable[Metric]:
        collectors = list(getattr(REGISTRY, "_collector_to_names", {}))
        for collector in collectors:
            if isinstance(collector, MetricWrapperBase) or collector in _PER_PROCESS:
                continue
            yield from collector.collect()


class _OneSeriesPerLabelSet(Collector):
    """The multiprocess collector, with "all"-mode gauges (a ``pid`` label each) reduced by max."""

    def __init__(self, path: str) -> None:
        self._inner = multiprocess.MultiProcessCollector(None, path=path)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        for metric in self._inner.collect():  # type: ignore[no-untyped-call]
            if metric.type == "gauge" and any("pid" in sample.labels for sample in metric.samples):
                best: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(lambda: float("-inf"))
                for sample in metric.samples:
                    labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "pid"))
                    key = (sample.name, labels)
                    best[key] = max(best[key], sample.value)
                metric.samples = [Sample(name, dict(labels), value) for (name, labels), value in best.items()]
            yield metric


def exposition() -> bytes:
    """What /metrics answers: this process's registry, or with several workers all of them."""
    path = multiprocess_dir()
    if path is None:
        return generate_latest()
    registry = CollectorRegistry()
    registry.register(_OneSeriesPerLabelSet(path))
    registry.register(_ScrapeTimeCollectors())
    return generate_latest(registry)


def worker_exited(pid: int) -> None:
    """Called by the supervisor when a worker ends: its live gauges stop counting."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
