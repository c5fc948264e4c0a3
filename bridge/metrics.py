"""Prometheus metrics of the bridge: one catalogue, no personal data in any label.

Label values are always drawn from small closed sets (service and operation names from
the WSDL, upstream names from configuration, endpoint *templates* rather than paths,
status codes and outcome words), so the series count stays bounded.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "CIRCUIT_STATE",
    "MAPPING_ERRORS",
    "SOAP_REQUESTS",
    "SOAP_REQUEST_SECONDS",
    "UPSTREAM_ATTEMPTS",
    "UPSTREAM_REQUESTS",
    "UPSTREAM_REQUEST_SECONDS",
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
    "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open.",
    ["upstream"],
)
MAPPING_ERRORS = Counter(
    "bridge_mapping_errors_total",
    "Values a mapping could not convert, by mapping, field and direction (to_upstream, to_mis).",
    ["mapping", "field", "direction"],
)
