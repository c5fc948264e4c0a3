"""The SOAP 1.1 envelopes of the message-exchange calls a consumer makes, signed (ЭП-ОВ).

Element order and the signed element of each call as the schema says (types-1.x.xsd):

* SendRequest: ``SenderProvidedRequestData(@Id){MessageID, [ReferenceMessageID], [TransactionCode],
  [NodeID], MessagePrimaryContent, [TestMessage]}`` then ``CallerInformationSystemSignature`` over it;
* GetResponse: ``basic:MessageTypeSelector(@Id){[NamespaceURI, RootElementLocalName], Timestamp,
  [NodeID]}`` and the signature over the selector;
* Ack: ``basic:AckTargetMessage(@Id, @accepted)`` = the ``//MessageMetadata/MessageId`` received, and the
  signature over it.

SOAPAction is ``urn:SendRequest`` / ``urn:GetResponse`` / ``urn:Ack`` (the service WSDL).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from bridge.signing import Signer
from bridge.smev._versions import SOAP_ENV, Namespaces
from bridge.smev._xmldsig import sign_detached

__all__ = ["SIGNED_ID", "Envelope", "ack", "get_response", "send_request", "timestamp"]

SIGNED_ID = "SIGNED_BY_CALLER"
_SEND_REQUEST_ID = "SIGNED_BY_CONSUMER"


@dataclass(frozen=True)
class Envelope:
    operation: str  # SendRequest, GetResponse, Ack: the SOAPAction is "urn:" + operation
    body: bytes

    @property
    def soap_action(self) -> str:
        return f"urn:{self.operation}"


def timestamp(moment: datetime) -> str:
    """``xs:dateTime`` with milliseconds and the offset, as СМЭВ writes them (``2021-03-23T07:03:07.000+03:00``)."""
    return moment.isoformat(timespec="milliseconds")


def _envelope(ns: Namespaces, operation: str, signed_parent_name: str) -> tuple[etree._Element, etree._Element]:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    body = etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")
    request = etree.SubElement(body, f"{{{ns.types}}}{signed_parent_name}", nsmap={"ns": ns.types, "b": ns.basic})
    return envelope, request


def _signed(envelope: etree._Element, request: etree._Element, target: etree._Element, ns: Namespaces,
            signer: Signer, operation: str) -> Envelope:
    holder = etree.SubElement(request, f"{{{ns.types}}}CallerInformationSystemSignature")
    holder.append(sign_detached(target, signer))
    return Envelope(operation, etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"))


def send_request(
    ns: Namespaces,
    signer: Signer,
    message_id: str,
    content: etree._Element,
    *,
    reference_message_id: str | None = None,
    transaction_code: str | None = None,
    node_id: str | None = None,
    test_message: bool = False,
) -> Envelope:
    """SendRequestRequest carrying ``content`` (the kind of information's root element) in MessagePrimaryContent."""
    envelope, request = _envelope(ns, "SendRequest", "SendRequestRequest")
    data = etree.SubElement(request, f"{{{ns.types}}}SenderProvidedRequestData", Id=_SEND_REQUEST_ID)
    etree.SubElement(data, f"{{{ns.types}}}MessageID").text = message_id
    if reference_message_id:
        etree.SubElement(data, f"{{{ns.types}}}ReferenceMessageID").text = reference_message_id
    if transaction_code:
        etree.SubElement(data, f"{{{ns.types}}}TransactionCode").text = transaction_code
    if node_id:
        etree.SubElement(data, f"{{{ns.types}}}NodeID").text = node_id
    primary = etree.SubElement(data, f"{{{ns.basic}}}MessagePrimaryContent")
    primary.append(_copy(content))
    if test_message:
        etree.SubElement(data, f"{{{ns.types}}}TestMessage")
    return _signed(envelope, request, data, ns, signer, "SendRequest")


def get_response(
    ns: Namespaces,
    signer: Signer,
    moment: datetime,
    *,
    namespace_uri: str | None = None,
    root_element: str | None = None,
    node_id: str | None = None,
) -> Envelope:
    """GetResponseRequest for the answers of one kind of information (both names), or of any (neither)."""
    if (namespace_uri is None) != (root_element is None):
        raise ValueError("a MessageTypeSelector names both the namespace and the root element, or neither")
    envelope, request = _envelope(ns, "GetResponse", "GetResponseRequest")
    selector = etree.SubElement(request, f"{{{ns.basic}}}MessageTypeSelector", Id=SIGNED_ID)
    if namespace_uri is not None and root_element is not None:
        etree.SubElement(selector, f"{{{ns.basic}}}NamespaceURI").text = namespace_uri
        etree.SubElement(selector, f"{{{ns.basic}}}RootElementLocalName").text = root_element
    etree.SubElement(selector, f"{{{ns.basic}}}Timestamp").text = timestamp(moment)
    if node_id:
        etree.SubElement(selector, f"{{{ns.basic}}}NodeID").text = node_id
    return _signed(envelope, request, selector, ns, signer, "GetResponse")


def ack(ns: Namespaces, signer: Signer, message_id: str, *, accepted: bool) -> Envelope:
    """AckRequest for a received message's ``MessageMetadata/MessageId``; ``accepted=False`` when its
    ЭП-СМЭВ was refused and the message ignored."""
    envelope, request = _envelope(ns, "Ack", "AckRequest")
    target = etree.SubElement(request, f"{{{ns.basic}}}AckTargetMessage", Id=SIGNED_ID,
                              accepted="true" if accepted else "false")
    target.text = message_id
    return _signed(envelope, request, target, ns, signer, "Ack")


def _copy(element: etree._Element) -> etree._Element:
    """A deep copy, so the caller's tree is not moved into the envelope."""
    return etree.fromstring(etree.tostring(element))
