"""HTTP face of the sandbox СМЭВ node: the message-exchange service over SOAP 1.1.

    POST <endpoint>            SendRequest, GetResponse, Ack (the Body's element says which)
         200 with the signed answer (ЭП-СМЭВ over MessageMetadata / Response), or 500 with a SOAP
         Fault whose detail is the faults-schema element (SMEVFailure, MessageIsAlreadySent…)

Control API (never faulted): PUT/GET /_sandbox/faults (injected faults, as every sandbox: the network
ones of ``bridge.sandbox`` and, with a :class:`SmevFaultPlan`, the node's own ``SMEVFailure`` and
``DestinationOverflow`` SOAP faults, answered before the request is processed; ``"operations"``: a list of
``SendRequest``, ``GetResponse``, ``Ack`` — only calls of these may fail, the rate is of their calls; empty
or absent: every call. E.g. ``{"rate": 1.0, "kinds": ["drop"], "operations": ["Ack"]}`` loses every Ack
before the node sees it while SendRequest and GetResponse work: answers stay unacknowledged and are handed
out again after the visibility timeout. The operation is the SOAP Body's first child, so the node draws
the fault itself after reading it — ``SmevFaultPlan.draw_for`` — and the generic middleware only adds
the latency),
GET/PUT /_sandbox/smev/settings ({"visibility_timeout_seconds", "staleness_seconds"}: how long an answer
handed out stays hidden before it is handed out again, how old a MessageID may be),
POST /_sandbox/smev/inject ({"defect": one of ``DEFECTS``, "kind", "original_message_id"}: bad input from
СМЭВ queued for every registered sender — unsigned, wrongly signed, not XML, an unknown kind, an answer
to nothing sent),
POST /_sandbox/smev/senders ({"certificate_der_base64"}: register another information system's ЭП-ОВ
certificate — its own response queue — as СМЭВ's registration of an ИС does; a benchmark's second
consumer uses it so that the bridge's GetResponse never takes its answers),
GET /_sandbox/smev/stats (calls counted: SendRequest, GetResponse, Ack, redelivered,
MessageIsAlreadySent, requestIsRejectedBySmev…, in all and per kind of information, and the queue).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any
from xml.sax.saxutils import escape

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response
from lxml import etree
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from bridge.sandbox import PROCESSED_KINDS, FaultInjector, FaultPlan, FaultResponse, fault_admin_routes
from bridge.signing import Signer, SigningError, certificate_not_after
from bridge.smev._envelopes import timestamp
from bridge.smev._versions import SOAP_ENV, Namespaces
from bridge.smev._xmldsig import sign_detached
from bridge.smev.sandbox._faults import SMEV_FAULT_KINDS, SmevFaultPlan
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
        if queued is not None and queued.answer.defect == "not_xml":
            return Response(b"<GetResponseResponse><ResponseMessage>", media_type=_XML)
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
        if queued.answer.async_status is not None:
            category, details = queued.answer.async_status
            processing = etree.SubElement(data, self._t("AsyncProcessingStatus"))
            etree.SubElement(processing, self._t("OriginalMessageId")).text = queued.original_message_id
            etree.SubElement(processing, self._t("StatusCategory")).text = category
            etree.SubElement(processing, self._t("StatusDetails")).text = details
        elif queued.answer.content is not None:
            etree.SubElement(data, self._b("MessagePrimaryContent")).append(
                etree.fromstring(etree.tostring(queued.answer.content)))
        else:
            code, description = queued.answer.rejection or ("FAILURE", "нет ответа")
            rejected = etree.SubElement(data, self._t("RequestRejected"))
            etree.SubElement(rejected, self._t("RejectionReasonCode")).text = code
            etree.SubElement(rejected, self._t("RejectionReasonDescription")).text = description
        self._metadata(response, queued.message_id, "RESPONSE", "messageIsDelivered")
        if queued.answer.defect == "unsigned":
            return
        etree.SubElement(message, self._t("SMEVSignature")).append(sign_detached(response, self.signer))
        if queued.answer.defect == "wrong_signature":
            data.find(self._t("To")).text = "changed after signing"  # type: ignore[union-attr]

    def ack(self, request: etree._Element) -> Response:
        target = request.find(self._b("AckTargetMessage"))
        recipient = self.node.check_signature(request, target, self.ns.types)
        assert target is not None
        self.node.ack(recipient, (target.text or "").strip(), target.get("accepted") == "true")
        return self._envelope(etree.Element(self._t("AckResponse")))


def create_smev_sandbox_app(
    node: SandboxNode, ns: Namespaces, signer: Signer, endpoint: str = "/smev/v1.2/ws",
    faults: FaultPlan | None = None, also: Mapping[str, Namespaces] | None = None,
) -> FaultInjector:
    """The sandbox node as an ASGI app; ``signer`` is the node's own key (ЭП-СМЭВ).

    ``also``: more endpoints, each speaking another schema version (as a real node serves
    ``/smev/v1.1/ws``, ``/smev/v1.2/ws``, ``/smev/v1.3/ws``) over the same queues."""
    plan = faults or SmevFaultPlan()
    app = FastAPI(title="Sandbox СМЭВ 3 node", docs_url=None, redoc_url=None)
    app.include_router(fault_admin_routes(plan))
    for path, version_ns in {endpoint: ns, **(also or {})}.items():
        app.add_api_route(path, _exchange(_Node(node, version_ns, signer),
                                          plan if isinstance(plan, SmevFaultPlan) else None), methods=["POST"])

    @app.get("/_sandbox/smev/settings")
    def get_settings() -> dict[str, float]:
        return {"visibility_timeout_seconds": node.visibility_timeout.total_seconds(),
                "staleness_seconds": node.staleness.total_seconds()}

    @app.put("/_sandbox/smev/settings")
    def put_settings(settings: NodeSettings) -> dict[str, float]:
        node.visibility_timeout = timedelta(seconds=settings.visibility_timeout_seconds)
        node.staleness = timedelta(seconds=settings.staleness_seconds)
        return get_settings()

    @app.post("/_sandbox/smev/inject")
    def inject(order: Injection) -> dict[str, int]:
        try:
            return {"queued": node.inject(order.defect, order.kind, order.original_message_id)}
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None

    @app.post("/_sandbox/smev/senders")
    def register_sender(sender: Sender) -> dict[str, int]:
        try:
            certificate = base64.b64decode(sender.certificate_der_base64, validate=True)
            certificate_not_after(certificate)
        except (ValueError, SigningError):
            raise HTTPException(status_code=422, detail="certificate_der_base64: not a DER X.509 certificate") from None
        return {"registered": node.register(certificate)}

    @app.get("/_sandbox/smev/stats")
    def stats() -> dict[str, Any]:
        return {"counts": dict(node.counts), "by_kind": {kind: dict(c) for kind, c in node.by_kind.items()},
                "queued": sum(1 for q in node.queue if q.acknowledged is None), "sent": len(node.sent)}

    return FaultInjector(app, plan)


class Injection(BaseModel):
    defect: str
    kind: str | None = None
    original_message_id: str | None = None


class Sender(BaseModel):
    certificate_der_base64: str = Field(max_length=65536)


class NodeSettings(BaseModel):
    visibility_timeout_seconds: float = Field(30.0, gt=0.0, le=86400.0)
    staleness_seconds: float = Field(86400.0, gt=0.0)


def _exchange(face: _Node, plan: SmevFaultPlan | None) -> Callable[[Request], Awaitable[Response]]:
    """One endpoint. With a :class:`SmevFaultPlan` the fault is drawn here, for the call's operation."""
    ns = face.ns
    operations = {"SendRequestRequest": face.send_request, "GetResponseRequest": face.get_response,
                  "AckRequest": face.ack}

    async def exchange(request: Request) -> Response:
        raw = await request.body()
        try:
            root: etree._Element | None = etree.fromstring(raw, _PARSER)
        except etree.XMLSyntaxError:
            root = None
        call = root.find(f"{{{SOAP_ENV}}}Body/*") if root is not None and root.tag == f"{{{SOAP_ENV}}}Envelope" \
            else None
        name = etree.QName(call).localname if call is not None else ""
        handler = operations.get(name) if call is not None and etree.QName(call).namespace == ns.types else None
        injected = None if plan is None else plan.draw_for(name.removesuffix("Request") if handler else "")
        if injected in SMEV_FAULT_KINDS:
            return _fault(ns, NodeFault(injected, "СМЭВ временно не может обработать сообщение (injected)"))
        if injected is not None and injected not in PROCESSED_KINDS:
            return FaultResponse(injected, plan.stall_seconds if plan is not None else 0.0)
        if root is None:
            answer = _client_fault("запрос не является XML")
        elif handler is None or call is None:
            answer = _client_fault("неизвестная операция или версия схемы")
        else:
            try:
                answer = await run_in_threadpool(handler, call)  # signatures take milliseconds: off the event loop
            except NodeFault as fault:
                answer = _fault(ns, fault)
        if injected is not None:  # processed for real; the answer is lost
            return FaultResponse(injected, plan.stall_seconds if plan is not None else 0.0)
        return answer

    return exchange
