"""СМЭВ's faults, each with its reaction (egisz.md §3.1, the fault documentation in faults-1.x.xsd).

| Fault | Reaction |
| --- | --- |
| MessageIsAlreadySent | our earlier send went through: stop re-sending, wait for the answer |
| TargetMessageIsNotFound (Ack) | acknowledged before or gone: nothing to do |
| StaleMessageId | the clock or a retry days late: alert; never re-sent under a new id on its own |
| SMEVFailure, DestinationOverflow, a Server fault without detail | retry with back-off |
| everything else (SignatureVerificationFault, InvalidContent, SenderIsNotRegistered, AccessDenied, …) | alert ops |
"""

from __future__ import annotations

from lxml import etree

from bridge.errors import (
    SmevAckTargetNotFound,
    SmevFault,
    SmevMessageAlreadySent,
    SmevOpsProblem,
    SmevStaleMessageId,
    SmevTemporaryFailure,
)
from bridge.smev._versions import FAULTS_PREFIX, SOAP_ENV

__all__ = ["KNOWN_FAULTS", "fault_from_element", "fault_name", "is_transient", "soap_fault"]

# Plain words for the МИС and ops; never СМЭВ's description (it can quote content).
KNOWN_FAULTS: dict[str, tuple[type[SmevFault], str]] = {
    "MessageIsAlreadySent": (SmevMessageAlreadySent, "СМЭВ уже приняла сообщение с этим MessageID"),
    "TargetMessageIsNotFound": (SmevAckTargetNotFound, "в СМЭВ нет неподтверждённого сообщения с этим id"),
    "StaleMessageId": (SmevStaleMessageId, "СМЭВ отклонила MessageID как устаревший: проверьте время на сервере "
                                           "шлюза (NTP); запрос не отправлен повторно автоматически"),
    "SMEVFailure": (SmevTemporaryFailure, "внутренняя ошибка СМЭВ, повторите позже"),
    "DestinationOverflow": (SmevTemporaryFailure, "очередь получателя в СМЭВ переполнена, повторите позже"),
    "SignatureVerificationFault": (SmevOpsProblem, "СМЭВ не приняла ЭП-ОВ шлюза: проверьте ключ и сертификат, "
                                                   "зарегистрированные в СМЭВ"),
    "SenderIsNotRegistered": (SmevOpsProblem, "СМЭВ не знает отправителя: сертификат ЭП-ОВ не зарегистрирован "
                                              "для информационной системы"),
    "InvalidContent": (SmevOpsProblem, "СМЭВ отклонила содержимое: оно не соответствует схеме вида сведений"),
    "AccessDenied": (SmevOpsProblem, "СМЭВ: у информационной системы нет доступа к этому виду сведений"),
    "PersonalAccessDenied": (SmevOpsProblem, "СМЭВ: нет доступа к виду сведений для ЭП-СП"),
    "UnknownMessageType": (SmevOpsProblem, "СМЭВ не знает такого вида сведений"),
    "BusinessDataTypeIsNotSupported": (SmevOpsProblem, "СМЭВ не поддерживает корневой элемент бизнес-данных"),
    "RecipientIsNotFound": (SmevOpsProblem, "СМЭВ не нашла получателя для этого вида сведений"),
    "InvalidMessageIdFormat": (SmevOpsProblem, "СМЭВ отклонила MessageID: не UUID версии 1 (RFC 4122)"),
    "TransactionCodeInvalid": (SmevOpsProblem, "СМЭВ отклонила код транзакции"),
    "AttachmentContentMiscoordination": (SmevOpsProblem, "СМЭВ: вложения не соответствуют заголовкам"),
    "AttachmentSizeLimitExceeded": (SmevOpsProblem, "СМЭВ: превышен размер вложений"),
    "QuoteLimitExceeded": (SmevOpsProblem, "СМЭВ: исчерпана квота на вложения"),
    "EndOfLifeReached": (SmevOpsProblem, "СМЭВ: истёк срок жизни сообщения"),
    "IncorrectResponseContentType": (SmevOpsProblem, "СМЭВ: тип ответа не соответствует запросу"),
    "RequestIsNotFound": (SmevOpsProblem, "СМЭВ не нашла запрос, на который дан ответ"),
}
_TRANSIENT = frozenset({"SMEVFailure", "DestinationOverflow", "SOAP-Server"})


def fault_name(name: str) -> str:
    """A fault name as a metric label: one of the schema's, or ``other``."""
    return name if name in KNOWN_FAULTS or name == "SOAP-Server" else "other"


def fault_from_element(name: str, detail: etree._Element | None, operation: str) -> SmevFault:
    """The exception for the fault ``name`` (from ``detail``'s element or an ``xsi:type``)."""
    code = reason = None
    if detail is not None:
        code = (detail.findtext("{*}Code") or "").strip()[:100] or None
        if name == "SignatureVerificationFault":
            inner = detail.find(f"{{{etree.QName(detail).namespace}}}SignatureVerificationFault")
            value = (inner.text or "").strip() if inner is not None else ""
            reason = value if value.isascii() and value.isalnum() and len(value) <= 50 else None
    kind, words = KNOWN_FAULTS.get(name, (SmevOpsProblem, "СМЭВ вернула неизвестную ошибку"))
    suffix = f" ({reason})" if reason else ""
    return kind(name, f"{operation}: {words}{suffix} [{name}]", code=code, reason=reason)


def _fault_detail(fault: etree._Element) -> etree._Element | None:
    detail = fault.find("detail")
    if detail is None:
        detail = fault.find(f"{{{SOAP_ENV}}}detail")
    if detail is None:
        return None
    for child in detail:
        if isinstance(child.tag, str) and (etree.QName(child).namespace or "").startswith(FAULTS_PREFIX):
            return child
    return None


def soap_fault(fault: etree._Element, operation: str) -> SmevFault:
    """The exception for a SOAP 1.1 ``Fault`` element СМЭВ answered with."""
    detail = _fault_detail(fault)
    if detail is None:
        code = (fault.findtext("faultcode") or "").strip()
        if code.endswith(":Client") or code == "Client":
            return SmevOpsProblem("SOAP-Client", f"{operation}: СМЭВ отклонила запрос как некорректный [SOAP-Client]")
        return SmevTemporaryFailure("SOAP-Server", f"{operation}: СМЭВ вернула ошибку без подробностей, "
                                                   "повторите позже [SOAP-Server]")
    return fault_from_element(etree.QName(detail).localname, detail, operation)


def is_transient(fault: SmevFault) -> bool:
    return fault.fault in _TRANSIENT
