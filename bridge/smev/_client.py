"""The СМЭВ 3 consumer client: SendRequest, GetResponse with a MessageTypeSelector, Ack.

Every call is one POST through ``bridge.delivery.Upstream`` (timeouts, retries, breaker, metrics,
masked logs). A SOAP fault is read and classified (bridge/smev/_faults.py): the transient ones
(SMEVFailure, DestinationOverflow, a fault without detail) are left to the delivery path's
retries — each call carries an idempotency key, the MessageID for SendRequest, because a repeat is
harmless there (СМЭВ answers MessageIsAlreadySent, a GetResponse not acknowledged is redelivered, a
repeated Ack finds nothing) — and surface as :class:`SmevTemporaryFailure` once the budget is
spent; the others are raised at once. MessageIsAlreadySent on SendRequest means the first attempt
went through, so it is returned as sent; TargetMessageIsNotFound on Ack as done.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import httpx
from lxml import etree

from bridge.clock import Clock, system_clock
from bridge.delivery import Upstream, UpstreamServerError, new_idempotency_key
from bridge.errors import SmevAckTargetNotFound, SmevFault, SmevMessageAlreadySent, SmevTemporaryFailure
from bridge.observability import get_logger
from bridge.signing import Signer
from bridge.smev import _envelopes as envelopes
from bridge.smev._answers import (
    AnswerRefused,
    ReceivedResponse,
    SentRequest,
    parse_envelope,
    read_ack,
    read_get_response,
    read_send_request,
)
from bridge.smev._faults import fault_name, is_transient
from bridge.smev._ids import new_message_id
from bridge.smev._metrics import SMEV_ANSWERS_REFUSED, SMEV_FAULTS
from bridge.smev._versions import SchemaVersion, namespaces

__all__ = ["SmevClient", "SmevSettings"]

_log = get_logger("bridge.smev")
_T = TypeVar("_T")


@dataclass(frozen=True)
class SmevSettings:
    """What the region's СМЭВ node needs from the bridge (docs/smev.md).

    ``endpoint``: the path of the message-exchange service under the upstream's base URL (the
    upstream's ``base_url`` is the node, e.g. ``http://smev3-n0.test.gosuslugi.ru:7500``).
    ``trusted_certificates``: DER certificates of ЭП-СМЭВ; empty refuses every answer's signature
    (``None`` only in tests that do not sign). ``check_validity``: refuse an expired ЭП-СМЭВ.
    """

    schema_version: SchemaVersion = "1.2"
    endpoint: str = "/smev/v1.2/ws"
    trusted_certificates: Collection[bytes] | None = ()
    test_message: bool = False
    node_id: str | None = None
    check_validity: bool = True


class SmevClient:
    def __init__(self, upstream: Upstream, signer: Signer, settings: SmevSettings, clock: Clock = system_clock) -> None:
        self.upstream = upstream
        self.signer = signer
        self.settings = settings
        self.ns = namespaces(settings.schema_version)
        self.clock = clock

    def new_message_id(self) -> str:
        return new_message_id(self.clock())

    # ------------------------------------------------------------------ the calls

    def send_request(
        self, content: etree._Element, message_id: str, *, reference_message_id: str | None = None
    ) -> SentRequest:
        """Send ``content`` under ``message_id`` (keep it before calling: a repeat must reuse it)."""
        envelope = envelopes.send_request(self.ns, self.signer, message_id, content,
                                          reference_message_id=reference_message_id,
                                          node_id=self.settings.node_id, test_message=self.settings.test_message)
        try:
            element = self._call(envelope, idempotency_key=message_id)
        except SmevMessageAlreadySent:
            return SentRequest(message_id=message_id, status=None, already_sent=True)
        sent = self._read(envelope.operation, lambda: read_send_request(element, self.ns, self._trust(), self._now()))
        if sent.message_id and sent.message_id != message_id:
            self._refused(envelope.operation, "unexpected-element")
            raise AnswerRefused("unexpected-element", "SendRequestResponse names another MessageId")
        return SentRequest(message_id=message_id, status=sent.status)

    def get_response(
        self, namespace_uri: str | None = None, root_element: str | None = None
    ) -> ReceivedResponse | None:
        """The next message of the response queue (of one kind of information), or None when it is empty."""
        envelope = envelopes.get_response(self.ns, self.signer, self.clock(), namespace_uri=namespace_uri,
                                          root_element=root_element, node_id=self.settings.node_id)
        element = self._call(envelope, idempotency_key=new_idempotency_key())
        received = self._read(envelope.operation,
                              lambda: read_get_response(element, self.ns, self._trust(), self._now()))
        if received is not None and received.refused is not None:
            self._refused(envelope.operation, received.refused)
        if received is not None and received.async_fault is not None:
            self._count("AsyncProcessingStatus", received.async_fault)
        return received

    def ack(self, message_id: str, *, accepted: bool = True) -> None:
        """Acknowledge a received message (``accepted=False``: its ЭП-СМЭВ was refused and it was ignored)."""
        envelope = envelopes.ack(self.ns, self.signer, message_id, accepted=accepted)
        try:
            element = self._call(envelope, idempotency_key=new_idempotency_key())
        except SmevAckTargetNotFound:
            return
        self._read(envelope.operation, lambda: read_ack(element, self.ns))

    # ------------------------------------------------------------------ one POST

    def _trust(self) -> Collection[bytes] | None:
        trusted = self.settings.trusted_certificates
        return None if trusted is None else frozenset(trusted)

    def _now(self) -> datetime | None:
        return self.clock() if self.settings.check_validity else None

    def _call(self, envelope: envelopes.Envelope, *, idempotency_key: str) -> etree._Element:
        operation = envelope.operation
        last_transient: list[SmevFault] = []

        def is_answer(response: httpx.Response) -> bool:
            # A SOAP fault comes with HTTP 500: a final one is an answer; a transient one is left to
            # the retries (and remembered, to be named if the budget runs out).
            if response.status_code != 500:
                return False
            try:
                parse_envelope(response.content, operation)
            except SmevFault as fault:
                if is_transient(fault):
                    last_transient[:] = [fault]
                    return False
                return True
            except AnswerRefused:
                return False
            return True

        try:
            response = self.upstream.request(
                "POST", self.settings.endpoint, content=envelope.body, idempotency_key=idempotency_key,
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{envelope.soap_action}"'},
                is_answer=is_answer,
            )
        except UpstreamServerError as exc:
            if exc.status_code == 500 and last_transient:
                fault = last_transient[0]
                self._count(operation, fault)
                raise SmevTemporaryFailure(fault.fault, fault.message, code=fault.code) from exc
            raise
        try:
            return parse_envelope(response.content, operation)
        except SmevFault as fault:
            self._count(operation, fault)
            raise
        except AnswerRefused as refused:
            self._refused(operation, refused.problem)
            raise

    def _read(self, operation: str, reader: Callable[[], _T]) -> _T:
        try:
            return reader()
        except AnswerRefused as refused:
            self._refused(operation, refused.problem)
            raise

    def _count(self, operation: str, fault: SmevFault) -> None:
        SMEV_FAULTS.labels(operation, fault_name(fault.fault), fault.reaction).inc()
        log = _log.warning if fault.reaction in ("retry", "already-sent", "already-acknowledged") else _log.error
        log("smev.fault", operation=operation, fault=fault_name(fault.fault), reaction=fault.reaction,
            code=fault.code, reason=fault.reason)

    def _refused(self, operation: str, problem: str) -> None:
        SMEV_ANSWERS_REFUSED.labels(operation, problem).inc()
        _log.error("smev.answer_refused", operation=operation, problem=problem)
