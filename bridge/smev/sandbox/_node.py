"""The sandbox СМЭВ node's state and rules: a peer, not a stub.

What it enforces, as СМЭВ does (faults of the message-exchange schema, egisz.md §3.1):

* the caller's ЭП-ОВ over the element the schema names: none → ``SignatureVerificationFault``
  (NoSignatureFound), over another element → (IncorrectSignatureTarget), a wrong digest, transform
  or value → (SignatureIsInvalid), an expired certificate → (CertificateIsExpired); a certificate
  that is not registered → ``SenderIsNotRegistered``;
* MessageID: an RFC 4122 version-1 UUID (``InvalidMessageIdFormat``), not older than the staleness
  window (``StaleMessageId``), never twice (``MessageIsAlreadySent``);
* the ЭП-ОВ's transforms are exclusive c14n then the СМЭВ transform, nothing else (SignatureIsInvalid);
* a kind of information nobody serves → ``BusinessDataTypeIsNotSupported``;
* business content that does not match the kind's schema is accepted (requestIsQueued) and then
  rejected asynchronously, as СМЭВ does: the GetResponse answer is an ``AsyncProcessingStatus`` with
  ``requestIsRejectedBySmev`` and "Бизнес-данные сообщения не соответствуют схеме, зарегистрированной в
  СМЭВ" (reference egisz.md §3.4, T-Soft/unismev#46); the details name the element and the rule, never
  the value (it may be personal data);
* answers wait in the sender's response queue; GetResponse hands out the oldest one visible and hides
  it for the visibility timeout; what is not acknowledged by then is handed out again; Ack of
  something not handed out and unacknowledged → ``TargetMessageIsNotFound``.

The providers behind the node (who answers a kind of information) plug in as :class:`Provider`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from lxml import etree

from bridge.smev._c14n import EXCLUSIVE_C14N
from bridge.smev._ids import message_id_time, new_message_id
from bridge.smev._transform import ALGORITHM as SMEV_TRANSFORM
from bridge.smev._xmldsig import DS, XmlSignatureError, verify_detached

__all__ = ["DEFECTS", "NodeFault", "Provider", "ProviderAnswer", "QueuedResponse", "SandboxNode", "SentRecord"]


ANY_KIND = "*"  # an injected message any selector receives
UNKNOWN_KIND = "urn://x-artefacts-sandbox/unknown-kind/1.0"
#: what :meth:`SandboxNode.inject` can put in a response queue: no ЭП-СМЭВ, an ЭП-СМЭВ that does not verify
#: (content changed after signing), a body that is not XML, a kind of information nobody asked for, an
#: answer to a MessageID nobody sent
DEFECTS = ("unsigned", "wrong_signature", "not_xml", "unknown_kind", "orphan")


class NodeFault(Exception):
    """A fault the node answers with: ``name`` is the faults-schema element, ``extra`` its children."""

    def __init__(self, name: str, description: str, extra: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.name = name
        self.description = description
        self.extra = extra or {}


@dataclass(frozen=True)
class ProviderAnswer:
    content: etree._Element | None = None  # the response's MessagePrimaryContent root
    rejection: tuple[str, str] | None = None  # (RejectionReasonCode, description)
    delay_seconds: float = 0.0
    async_status: tuple[str, str] | None = None  # (StatusCategory, StatusDetails): СМЭВ's own verdict
    then: ProviderAnswer | None = None  # a later answer to the same request (this one is interim)
    defect: str | None = None  # bad input from СМЭВ, on purpose: one of DEFECTS


class Provider(Protocol):
    """Who answers one kind of information behind the node (the sandbox of a peer)."""

    def answer(self, content: etree._Element) -> ProviderAnswer: ...


@dataclass
class SentRecord:
    message_id: str
    sender: bytes  # the ЭП-ОВ certificate (DER): the sender's identity
    namespace: str
    root: str
    received_at: datetime


@dataclass
class QueuedResponse:
    message_id: str  # MessageMetadata/MessageId: what Ack names
    original_message_id: str
    recipient: bytes
    namespace: str  # the kind of information: the request's root namespace
    root: str  # the answer's root element (the request's when the answer has no content)
    answer: ProviderAnswer
    available_at: datetime
    handed_out: int = 0
    hidden_until: datetime | None = None
    acknowledged: bool | None = None  # None: not yet; True/False: the Ack's accepted
    request_root: str = ""


@dataclass
class SandboxNode:
    providers: dict[str, Provider]  # by the request's root element namespace
    registered: Collection[bytes]  # ЭП-ОВ certificates of registered information systems
    clock: Callable[[], datetime]
    visibility_timeout: timedelta = timedelta(seconds=30)
    staleness: timedelta = timedelta(days=1)
    schemas: dict[str, etree.XMLSchema] = field(default_factory=dict)  # the kinds' business schemas
    sent: dict[str, SentRecord] = field(default_factory=dict)
    queue: list[QueuedResponse] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)  # namespace -> what -> count
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, certificate_der: bytes) -> int:
        """Register one more information system's ЭП-ОВ certificate (СМЭВ registers each ИС, each with its own
        response queue); the number registered."""
        with self._lock:
            self.registered = frozenset({*self.registered, certificate_der})
            return len(self.registered)

    def _count(self, what: str, kind: str | None = None) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1
        if kind is not None:
            counts = self.by_kind.setdefault(kind, {})
            counts[what] = counts.get(what, 0) + 1

    def serve(self, namespace: str, provider: Provider, schema: etree.XMLSchema | None = None) -> None:
        """Let ``provider`` answer the kind of information ``namespace``, its content checked by ``schema``."""
        with self._lock:
            self.providers[namespace] = provider
            if schema is not None:
                self.schemas[namespace] = schema

    def _content_problem(self, namespace: str, content: etree._Element) -> str | None:
        schema = self.schemas.get(namespace)
        if schema is None or schema.validate(content):
            return None
        log: Any = schema.error_log  # lxml-stubs leave _ErrorLog empty
        errors = list(log)
        if not errors:
            return "schema"
        where = (errors[0].path or "").rsplit("/", 1)[-1]
        return f"{where}: {errors[0].type_name}"

    def check_signature(self, request: etree._Element, target: etree._Element | None, types_ns: str) -> bytes:
        """The ЭП-ОВ over ``target`` in ``request``'s CallerInformationSystemSignature: the sender's certificate."""
        holder = request.find(f"{{{types_ns}}}CallerInformationSystemSignature")
        signature = None if holder is None else holder.find(f"{{{DS}}}Signature")
        if signature is None or target is None:
            raise NodeFault("SignatureVerificationFault", "ЭП-ОВ не найдена", {"reason": "NoSignatureFound"})
        transforms = [t.get("Algorithm") for t in signature.iterfind(f".//{{{DS}}}Reference/{{{DS}}}Transforms/*")]
        if transforms != [EXCLUSIVE_C14N, SMEV_TRANSFORM]:
            raise NodeFault("SignatureVerificationFault",
                            "ЭП-ОВ: преобразования должны быть exc-c14n и urn://smev-gov-ru/xmldsig/transform",
                            {"reason": "SignatureIsInvalid"})
        try:
            verified = verify_detached(signature, trusted=None, now=self.clock())
        except XmlSignatureError as exc:
            reason = "CertificateIsExpired" if exc.problem.startswith("certificate-") else "SignatureIsInvalid"
            raise NodeFault("SignatureVerificationFault", f"ЭП-ОВ не прошла проверку ({exc.problem})",
                            {"reason": reason}) from None
        if verified.signed_element is not target:
            raise NodeFault("SignatureVerificationFault", "ЭП-ОВ подписывает не тот элемент",
                            {"reason": "IncorrectSignatureTarget"})
        if verified.certificate_der not in self.registered:
            raise NodeFault("SenderIsNotRegistered", "сертификат ЭП-ОВ не зарегистрирован в СМЭВ")
        return verified.certificate_der

    def send_request(self, sender: bytes, message_id: str, content: etree._Element) -> SentRecord:
        moment = message_id_time(message_id)
        if moment is None:
            raise NodeFault("InvalidMessageIdFormat", "MessageID не является UUID версии 1 (RFC 4122)")
        now = self.clock()
        if now - moment > self.staleness:
            raise NodeFault("StaleMessageId", "MessageID содержит устаревшую метку времени")
        qname = etree.QName(content)
        namespace = qname.namespace or ""
        with self._lock:
            if message_id in self.sent:
                self._count("MessageIsAlreadySent", self.sent[message_id].namespace)
                raise NodeFault("MessageIsAlreadySent", "сообщение с таким MessageID уже отправлено")
            provider = self.providers.get(namespace)
            if provider is None:
                raise NodeFault("BusinessDataTypeIsNotSupported", "вид сведений не поддерживается",
                                {"RootElementLocalName": qname.localname, "RootElementNamespaceURI": namespace})
            record = SentRecord(message_id, sender, namespace, qname.localname, now)
            self.sent[message_id] = record
            self._count("SendRequest", namespace)
        problem = self._content_problem(namespace, content)
        if problem is not None:
            self._count("requestIsRejectedBySmev", namespace)
            answer = ProviderAnswer(async_status=(
                "requestIsRejectedBySmev",
                f"Бизнес-данные сообщения не соответствуют схеме, зарегистрированной в СМЭВ ({problem})"))
        else:
            answer = provider.answer(content)  # outside the lock: a provider may be slow
        at: datetime = now
        step: ProviderAnswer | None = answer
        while step is not None:
            at += timedelta(seconds=step.delay_seconds)
            reply_root = step.content
            with self._lock:
                self.queue.append(QueuedResponse(
                    message_id=new_message_id(self.clock()), original_message_id=message_id, recipient=sender,
                    namespace=namespace,
                    root=etree.QName(reply_root).localname if reply_root is not None else qname.localname,
                    request_root=qname.localname, answer=step, available_at=at,
                ))
            step = step.then
        return record

    def inject(self, defect: str, kind: str | None = None, original_message_id: str | None = None) -> int:
        """Queue a bad message for every registered sender (bad input from СМЭВ, for the receiver's tests).

        ``kind``: the kind whose selector receives it (any selector when None); ``original_message_id``: the
        request it claims to answer (a fresh, never sent id when None; always fresh for ``orphan``)."""
        if defect not in DEFECTS:
            raise ValueError(f"unknown defect {defect!r}; one of {', '.join(DEFECTS)}")
        now = self.clock()
        namespace = UNKNOWN_KIND if defect == "unknown_kind" else (kind or ANY_KIND)
        content = etree.Element(f"{{{UNKNOWN_KIND if namespace == ANY_KIND else namespace}}}SandboxInjected")
        content.text = defect
        original = new_message_id(now) if defect == "orphan" or original_message_id is None else original_message_id
        with self._lock:
            for recipient in self.registered:
                self.queue.append(QueuedResponse(
                    message_id=new_message_id(now), original_message_id=original, recipient=recipient,
                    namespace=ANY_KIND if defect == "unknown_kind" else namespace, root="SandboxInjected",
                    answer=ProviderAnswer(content=content, defect=defect), available_at=now))
                self._count(f"injected:{defect}")
            return len(self.registered)

    def get_response(self, recipient: bytes, namespace: str | None, root: str | None) -> QueuedResponse | None:
        now = self.clock()
        with self._lock:
            self._count("GetResponse")
            for queued in self.queue:
                if queued.recipient != recipient or queued.acknowledged is not None or queued.available_at > now:
                    continue
                if queued.hidden_until is not None and queued.hidden_until > now:
                    continue
                if namespace is not None and queued.namespace != ANY_KIND and (queued.namespace != namespace or (
                        queued.answer.content is not None and queued.answer.defect is None
                        and root not in (None, queued.root, queued.request_root))):
                    continue  # a rejection or a status has no root: it goes to whoever asks for the kind
                queued.handed_out += 1
                queued.hidden_until = now + self.visibility_timeout
                self._count("handed_out", queued.namespace)
                if queued.handed_out > 1:
                    self._count("redelivered", queued.namespace)
                return queued
        return None

    def ack(self, recipient: bytes, message_id: str, accepted: bool) -> None:
        with self._lock:
            for queued in self.queue:
                if queued.message_id == message_id and queued.recipient == recipient \
                        and queued.handed_out and queued.acknowledged is None:
                    queued.acknowledged = accepted
                    self._count("Ack" if accepted else "Ack-not-accepted", queued.namespace)
                    return
        raise NodeFault("TargetMessageIsNotFound", "нет неподтверждённого сообщения с таким id")
