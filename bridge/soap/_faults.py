"""The Faults that leave the bridge: a known code, a masked and bounded text, no Python internals."""

from __future__ import annotations

import re
from typing import Any

from spyne import Fault

from bridge.errors import tree_faultcodes
from bridge.observability import current_request_id, mask_text
from bridge.soap._envelope import LEADS, Refusal

_MAX_FAULT_TEXT = 500
_FAULT_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soap11env:Envelope xmlns:soap11env="http://schemas.xmlsoap.org/soap/envelope/"><soap11env:Body>'
    "<soap11env:Fault><faultcode>soap11env:{code}</faultcode><faultstring>{text}</faultstring>"
    "</soap11env:Fault></soap11env:Body></soap11env:Envelope>"
)
_SCHEMA_ELEMENT = re.compile(r"Element '(?:\{[^}]*\})?([A-Za-z_][\w.-]*)'")
_SCHEMA_REASONS = (
    ("not expected", "элемент не на своём месте или отсутствует обязательный элемент перед ним"),
    ("Missing child element", "не хватает обязательного вложенного элемента"),
    ("not 'nillable'", "обязательный элемент не может быть пустым (xsi:nil)"),
    ("is not a valid value", "значение не соответствует типу"),
)


def internal_error() -> Refusal:
    """Our own fault: the caller gets the request id, the log the rest."""
    return Refusal("Server", f"Внутренняя ошибка шлюза (request id {current_request_id()})")


def fault_response(start_response: Any, refusal: Refusal, exc_info: Any = None) -> list[bytes]:
    """A SOAP 1.1 Fault written without spyne, for requests spyne cannot take at all."""
    text = refusal.text.replace("&", "&amp;").replace("<", "&lt;")
    body = _FAULT_ENVELOPE.format(code=refusal.faultcode, text=text).encode()
    headers = [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))]
    start_response("500 Internal Server Error", headers, exc_info)
    return [body]


def sanitize(error: Any) -> Fault:
    """A Fault safe to send for whatever spyne or a service raised."""
    if not isinstance(error, Fault):
        return Fault(faultcode="Server", faultstring=internal_error().text)
    code = str(error.faultcode or "Server")
    raw = error.faultstring or ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if code == "Client.SchemaValidationError":
        text = _schema_fault_text(text)
    elif code in LEADS:
        text = f"{LEADS[code]}: {text}"
    if code.startswith("Server") and "request id" not in text and code not in tree_faultcodes():
        text = internal_error().text   # a Server fault the tree does not define: spyne's, or a bug's
    return Fault(faultcode=code, faultstring=mask_text(text)[:_MAX_FAULT_TEXT])


def _schema_fault_text(text: str) -> str:
    """libxml's schema message, turned into 'Field: reason' for the МИС operator."""
    found = _SCHEMA_ELEMENT.search(text)
    field = found.group(1) if found else "Envelope"
    reason = next((ru for en, ru in _SCHEMA_REASONS if en in text), "запрос не соответствует схеме WSDL")
    expected = re.search(r"Expected is (?:one of )?\((.*?)\)", text)
    if expected and "not expected" in text:
        names = [n.rsplit("}", 1)[-1].strip() for n in expected.group(1).split(",")]
        reason += f" (ожидается {', '.join(n for n in names if n)})"
    return f"{field}: {reason}"
