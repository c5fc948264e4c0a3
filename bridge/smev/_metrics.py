"""СМЭВ metrics: faults by reaction, and answers refused. Labels are closed sets (schema fault names)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["SMEV_ANSWERS_REFUSED", "SMEV_FAULTS"]

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
