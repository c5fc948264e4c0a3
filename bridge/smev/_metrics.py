"""СМЭВ metrics: faults by reaction, and answers refused. Labels are closed sets (schema fault names)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from bridge.observability import get_logger
from bridge.smev._journal import ExchangeStats

_log = get_logger("bridge.smev")

__all__ = [
    "EXCHANGE_COLLECTOR",
    "SMEV_ANSWERS_REFUSED",
    "SMEV_ANSWER_AGE",
    "SMEV_DEAD",
    "SMEV_EXCHANGES",
    "SMEV_FAULTS",
    "SMEV_LAST_POLL",
    "SMEV_RECEIVED",
    "SMEV_SENDS",
    "ExchangeCollector",
    "bind_journal",
]

SMEV_FAULTS = Counter(
    "bridge_smev_faults_total",
    "СМЭВ faults by operation (SendRequest, GetResponse, Ack, AsyncProcessingStatus), fault name from the "
    "message-exchange schema (or SOAP-Server, other) and reaction (retry, already-sent, already-acknowledged, alert).",
    ["operation", "fault", "reaction"],
)
SMEV_ANSWERS_REFUSED = Counter(
    "bridge_smev_answers_refused_total",
    "Answers from СМЭВ refused and never applied, by operation and problem (not-xml, not-soap, "
    "unexpected-element, malformed, or the ЭП-СМЭВ problem: missing, digest-mismatch, untrusted-certificate…).",
    ["operation", "problem"],
)

# --- the exchange (bridge/smev/_exchange.py, _runner.py); ``kind`` is a registered kind of information

SMEV_EXCHANGES = Counter(
    "bridge_smev_presses_total",
    "Presses that reached the СМЭВ exchange, by kind of information and whether they opened a new request "
    "(new) or joined the one in flight or answered (joined: no second SendRequest).",
    ["kind", "press"],
)
SMEV_SENDS = Counter(
    "bridge_smev_sends_total",
    "SendRequest attempts of the exchange by kind and outcome (sent, already-sent, retry, dead).",
    ["kind", "outcome"],
)
SMEV_RECEIVED = Counter(
    "bridge_smev_received_total",
    "Messages taken from СМЭВ's response queue by kind and outcome: answer, late (after the request was "
    "given up), status (interim), extra (a second final answer), redelivered (stored before: acknowledged "
    "again, not applied), unmatched (answers nothing we sent: Ack accepted=false), refused (ЭП-СМЭВ failed).",
    ["kind", "outcome"],
)
SMEV_DEAD = Counter(
    "bridge_smev_exchanges_dead_total",
    "Requests given up, by kind and reason (no-answer, or the fault that refused them at sending).",
    ["kind", "reason"],
)
SMEV_ANSWER_AGE = Histogram(
    "bridge_smev_answer_age_seconds",
    "Time from SendRequest to the answer stored, by kind of information.",
    ["kind"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400),
)
SMEV_LAST_POLL = Gauge(
    "bridge_smev_get_response_last_success_timestamp_seconds",
    "When this instance last completed a GetResponse round for a kind (Unix time); only the lease holder polls.",
    ["kind"],
    multiprocess_mode="max",
)


# --- read from the store at scrape time (once per scrape, in the worker that answers)

_EXCHANGES_HELP = "Current СМЭВ exchanges in the journal by state (sending, sent, answered, acknowledged, dead)."
_UNANSWERED_HELP = "СМЭВ requests without an answer yet (sending or sent), by kind of information."
_OLDEST_HELP = "Age in seconds of the oldest СМЭВ request without an answer (0 when none)."
_UNACKED_HELP = "Messages taken from СМЭВ and stored but not yet acknowledged."


class ExchangeCollector(Collector):
    """Asks the journal (a few COUNT/MIN queries) whenever Prometheus scrapes; the families without samples
    while no exchange is open in this process (no adapter uses СМЭВ), so rules and dashboards find them."""

    def __init__(self, stats: Callable[[], ExchangeStats] | None = None) -> None:
        self.stats = stats

    def describe(self) -> Iterable[Metric]:
        yield GaugeMetricFamily("bridge_smev_exchanges", _EXCHANGES_HELP, labels=["state"])
        yield GaugeMetricFamily("bridge_smev_unanswered", _UNANSWERED_HELP, labels=["kind"])
        yield GaugeMetricFamily("bridge_smev_oldest_unanswered_age_seconds", _OLDEST_HELP, labels=[])
        yield GaugeMetricFamily("bridge_smev_unacknowledged", _UNACKED_HELP, labels=[])

    def collect(self) -> Iterable[Metric]:
        exchanges = GaugeMetricFamily("bridge_smev_exchanges", _EXCHANGES_HELP, labels=["state"])
        unanswered = GaugeMetricFamily("bridge_smev_unanswered", _UNANSWERED_HELP, labels=["kind"])
        oldest = GaugeMetricFamily("bridge_smev_oldest_unanswered_age_seconds", _OLDEST_HELP, labels=[])
        unacknowledged = GaugeMetricFamily("bridge_smev_unacknowledged", _UNACKED_HELP, labels=[])
        stats = None
        if self.stats is not None:
            try:
                stats = self.stats()
            except Exception as exc:  # a scrape must not fail because the store is away
                _log.warning("smev.metrics_unavailable", error=type(exc).__name__)
                return
        if stats is not None:
            for state, count in sorted(stats.counts.items()):
                exchanges.add_metric([state], count)
            for kind, count in sorted(stats.unanswered_by_kind.items()):
                unanswered.add_metric([kind], count)
            oldest.add_metric([], stats.oldest_unanswered_age_seconds or 0.0)
            unacknowledged.add_metric([], stats.unacknowledged)
        yield from (exchanges, unanswered, oldest, unacknowledged)


EXCHANGE_COLLECTOR = ExchangeCollector()
REGISTRY.register(EXCHANGE_COLLECTOR)


def bind_journal(stats: Callable[[], ExchangeStats]) -> None:
    """Export this journal's numbers (the journal is one per store: the last bound wins)."""
    EXCHANGE_COLLECTOR.stats = stats
