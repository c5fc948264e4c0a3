"""``bridge_certificate_expiry_seconds``: how long until a configured certificate expires."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from prometheus_client import Gauge

from bridge.signing._certs import certificate_not_after
from bridge.signing._errors import SigningError

__all__ = ["CERTIFICATE_EXPIRY", "observe_certificate"]

CERTIFICATE_EXPIRY = Gauge(
    "bridge_certificate_expiry_seconds",
    "Seconds until the certificate's not-after (negative once expired), by configured short name "
    "(e.g. esia-client) — never a subject.",
    ["certificate"],
)

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def observe_certificate(name: str, certificate_der: bytes) -> None:
    """Publish the certificate's remaining lifetime under ``certificate=name``; the value is live at each scrape.

    ``name`` is a short configured name (lowercase letters, digits, ``._-``), so no subject, with its
    personal data, ever becomes a label.
    """
    if not _NAME.fullmatch(name):
        raise SigningError("certificate metric name must be a short name like 'esia-client' ([a-z0-9._-], ≤64)")
    not_after = certificate_not_after(certificate_der)

    def seconds_left() -> float:
        return (not_after - datetime.now(UTC)).total_seconds()

    CERTIFICATE_EXPIRY.labels(certificate=name).set_function(seconds_left)
