"""Reading the МИС's answers: tolerant of what a newer Hub adds, strict about what the bot needs.

Hub versions differ (docs/hubservice.md): the 2022 contract adds five members to
``GetAvaibleAppointmentsResult`` that the 2019 Hub24 contract (our ``wsdl/hubservice.wsdl``) does not
have, and WCF's DataContractSerializer writes members in alphabetical order, so a member a newer
Hub adds may come between two we know. zeep's default (``strict=True``) refuses any element its
schema does not name. ``ZEEP_SETTINGS`` lets zeep skip those (``strict=False``) and find the members
it knows wherever they stand (``xsd_ignore_sequence_order``).

What ``strict=False`` would give away is put back here:

* it also turns on lxml's *recover* mode, which reads a truncated or broken document as far as it
  goes, and it lets the body hold another operation's answer — so every answer is first parsed by
  a strict parser and its body checked (``check_answer``);
* no element of the contract is required by its XSD (WCF writes ``minOccurs="0"`` everywhere), so
  the members the bot cannot do without (``Success``, a slot's id and times, ``IdPat`` …) are checked
  by ``required`` when the answer is read.

An answer that fails either check raises ``ScheduleAnswerInvalid`` (an ``UpstreamUnavailable``: the
bot tells the patient the service is unavailable, never acts on it), is logged as
``hubservice.answer_invalid`` with the operation and the element's name, and counted in
``bridge_hubservice_answers_invalid_total``. Never a value: the answer may name a patient.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from prometheus_client import Counter
from zeep.settings import Settings

from bridge.delivery import UpstreamUnavailable
from bridge.observability import get_logger

__all__ = ["ANSWERS_INVALID", "ZEEP_SETTINGS", "Reader", "ScheduleAnswerInvalid", "check_answer", "invalid"]

_log = get_logger("adapters.hubservice")

ZEEP_SETTINGS = Settings(strict=False, xsd_ignore_sequence_order=True)

ANSWERS_INVALID = Counter(
    "bridge_hubservice_answers_invalid_total",
    "Answers of the МИС schedule (HubService) that could not be used, by operation and reason "
    "(malformed: not well-formed XML; unreadable: not a SOAP answer zeep can read; "
    "missing: a required element absent, empty or not of its type).",
    ["operation", "reason"],
)

_SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_TEMPURI = "http://tempuri.org/"
# No DTD, no entities, no network, and no recovery: a document that is not well-formed is refused.
_STRICT_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, recover=False,
                                 huge_tree=False, remove_comments=True)


class ScheduleAnswerInvalid(UpstreamUnavailable):
    """The МИС answered, but not with something the bot can use (what is wrong: names, never values)."""

    def __init__(self, upstream: str, endpoint: str, operation: str, reason: str, detail: str) -> None:
        super().__init__(upstream, endpoint, f"{operation}: unusable answer ({reason}): {detail}")
        self.operation = operation
        self.reason = reason
        self.detail = detail


def invalid(upstream: str, endpoint: str, operation: str, reason: str, detail: str) -> ScheduleAnswerInvalid:
    """Count and log the unusable answer; return the exception to raise."""
    ANSWERS_INVALID.labels(operation, reason).inc()
    _log.warning("hubservice.answer_invalid", upstream=upstream, operation=operation, reason=reason, detail=detail)
    return ScheduleAnswerInvalid(upstream, endpoint, operation, reason, detail)


def check_answer(content: bytes, operation: str) -> tuple[str, str] | None:
    """None when ``content`` is a well-formed SOAP 1.1 envelope whose body is ``<operation>Response`` (in
    ``http://tempuri.org/``) or a Fault; else ``(reason, what is wrong)``: names and positions, no text."""
    try:
        root = etree.fromstring(content, parser=_STRICT_PARSER)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (0, 0)
        return "malformed", f"not well-formed XML (line {line}, column {column})"
    body = root.find(f"{{{_SOAP_ENV}}}Body") if root.tag == f"{{{_SOAP_ENV}}}Envelope" else None
    if body is None:
        return "unreadable", f"not a SOAP 1.1 envelope: {etree.QName(root).localname}"
    first = next(iter(body), None)
    expected = {f"{{{_TEMPURI}}}{operation}Response", f"{{{_SOAP_ENV}}}Fault"}
    if first is None or first.tag not in expected:
        found = etree.QName(first).localname if first is not None else "nothing"
        return "unreadable", f"the body holds {found}, not {operation}Response"
    return None


class Reader:
    """Checks one answer of one operation; ``required`` raises ``ScheduleAnswerInvalid`` naming the element."""

    def __init__(self, upstream: str, endpoint: str, operation: str) -> None:
        self.upstream = upstream
        self.endpoint = endpoint
        self.operation = operation

    def invalid(self, reason: str, detail: str) -> ScheduleAnswerInvalid:
        return invalid(self.upstream, self.endpoint, self.operation, reason, detail)

    def required(self, item: Any, member: str, where: str) -> Any:
        """``item.member``; absent, empty or unreadable raises ``ScheduleAnswerInvalid`` naming ``where/member``.

        (zeep reads a value it cannot convert, ``<VisitStart>12.03.1961</VisitStart>``, as None — and logs it
        with the value to the ``zeep`` logger, which ``bridge.observability`` silences.)"""
        value = getattr(item, member, None)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise self.invalid("missing", f"required element {where}/{member} is absent, empty or not of its type")
        return value

