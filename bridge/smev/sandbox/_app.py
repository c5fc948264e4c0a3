"""HTTP face of the sandbox СМЭВ node: the message-exchange service over SOAP 1.1.

    POST <endpoint>            SendRequest, GetResponse, Ack (the Body's element says which)
         200 with the signed answer (ЭП-СМЭВ over MessageMetadata / Response), or 500 with a SOAP
         Fault whose detail is the faults-schema element (SMEVFailure, MessageIsAlreadySent…)

Control API (never faulted): PUT/GET /_sandbox/faults (injected network faults, as every sandbox),
GET /_sandbox/smev/stats (calls counted: SendRequest, GetResponse, Ack, redelivered,
MessageIsAlreadySent…, and the queue).
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from fastapi import FastAPI, Request
from fastapi.responses import Response
from lxml import etree
from starlette.concurrency import run_in_threadpool

from bridge.sandbox import FaultInjector, FaultPlan, fault_admin_routes
from bridge.signing import Signer
from bridge.smev._envelopes import timestamp
from bridge.smev._versions import SOAP_ENV, Namespaces
from bridge.smev._xmldsig import sign_detached
from bridge.smev.sandbox._node import NodeFault, QueuedResponse, SandboxNode

__all__ = ["create_smev_sandbox_app"]

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_XML = "text/xml; charset=utf-8"


def _fault(ns: Namespaces, fault: NodeFault, code: str = "SMEV-SANDBOX") -> Response:
    extra = dict(fault.extra)
    reason = extra.pop("reason", None)
    children = "".join(f"<f:{name}>{escape(value)}</f:{name}>" for name, value in extra.items())
    if reason:
        children += f"<f:SignatureVerificationFault>{reason}</f:SignatureVerificationFault>"
    body = (f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode>'
            f"<faultstring>{escape(fault.description)}</faultstring><detail>"
            f'<f:{fault.name} xmlns:f="{ns.faults}" xmlns="{ns.basic}"><Code>{code}</Code>'
            f"<Description>{escape(fault.description)}</Description>{children}</f:{fault.name}>"
            "</detail></soap:Fault></soap:Body></soap:Envelope>")
    return Response(body.encode(), status_code=500, media_type=_XML)


def _client_fault(text: str) -> Response:
    body = (f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode>'
            f"<faultstring>{escape(text)}</faultstring></soap:Fault></soap:Body></soap:Envelope>")
    return Response(body.encode(), status_code=500, media_type=_XML)


class _Node:
    def __init__(self, node: SandboxNode, ns: Namespaces, signer: Signer) -> None:
        self.node, self.ns, self.signer = node, ns, signer

    def _t(self, name: str) -> str:
        return f"{{{self.ns.types}}}{name}"

    def _b(self, name: str) -> str:
        return f"{{{self.ns.basic}}}{name}"

    def _envelope(self, element: etree._Element) -> Response:
        envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
        etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(element)
        return Response(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"), media_type=_XML)

    def _metadata(self, parent: etree._Element, message_id: str, kind: str, status: str) -> etree._Element:
        metadata = etree.SubElement(parent, self._t("MessageMetadata"))
        etree.SubElement(metadata, self._t("MessageId")).text = message_id
        etree.SubElement(metadata, self._t("MessageType")).text = kind
        etree.SubElement(etree.SubElement(metadata, self._t("Sender")), self._t("Mnemonic")).text = "sandbox"
        etree.SubElement(metadata, self._t("SendingTimestamp")).text = timestamp(self.node.clock())
        etree.SubElement(metadata, self._t("Status")).text = status
        return metadata

    def send_request(self, request: etree._Element) -> Response:
        data = request.find(self._t("SenderProvidedRequestData"))
        sender = self.node.check_signature(request, data, self.ns.types)
        assert data is not None
        message_id = (data.findtext(self._t("MessageID")) or "").strip()
        primary = data.find(self._b("MessagePrimaryContent"))
        roots = [] if primary is None else [child for child in primary if isinstance(child.tag, str)]
        if len(roots) != 1:
            raise NodeFault("InvalidContent", "MessagePrimaryContent должен содержать один элемент",
                            {"ValidationError": "MessagePrimaryContent"})
        self.node.send_request(sender, message_id, roots[0])
        answer = etree.Element(self._t("SendRequestResponse"), nsmap={"ns2": self.ns.types, "b": self.ns.basic})
        metadata = self._metadata(answer, message_id, "REQUEST", "requestIsQueued")
        metadata.set("Id", "SIGNED_BY_SMEV")
        etree.SubElement(answer, self._t("SMEVSignature")).append(sign_detached(metadata, self.signer))
        return self._envelope(answer)

    def get_response(self, request: etree._Element) -> Response:
        selector = request.find(self._b("MessageTypeSelector"))
        recipient = self.node.check_signature(request, selector, self.ns.types)
        assert selector is not None
        namespace = selector.findtext(self._b("NamespaceURI"))
        root = selector.findtext(self._b("RootElementLocalName"))
        answer = etree.Element(self._t("GetResponseResponse"), nsmap={"ns2": self.ns.types, "b": self.ns.basic})
        queued = self.node.get_response(recipient, namespace, root)
        if queued is not None:
            self._response_message(answer, queued)
        return self._envelope(answer)

    def _response_message(self, answer: etree._Element, queued: QueuedResponse) -> None:
        message = etree.SubElement(answer, self._t("ResponseMessage"))
        response = etree.SubElement(message, self._t("Response"), Id="SIGNED_BY_SMEV")
        etree.SubElement(response, self._t("OriginalMessageId")).text = queued.original_message_id
        data = etree.SubElement(response, self._t("SenderProvidedResponseData"), Id="SIGNED_BY_CALLER")
        etree.SubElement(data, self._t("MessageID")).text = queued.message_id
        etree.SubElement(data, self._t("To")).text = "sandbox"
        if queued.answer.content is not None:
            etree.SubElement(data, self._b("MessagePrimaryContent")).append(
                etree.fromstring(etree.tostring(queued.answer.content)))
        else:
            code, description = queued.answer.rejection or ("FAILURE", "нет ответа")
            rejected = etree.SubElement(data, self._t("RequestRejected"))
            etree.SubElement(rejected, self._t("RejectionReasonCode")).text = code
            etree.SubElement(rejected, self._t("RejectionReasonDescription")).text = description
        self._metadata(response, queued.message_id, "RESPONSE", "messageIsDelivered")
        etree.SubElement(message, self._t("SMEVSignature")).append(sign_detached(response, self.signer))

    def ack(self, request: etree._Element) -> Response:
        target = request.find(self._b("AckTargetMessage"))
        recipient = self.node.check_signature(request, target, self.ns.types)
        assert target is not None
        self.node.ack(recipient, (target.text or "").strip(), target.get("accepted") == "true")
        return self._envelope(etree.Element(self._t("AckResponse")))


def create_smev_sandbox_app(
    node: SandboxNode, ns: Namespaces, signer: Signer, endpoint: str = "/smev/v1.2/ws",
    faults: FaultPlan | None = None,
) -> FaultInjector:
    """The sandbox node as an ASGI app; ``signer`` is the node's own key (ЭП-СМЭВ)."""
    plan = faults or FaultPlan()
    face = _Node(node, ns, signer)
    operations = {"SendRequestRequest": face.send_request, "GetResponseRequest": face.get_response,
                  "AckRequest": face.ack}
    app = FastAPI(title="Sandbox СМЭВ 3 node", docs_url=None, redoc_url=None)
    app.include_router(fault_admin_routes(plan))

    @app.post(endpoint)
    async def exchange(request: Request) -> Response:
        raw = await request.body()
        try:
            root = etree.fromstring(raw, _PARSER)
        except etree.XMLSyntaxError:
            return _client_fault("запрос не является XML")
        call = root.find(f"{{{SOAP_ENV}}}Body/*") if root.tag == f"{{{SOAP_ENV}}}Envelope" else None
        name = etree.QName(call).localname if call is not None else ""
        handler = operations.get(name) if call is not None and etree.QName(call).namespace == ns.types else None
        if handler is None or call is None:
            return _client_fault("неизвестная операция или версия схемы")
        try:
            return await run_in_threadpool(handler, call)  # signatures take milliseconds: off the event loop
        except NodeFault as fault:
            return _fault(ns, fault)

    @app.get("/_sandbox/smev/stats")
    def stats() -> dict[str, Any]:
        return {"counts": dict(node.counts), "queued": sum(1 for q in node.queue if q.acknowledged is None),
                "sent": len(node.sent)}

    return FaultInjector(app, plan)
