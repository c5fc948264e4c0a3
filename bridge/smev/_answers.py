"""What СМЭВ answers to a consumer's calls, read defensively.

An answer that is not XML, not SOAP, not the call's response element, or whose ЭП-СМЭВ does not verify
against the configured СМЭВ certificates is refused (:class:`AnswerRefused`, with a closed-set
``problem`` for the metric) — never applied. A GetResponse message whose ЭП-СМЭВ fails still yields its
``MessageMetadata/MessageId`` so that it can be acknowledged with ``accepted=false``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from bridge.errors import SmevFault
from bridge.smev._faults import fault_from_element, soap_fault
from bridge.smev._versions import SOAP_ENV, Namespaces
from bridge.smev._xmldsig import DS, XmlSignatureError, verify_detached

__all__ = ["AnswerRefused", "ReceivedResponse", "SentRequest", "Trust", "parse_envelope", "read_ack",
           "read_get_response", "read_send_request"]

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

Trust = Collection[bytes] | Callable[[bytes], bool] | None


class AnswerRefused(Exception):
    """An answer from СМЭВ the bridge does not accept. ``problem`` is a short label (``not-xml``,
    ``not-soap``, ``unexpected-element``, ``malformed``, or a signature problem); the message names
    elements, never content."""

    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class SentRequest:
    message_id: str
    status: str | None  # requestIsQueued…, from MessageMetadata
    already_sent: bool = False  # MessageIsAlreadySent: an earlier attempt went through


@dataclass(frozen=True)
class ReceivedResponse:
    """One message from the response queue. ``message_id`` (MessageMetadata/MessageId) is what Ack takes."""

    message_id: str
    original_message_id: str | None
    refused: str | None = None  # the ЭП-СМЭВ problem: acknowledge with accepted=false, never apply
    content: etree._Element | None = None  # MessagePrimaryContent's root element
    rejections: tuple[tuple[str, str], ...] = ()  # RequestRejected (code, description)
    status_code: int | None = None  # RequestStatus
    status_description: str | None = None
    async_status: str | None = None  # AsyncProcessingStatus/StatusCategory (requestIsRejectedBySmev…)
    async_fault: SmevFault | None = None  # …and its SmevFault, classified
    sender: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def parse_envelope(body: bytes, operation: str) -> etree._Element:
    """The SOAP Body's one child; a SOAP Fault is raised as the classified :class:`SmevFault`."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        raise AnswerRefused("not-xml", f"{operation}: the answer is not XML") from None
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise AnswerRefused("not-soap", f"{operation}: the answer is not a SOAP 1.1 envelope")
    content = [child for child in root.findall(f"{{{SOAP_ENV}}}Body/*")]
    if len(content) != 1:
        raise AnswerRefused("not-soap", f"{operation}: the SOAP Body must hold one element")
    if content[0].tag == f"{{{SOAP_ENV}}}Fault":
        raise soap_fault(content[0], operation)
    return content[0]


def _expect(element: etree._Element, ns: Namespaces, name: str) -> None:
    if element.tag != f"{{{ns.types}}}{name}":
        raise AnswerRefused("unexpected-element", f"expected {name} of schema {ns.version}, "
                                                  f"got {etree.QName(element).localname}")


def _check_smev_signature(holder: etree._Element | None, signed: etree._Element, trusted: Trust,
                          now: datetime | None) -> str | None:
    """None when ЭП-СМЭВ covers ``signed`` and verifies with a trusted certificate, else the problem."""
    if trusted is None:
        return None
    signature = None if holder is None else holder.find(f"{{{DS}}}Signature")
    if signature is None:
        return "missing"
    try:
        verified = verify_detached(signature, trusted=trusted, now=now)
    except XmlSignatureError as exc:
        return exc.problem
    return None if verified.signed_element is signed else "reference"


def read_send_request(element: etree._Element, ns: Namespaces, trusted: Trust, now: datetime | None) -> SentRequest:
    _expect(element, ns, "SendRequestResponse")
    metadata = element.find(f"{{{ns.types}}}MessageMetadata")
    if metadata is None:
        raise AnswerRefused("malformed", "SendRequestResponse has no MessageMetadata")
    problem = _check_smev_signature(element.find(f"{{{ns.types}}}SMEVSignature"), metadata, trusted, now)
    if problem is not None:
        raise AnswerRefused(problem, f"SendRequestResponse: ЭП-СМЭВ refused ({problem})")
    message_id = (metadata.findtext(f"{{{ns.types}}}MessageId") or "").strip()
    status = (metadata.findtext(f"{{{ns.types}}}Status") or "").strip() or None
    return SentRequest(message_id=message_id, status=status)


def read_ack(element: etree._Element, ns: Namespaces) -> None:
    _expect(element, ns, "AckResponse")


def read_get_response(
    element: etree._Element, ns: Namespaces, trusted: Trust, now: datetime | None
) -> ReceivedResponse | None:
    """None for an empty queue; else the message, with ``refused`` set when its ЭП-СМЭВ fails."""
    _expect(element, ns, "GetResponseResponse")
    message = element.find(f"{{{ns.types}}}ResponseMessage")
    if message is None:
        return None
    response = message.find(f"{{{ns.types}}}Response")
    if response is None:
        raise AnswerRefused("malformed", "ResponseMessage has no Response")
    metadata = response.find(f"{{{ns.types}}}MessageMetadata")
    message_id = "" if metadata is None else (metadata.findtext(f"{{{ns.types}}}MessageId") or "").strip()
    if not message_id:
        raise AnswerRefused("malformed", "Response has no MessageMetadata/MessageId to acknowledge")
    original = (response.findtext(f"{{{ns.types}}}OriginalMessageId") or "").strip() or None
    problem = _check_smev_signature(message.find(f"{{{ns.types}}}SMEVSignature"), response, trusted, now)
    if problem is not None:
        return ReceivedResponse(message_id=message_id, original_message_id=original, refused=problem)
    data = response.find(f"{{{ns.types}}}SenderProvidedResponseData")
    if data is None:
        return ReceivedResponse(message_id=message_id, original_message_id=original, refused="malformed")
    sender = None if metadata is None else (metadata.findtext(f"{{{ns.types}}}Sender/{{{ns.types}}}Mnemonic") or None)
    primary = data.find(f"{{{ns.basic}}}MessagePrimaryContent")
    if primary is not None:
        roots = [child for child in primary if isinstance(child.tag, str)]
        if len(roots) != 1:
            return ReceivedResponse(message_id=message_id, original_message_id=original, refused="malformed")
        return ReceivedResponse(message_id, original, content=roots[0], sender=sender)
    rejections = tuple(
        ((rejected.findtext(f"{{{ns.types}}}RejectionReasonCode") or "").strip(),
         (rejected.findtext(f"{{{ns.types}}}RejectionReasonDescription") or "").strip())
        for rejected in data.findall(f"{{{ns.types}}}RequestRejected")
    )
    if rejections:
        return ReceivedResponse(message_id, original, rejections=rejections, sender=sender)
    status = data.find(f"{{{ns.types}}}RequestStatus")
    if status is not None:
        try:
            code = int((status.findtext(f"{{{ns.types}}}StatusCode") or "").strip())
        except ValueError:
            return ReceivedResponse(message_id=message_id, original_message_id=original, refused="malformed")
        return ReceivedResponse(message_id, original, status_code=code, sender=sender,
                                status_description=status.findtext(f"{{{ns.types}}}StatusDescription"))
    processing = data.find(f"{{{ns.types}}}AsyncProcessingStatus")
    if processing is not None:
        category = (processing.findtext(f"{{{ns.types}}}StatusCategory") or "").strip()
        fault = processing.find(f"{{{ns.types}}}SmevFault")
        async_fault = None
        if fault is not None:
            kind = fault.get(_XSI_TYPE, "")
            name = kind.split(":")[-1] if kind else "SmevFault"
            async_fault = fault_from_element(name, fault, "AsyncProcessingStatus")
        original = original or (processing.findtext(f"{{{ns.types}}}OriginalMessageId") or "").strip() or None
        return ReceivedResponse(message_id, original, async_status=category, async_fault=async_fault, sender=sender)
    return ReceivedResponse(message_id=message_id, original_message_id=original, refused="malformed")
