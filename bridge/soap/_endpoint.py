"""A spyne service hosted by the bridge.

Everything that must be the same for every SOAP face lives here, in one place:
- domain errors (bridge.errors) become Faults with the right faultcode;
- anything unexpected becomes a Server fault that carries the request id, never a traceback;
- every fault text is masked for personal data before it leaves;
- a SOAPAction that names another operation than the body is refused (Client fault);
- one metric sample and one log line per request.
"""

from __future__ import annotations

import io
import re
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

import spyne.const
from lxml import etree
from spyne import Fault
from spyne.const.http import HTTP_405
from spyne.error import RequestNotAllowed
from spyne.protocol import ProtocolBase
from spyne.protocol.soap.soap11 import Soap11, resolve_hrefs
from spyne.server.wsgi import WsgiApplication

from bridge.metrics import SOAP_REQUEST_SECONDS, SOAP_REQUESTS
from bridge.observability import current_request_id, get_logger, mask_text
from bridge.soap._access import ANONYMOUS, AccessDenied, AccessPolicy, Caller, bind_caller, unbind_caller
from bridge.soap._asgi import WsgiOneHop
from bridge.soap._service import SoapService
from bridge.store import AuditJournal

_log = get_logger("bridge.soap")

# spyne runs a full gc.collect() after a request at most once a second, to close uploaded files
# early (we take none): a 85-110 ms stop of the whole process that was the bridge's p99.
spyne.const.MIN_GC_INTERVAL = float("inf")

_DOCTYPE = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)
_SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
# What the bridge insists on whatever the service's protocol says: no entities, no network, no huge trees.
_SAFE_OPTIONS = {"resolve_entities": False, "no_network": True, "huge_tree": False, "remove_comments": True}
_PARSED_KEY = "bridge.soap.parsed"
# Russian leads for spyne's own Client faults (their English detail is kept after the colon).
_LEADS = {
    "Client.XMLSyntaxError": "запрос не является корректным XML",
    "Client.RequestTooLong": "запрос больше допустимого размера",
    "Client.SoapError": "запрос не является SOAP 1.1-конвертом",
}


class _Parsers(threading.local):
    """One lxml parser per thread (a parser is not to be shared by threads), built from the
    service's own parser options (spyne's) with the bridge's safety options on top."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.parser = etree.XMLParser(**options)


def _parse(body: bytes, parsers: _Parsers) -> tuple[Any, Any] | tuple[str, str]:
    """The request parsed once, for the checks below and for spyne: (root, xml ids), or a fault."""
    try:
        root, ids = etree.XMLID(body, parsers.parser)
    except etree.XMLSyntaxError as exc:
        return "Client.XMLSyntaxError", f"{_LEADS['Client.XMLSyntaxError']}: {mask_text(str(exc))[:200]}"
    return root, ids


def _envelope_problem(root: Any) -> tuple[str, str] | None:
    """Checked before spyne: the SOAP 1.1 envelope's version, and exactly one Body (well-formed XML,
    any encoding error included, is checked by the parse itself — spyne raised on invalid UTF-8)."""
    if root.tag == f"{{{_SOAP12}}}Envelope":
        # SOAP 1.1 §4.4.1: an Envelope in another namespace is a VersionMismatch.
        return "VersionMismatch", f"ожидается конверт SOAP 1.1 ({_SOAP11}), получен SOAP 1.2"
    if root.tag != f"{{{_SOAP11}}}Envelope":
        return None  # spyne names what it expected
    bodies = [child for child in root if child.tag == f"{{{_SOAP11}}}Body"]
    if len(bodies) != 1:
        return "Client.InvalidEnvelope", f"в конверте должен быть ровно один Body, а их {len(bodies)}"
    if not any(isinstance(child.tag, str) for child in bodies[0]):
        return "Client.InvalidEnvelope", "Body пуст: в нём должен быть элемент вызываемой операции"
    return None


_FAULT_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soap11env:Envelope xmlns:soap11env="http://schemas.xmlsoap.org/soap/envelope/"><soap11env:Body>'
    "<soap11env:Fault><faultcode>soap11env:{code}</faultcode><faultstring>{text}</faultstring>"
    "</soap11env:Fault></soap11env:Body></soap11env:Envelope>"
)
_STATE_KEY = "bridge.soap.outcome"
_MAX_FAULT_TEXT = 500


def _check_soap_action(ctx: Any) -> None:
    header = ctx.transport.req_env.get("HTTP_SOAPACTION")
    if header is None:
        return
    action = header.strip().strip('"').strip()
    if not action:
        return  # SOAP 1.1 §6.1.1: an empty SOAPAction means "the request URI"
    operation = ctx.descriptor.name
    if action == operation or action.endswith("/" + operation):
        return
    raise Fault(
        faultcode="Client.SOAPAction",
        faultstring=f"SOAPAction '{action[:80]}' does not match the operation in the body "
        f"({operation}); expected \"{operation}\"",
    )


class SoapEndpoint(WsgiApplication):  # type: ignore[misc]
    """The WSGI application of one SOAP service, with the bridge's policies."""

    def __init__(self, service: SoapService, access: AccessPolicy | None = None,
                 audit: AuditJournal | None = None) -> None:
        service.application.event_manager.add_listener("method_call", _check_soap_action)
        super().__init__(service.application)
        self.service_name = service.name
        self._access = access
        self._audit = audit
        self.event_manager.add_listener("wsgi_return", self._on_return)
        self.event_manager.add_listener("wsgi_exception", self._on_fault)
        self._parsers = _Parsers({**service.application.in_protocol.parser_kwargs, **_SAFE_OPTIONS})

    def asgi(self) -> WsgiOneHop:
        """This endpoint as an ASGI application: body read on the event loop, one thread hop per call."""
        return WsgiOneHop(self, max_body=self.max_content_length)

    def __call__(self, req_env: dict[str, Any], start_response: Any, wsgi_url: Any = None) -> Iterable[bytes]:
        if req_env.get("REQUEST_METHOD") == "POST":
            # The WSDL is served by the bridge (WsdlDocument); spyne's URL reconstruction and
            # WSDL detection are not needed for a call.
            return self.handle_rpc(req_env, start_response)
        return super().__call__(req_env, start_response, wsgi_url)  # type: ignore[no-any-return]

    def handle_rpc(self, req_env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        started = time.perf_counter()
        caller: Caller = ANONYMOUS
        body_element: Any = None
        try:
            if _declared_length(req_env) > self.max_content_length:
                req_env[_STATE_KEY] = ("unknown", "client_fault", "Client.RequestTooLong")
                return _fault_response(start_response, "Client.RequestTooLong",
                                       f"{_LEADS['Client.RequestTooLong']}: Request too long")
            try:
                body = req_env["wsgi.input"].read()
            except Exception:
                body = b""
            if not body.strip():
                req_env[_STATE_KEY] = ("unknown", "client_fault", "Client.EmptyRequest")
                return _fault_response(start_response, "Client.EmptyRequest",
                                       "пустой запрос: ожидается SOAP-конверт в теле POST")
            if _DOCTYPE.search(body):
                # SOAP 1.1 §3: "A SOAP message MUST NOT contain a Document Type Declaration."
                # Refused before any parser sees it: no entities, no external fetches, no expansion.
                req_env[_STATE_KEY] = ("unknown", "client_fault", "Client.DTDForbidden")
                return _fault_response(start_response, "Client.DTDForbidden",
                                       "SOAP-сообщение не может содержать объявление DTD (<!DOCTYPE …>)")
            parsed = _parse(body, self._parsers)
            problem = parsed if isinstance(parsed[0], str) else _envelope_problem(parsed[0])
            if problem is not None:
                code, text = problem
                req_env[_STATE_KEY] = ("unknown", "client_fault", code)
                return _fault_response(start_response, code, text)
            body_element = _first_body_element(parsed[0])
            if self._access is not None:
                try:
                    caller = self._access.identify(req_env, parsed[0])
                except AccessDenied as denied:
                    req_env[_STATE_KEY] = (_local_name(body_element), "client_fault", denied.faultcode)
                    return _fault_response(start_response, denied.faultcode, denied.text)
            # spyne takes the parsed document (generate_contexts below) instead of parsing it again.
            req_env[_PARSED_KEY] = parsed
            req_env["wsgi.input"], req_env["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
            # Consumed here, so that nothing spyne raises escapes into the server's thread.
            bound = bind_caller(caller)
            try:
                return list(self._handle(req_env, start_response))
            finally:
                unbind_caller(bound)
        except Exception:
            _log.exception("soap.unexpected_error", service=self.service_name)
            req_env[_STATE_KEY] = ("unknown", "server_fault", "Server")
            return _fault_response(start_response, "Server",
                                   f"Внутренняя ошибка шлюза (request id {current_request_id()})", sys.exc_info())
        finally:
            operation, outcome, faultcode = req_env.get(_STATE_KEY, ("unknown", "server_fault", "Server"))
            elapsed = time.perf_counter() - started
            SOAP_REQUESTS.labels(self.service_name, operation, outcome).inc()
            SOAP_REQUEST_SECONDS.labels(self.service_name, operation).observe(elapsed)
            _log.info(
                "soap.request",
                service=self.service_name,
                operation=operation,
                outcome=outcome,
                faultcode=faultcode,
                client=caller.name,
                elapsed_ms=round(elapsed * 1000, 1),
            )
            if self._audit is not None:
                self._audit.record(client=caller.name, face="soap", service=self.service_name,
                                   operation=operation if operation != "unknown" else _local_name(body_element),
                                   outcome=outcome, objects=_object_ids(body_element), faultcode=faultcode,
                                   request_id=current_request_id(), remote=caller.remote or req_env.get("REMOTE_ADDR"))

    def generate_contexts(self, ctx: Any, in_string_charset: Any = None) -> Any:
        """spyne's ServerBase.generate_contexts, taking the document handle_rpc already parsed."""
        parsed = ctx.transport.req_env.pop(_PARSED_KEY, None)
        if parsed is None:
            return super().generate_contexts(ctx, in_string_charset)
        protocol = self.app.in_protocol
        try:
            # What spyne's Soap11.create_in_document checks before it parses (SOAP over HTTP).
            if ctx.transport.get_request_content_type() is None or ctx.transport.get_request_method() != "POST":
                ctx.transport.resp_code = HTTP_405
                raise RequestNotAllowed("You must issue a POST request with the Content-Type header properly set.")
            ctx.in_document = parsed
            if type(protocol).decompose_incoming_envelope is Soap11.decompose_incoming_envelope:
                _decompose_soap11(protocol, ctx)
            else:
                protocol.decompose_incoming_envelope(ctx, ProtocolBase.REQUEST)
            return protocol.generate_method_contexts(ctx)
        except Fault as exc:
            ctx.in_object = None
            ctx.in_error = exc
            ctx.out_error = exc
            ctx.fire_event("method_exception_object")
            return (ctx,)

    def _handle(self, req_env: dict[str, Any], start_response: Any) -> Any:
        return super().handle_rpc(req_env, start_response)

    def handle_error(self, p_ctx: Any, others: Any, error: Any, start_response: Any) -> Any:
        fault = _sanitize(error)
        if p_ctx.in_error is error:
            p_ctx.in_error = fault
        p_ctx.out_error = fault
        return super().handle_error(p_ctx, others, fault, start_response)

    @staticmethod
    def _operation(p_ctx: Any) -> str:
        descriptor = getattr(p_ctx, "descriptor", None)
        return str(descriptor.name) if descriptor is not None else "unknown"

    def _on_return(self, p_ctx: Any) -> None:
        p_ctx.transport.req_env[_STATE_KEY] = (self._operation(p_ctx), "ok", None)

    def _on_fault(self, p_ctx: Any) -> None:
        error = p_ctx.out_error or p_ctx.in_error
        code = str(getattr(error, "faultcode", "Server"))
        code = code.split(":", 1)[-1]
        outcome = "client_fault" if code.startswith("Client") else "server_fault"
        p_ctx.transport.req_env[_STATE_KEY] = (self._operation(p_ctx), outcome, code)


_SCHEMA_ELEMENT = re.compile(r"Element '(?:\{[^}]*\})?([A-Za-z_][\w.-]*)'")
_SCHEMA_REASONS = (
    ("not expected", "элемент не на своём месте или отсутствует обязательный элемент перед ним"),
    ("Missing child element", "не хватает обязательного вложенного элемента"),
    ("not 'nillable'", "обязательный элемент не может быть пустым (xsi:nil)"),
    ("is not a valid value", "значение не соответствует типу"),
)


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


def _sanitize(error: Any) -> Fault:
    """A Fault safe to send: known code, masked and bounded text, no Python internals."""
    if isinstance(error, Fault):
        code = str(error.faultcode or "Server")
        raw = error.faultstring or ""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        if code == "Client.SchemaValidationError":
            text = _schema_fault_text(text)
        elif code in _LEADS:
            text = f"{_LEADS[code]}: {text}"
        if code.startswith("Server") and code != "Server.UpstreamUnavailable" and "request id" not in text:
            text = f"Внутренняя ошибка шлюза (request id {current_request_id()})"
        return Fault(faultcode=code, faultstring=mask_text(text)[:_MAX_FAULT_TEXT])
    return Fault(faultcode="Server", faultstring=f"Внутренняя ошибка шлюза (request id {current_request_id()})")


def _decompose_soap11(protocol: Any, ctx: Any) -> None:
    """spyne's Soap11.decompose_incoming_envelope (and its _from_soap), finding Header and Body by
    walking the envelope's children instead of compiling two XPath expressions per request."""
    envelope, xmlids = ctx.in_document
    soap_env = protocol.ns_soap_env
    if xmlids:
        resolve_hrefs(envelope, xmlids)
    if envelope.tag != f"{{{soap_env}}}Envelope":
        raise Fault("Client.SoapError", f"No {{{soap_env}}}Envelope element was found!")
    header_tag, body_tag = f"{{{soap_env}}}Header", f"{{{soap_env}}}Body"
    headers = [child for child in envelope if child.tag == header_tag]
    bodies = [child for child in envelope if child.tag == body_tag]
    if not headers and not bodies:
        raise Fault("Client.SoapError", "Soap envelope is empty!")
    header = list(headers[0]) if headers else None
    body: Any = bodies[0][0] if bodies and len(bodies[0]) > 0 else None
    ctx.in_document = envelope
    # As in spyne, an empty Body fails on body.tag here (AttributeError: a Server fault).
    if body.tag == f"{{{soap_env}}}Fault":
        ctx.in_body_doc = body
        return
    ctx.in_header_doc = header
    ctx.in_body_doc = body
    ctx.method_request_string = body.tag
    protocol.validate_body(ctx, ProtocolBase.REQUEST)


def _first_body_element(envelope: Any) -> Any:
    body = envelope.find(f"{{{_SOAP11}}}Body")
    if body is None:
        return None
    for child in body:
        if isinstance(child.tag, str):
            return child
    return None


def _local_name(element: Any) -> str:
    if element is None or not isinstance(element.tag, str):
        return "unknown"
    return str(etree.QName(element).localname)[:64]


def _object_ids(element: Any) -> str | None:
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


def _declared_length(req_env: dict[str, Any]) -> int:
    try:
        return int(req_env.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _fault_response(start_response: Any, code: str, text: str, exc_info: Any = None) -> list[bytes]:
    """A SOAP 1.1 Fault written without spyne, for requests spyne cannot take at all."""
    body = _FAULT_ENVELOPE.format(code=code, text=text.replace("&", "&amp;").replace("<", "&lt;")).encode()
    headers = [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))]
    start_response("500 Internal Server Error", headers, exc_info)
    return [body]
