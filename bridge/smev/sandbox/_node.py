"""The sandbox СМЭВ node's state and rules: a peer, not a stub.

What it enforces, as СМЭВ does (faults of the message-exchange schema, egisz.md §3.1):

* the caller's ЭП-ОВ over the element the schema names: none → ``SignatureVerificationFault``
  (NoSignatureFound), over another element → (IncorrectSignatureTarget), a wrong digest, transform
  or value → (SignatureIsInvalid), an expired certificate → (CertificateIsExpired); a certificate
  that is not registered → ``SenderIsNotRegistered``;
* MessageID: an RFC 4122 version-1 UUID (``InvalidMessageIdFormat``), not older than the staleness
  window (``StaleMessageId``), never twice (``MessageIsAlreadySent``);
* a kind of information nobody serves → ``BusinessDataTypeIsNotSupported``;
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
from typing import Protocol

from lxml import etree

from bridge.smev._ids import message_id_time, new_message_id
from bridge.smev._xmldsig import DS, XmlSignatureError, verify_detached

__all__ = ["NodeFault", "Provider", "ProviderAnswer", "QueuedResponse", "SandboxNode", "SentRecord"]


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
    namespace: str
    root: str
    answer: ProviderAnswer
    available_at: datetime
    handed_out: int = 0
    hidden_until: datetime | None = None
    acknowledged: bool | None = None  # None: not yet; True/False: the Ack's accepted


@dataclass
class SandboxNode:
    providers: dict[str, Provider]  # by the request's root element namespace
    registered: Collection[bytes]  # ЭП-ОВ certificates of registered information systems
    clock: Callable[[], datetime]
    visibility_timeout: timedelta = timedelta(seconds=30)
    staleness: timedelta = timedelta(days=1)
    sent: dict[str, SentRecord] = field(default_factory=dict)
    queue: list[QueuedResponse] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def check_signature(self, request: etree._Element, target: etree._Element | None, types_ns: str) -> bytes:
        """The ЭП-ОВ over ``target`` in ``request``'s CallerInformationSystemSignature: the sender's certificate."""
        holder = request.find(f"{{{types_ns}}}CallerInformationSystemSignature")
        signature = None if holder is None else holder.find(f"{{{DS}}}Signature")
        if signature is None or target is None:
            raise NodeFault("SignatureVerificationFault", "ЭП-ОВ не найдена", {"reason": "NoSignatureFound"})
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
                self._count("MessageIsAlreadySent")
                raise NodeFault("MessageIsAlreadySent", "сообщение с таким MessageID уже отправлено")
            provider = self.providers.get(namespace)
            if provider is None:
                raise NodeFault("BusinessDataTypeIsNotSupported", "вид сведений не поддерживается",
                                {"RootElementLocalName": qname.localname, "RootElementNamespaceURI": namespace})
            record = SentRecord(message_id, sender, namespace, qname.localname, now)
            self.sent[message_id] = record
            self._count("SendRequest")
        answer = provider.answer(content)  # outside the lock: a provider may be slow
        reply_root = answer.content
        with self._lock:
            self.queue.append(QueuedResponse(
                message_id=new_message_id(self.clock()), original_message_id=message_id, recipient=sender,
                namespace=etree.QName(reply_root).namespace or "" if reply_root is not None else namespace,
                root=etree.QName(reply_root).localname if reply_root is not None else qname.localname,
                answer=answer, available_at=now + timedelta(seconds=answer.delay_seconds),
            ))
        return record

    def get_response(self, recipient: bytes, namespace: str | None, root: str | None) -> QueuedResponse | None:
        now = self.clock()
        with self._lock:
            self._count("GetResponse")
            for queued in self.queue:
                if queued.recipient != recipient or queued.acknowledged is not None or queued.available_at > now:
                    continue
                if queued.hidden_until is not None and queued.hidden_until > now:
                    continue
                if namespace is not None and (queued.namespace, queued.root) != (namespace, root):
                    continue
                queued.handed_out += 1
                queued.hidden_until = now + self.visibility_timeout
                if queued.handed_out > 1:
                    self._count("redelivered")
                return queued
        return None

    def ack(self, recipient: bytes, message_id: str, accepted: bool) -> None:
        with self._lock:
            for queued in self.queue:
                if queued.message_id == message_id and queued.recipient == recipient \
                        and queued.handed_out and queued.acknowledged is None:
                    queued.acknowledged = accepted
                    self._count("Ack" if accepted else "Ack-not-accepted")
                    return
        raise NodeFault("TargetMessageIsNotFound", "нет неподтверждённого сообщения с таким id")
