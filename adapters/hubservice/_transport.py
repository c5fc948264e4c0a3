"""zeep's HTTP through the bridge's delivery path (bridge.delivery.Upstream).

Every call zeep makes is ``Upstream.request`` with the envelope as raw ``text/xml``: timeouts,
retries, the circuit breaker and metrics apply. A SOAP Fault arrives with HTTP 500; it is an
answer of the protocol (``is_answer``), handed to zeep as it came, so zeep raises its ``Fault`` —
not retried, not counted against the circuit. A 500 without a Fault is a server failure as usual.
Every answer is parsed once by a strict parser before zeep reads it (zeep reads with recovery on:
adapters/hubservice/_answers.py); one that is not well-formed XML, or whose body is not the
operation's answer or a Fault, is ``ScheduleAnswerInvalid``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from zeep.transports import Transport
from zeep.wsdl.utils import etree_to_string

from adapters.hubservice._answers import check_answer, invalid
from bridge.delivery import Upstream, UpstreamConfig, new_idempotency_key

# Reads may be repeated after an ambiguous failure; SetAppointment and CreateClaimForRefusal may not.
_SAFE = frozenset({"GetLPUList", "GetSpesialityList", "GetDoctorList", "GetAvailableDates",
                   "GetAvaibleAppointments", "CheckPatient", "GetPatientHistory"})


def is_soap_fault(response: httpx.Response) -> bool:
    """A 500 carrying a SOAP Fault: the server's answer, not its failure."""
    body = response.content
    return response.status_code == 500 and b"Fault" in body and b"Envelope" in body


def hubservice_upstream(config: UpstreamConfig, transport: httpx.BaseTransport | None = None) -> Upstream:
    """An Upstream for a HubService МИС (``transport`` is the test seam)."""
    return Upstream(config, transport=transport)


@dataclass
class SoapReply:
    """What zeep reads of an HTTP answer."""

    status_code: int
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)
    encoding: str | None = "utf-8"


class UpstreamTransport(Transport):
    """A zeep Transport whose every HTTP call is ``Upstream.request`` (timeouts, retries, breaker, metrics).

    ``endpoint`` is the МИС's path relative to the Upstream's base URL (the address in the WSDL
    is not used); documents are read from local files only.
    """

    def __init__(self, upstream: Upstream, endpoint: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.upstream = upstream
        self.endpoint = endpoint

    def post_xml(self, address: str, envelope: Any, headers: dict[str, str]) -> SoapReply:
        return self.post(address, etree_to_string(envelope), headers)  # type: ignore[no-untyped-call]

    def post(self, address: str, message: bytes | str, headers: dict[str, str]) -> SoapReply:
        body = message.encode("utf-8") if isinstance(message, str) else message
        send = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        send["Content-Type"] = "text/xml; charset=utf-8"
        operation = headers.get("SOAPAction", "").strip('"').rsplit("/", 1)[-1]
        response = self.upstream.request(
            "POST", self.endpoint, content=body, headers=send, is_answer=is_soap_fault,
            idempotency_key=new_idempotency_key() if operation in _SAFE else None,
        )
        problem = check_answer(response.content, operation)
        if problem is not None:
            raise invalid(self.upstream.name, self.endpoint, operation or "?", *problem)
        return SoapReply(response.status_code, response.content, dict(response.headers.items()),
                         response.encoding)

    def load(self, url: str) -> bytes:
        parts = urlsplit(url)
        if parts.scheme in ("", "file"):
            return Path(parts.path if parts.scheme else url).read_bytes()
        raise ValueError("HubService documents are read from local files only (wsdl/hubservice.wsdl)")
