"""The request's envelope, read once and checked before spyne sees it.

What the bridge insists on whatever the service's protocol says: a body at all, no DTD, well-formed
XML parsed without entities, network or huge trees, SOAP 1.1 (a 1.2 envelope is a VersionMismatch),
exactly one Body with an operation element in it. A request that fails is a ``Refusal`` (a faultcode
and a Russian text for the МИС operator); one that passes is an ``Envelope`` spyne takes as it is.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

from lxml import etree

from bridge.observability import mask_text

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
_DOCTYPE = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)
# What the bridge insists on whatever the service's protocol says: no entities, no network, no huge trees.
_SAFE_OPTIONS = {"resolve_entities": False, "no_network": True, "huge_tree": False, "remove_comments": True}
# Russian leads for spyne's own Client faults (their English detail is kept after the colon).
LEADS = {
    "Client.XMLSyntaxError": "запрос не является корректным XML",
    "Client.RequestTooLong": "запрос больше допустимого размера",
    "Client.SoapError": "запрос не является SOAP 1.1-конвертом",
}


@dataclass(frozen=True)
class Refusal:
    """Why the request is not taken at all: a Client fault written without spyne."""

    faultcode: str
    text: str


@dataclass(frozen=True)
class Envelope:
    """The request parsed once: the root, its xml ids (for spyne's hrefs) and the operation element."""

    root: Any
    ids: Any
    operation: Any


class _Parsers(threading.local):
    """One lxml parser per thread (a parser is not to be shared by threads)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.parser = etree.XMLParser(**options)


class EnvelopeReader:
    """Reads requests with the service's own parser options (spyne's), the bridge's safety options on top."""

    def __init__(self, parser_options: dict[str, Any], max_length: int) -> None:
        self._parsers = _Parsers({**parser_options, **_SAFE_OPTIONS})
        self.max_length = max_length

    def too_long(self, req_env: dict[str, Any]) -> Refusal | None:
        """Refused on the declared length, before the body is read."""
        try:
            declared = int(req_env.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > self.max_length:
            return Refusal("Client.RequestTooLong", f"{LEADS['Client.RequestTooLong']}: Request too long")
        return None

    def read(self, body: bytes) -> Envelope | Refusal:
        if not body.strip():
            return Refusal("Client.EmptyRequest", "пустой запрос: ожидается SOAP-конверт в теле POST")
        if _DOCTYPE.search(body):
            # SOAP 1.1 §3: "A SOAP message MUST NOT contain a Document Type Declaration."
            # Refused before any parser sees it: no entities, no external fetches, no expansion.
            return Refusal("Client.DTDForbidden", "SOAP-сообщение не может содержать объявление DTD (<!DOCTYPE …>)")
        try:
            root, ids = etree.XMLID(body, self._parsers.parser)
        except etree.XMLSyntaxError as exc:
            # Any encoding error included (spyne raised on invalid UTF-8).
            return Refusal("Client.XMLSyntaxError",
                           f"{LEADS['Client.XMLSyntaxError']}: {mask_text(str(exc))[:200]}")
        operation = _version_and_body(root)
        return operation if isinstance(operation, Refusal) else Envelope(root, ids, operation)


_ENVELOPE11, _ENVELOPE12, _BODY11 = f"{{{SOAP11}}}Envelope", f"{{{_SOAP12}}}Envelope", f"{{{SOAP11}}}Body"


def _version_and_body(root: Any) -> Refusal | Any:
    """The SOAP 1.1 envelope's version, and exactly one Body with an element in it: that element (the
    operation's), or None when the root is not a SOAP envelope at all (spyne names what it expected)."""
    if root.tag == _ENVELOPE12:
        # SOAP 1.1 §4.4.1: an Envelope in another namespace is a VersionMismatch.
        return Refusal("VersionMismatch", f"ожидается конверт SOAP 1.1 ({SOAP11}), получен SOAP 1.2")
    if root.tag != _ENVELOPE11:
        return None
    bodies = [child for child in root if child.tag == _BODY11]
    if len(bodies) != 1:
        return Refusal("Client.InvalidEnvelope", f"в конверте должен быть ровно один Body, а их {len(bodies)}")
    for child in bodies[0]:
        if isinstance(child.tag, str):
            return child
    return Refusal("Client.InvalidEnvelope", "Body пуст: в нём должен быть элемент вызываемой операции")


def local_name(element: Any) -> str:
    """The operation's name as the request gives it, for metrics and the audit journal."""
    if element is None or not isinstance(element.tag, str):
        return "unknown"
    return str(etree.QName(element).localname)[:64]


def object_ids(element: Any) -> str | None:
    """The ids a call names, for the audit journal: elements called …Id (two levels), short values only."""
    if element is None:
        return None
    found: list[str] = []
    for child in element:
        for node in (child, *child):            # the operation's parameters and their members
            tag = node.tag
            if not isinstance(tag, str) or not tag.endswith("Id"):
                continue
            value = (node.text or "").strip()
            if value and len(value) <= 64 and len(found) < 8:
                found.append(f"{tag.rpartition('}')[2]}={value}")
    return ";".join(found) or None
