"""The WSGI application of one SOAP service: a request read top to bottom.

    handle_rpc   the declared length; the body read; the envelope checked (bridge.soap._envelope);
                 the МИС client identified (bridge.soap._access) and bound for current_caller();
    _dispatch    spyne takes the parsed document (no second parse), validates it against the schema,
                 checks the SOAPAction, calls the service (BridgeServiceBase turns exceptions into Faults),
                 writes the answer; every Fault made safe to send (bridge.soap._faults); the request's
                 values are read and the answer written by the operation's codec compiled at start
                 from the spyne models (bridge.soap._codec), by spyne when there is none or the call
                 is one the codec leaves to spyne;
    _account     one metric sample, one log line and one audit entry per request, whatever happened.

What happened travels as values (``_Call``), not through the WSGI environ.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import spyne.const
from spyne import Fault
from spyne.auxproc import process_contexts
from spyne.const.http import HTTP_200, HTTP_405
from spyne.error import RequestNotAllowed
from spyne.protocol import ProtocolBase
from spyne.protocol.soap.soap11 import Soap11, resolve_hrefs
from spyne.server.wsgi import WsgiApplication, WsgiMethodContext

from bridge.errors import AccessDenied
from bridge.metrics import SOAP_REQUEST_SECONDS, SOAP_REQUESTS
from bridge.observability import current_request_id, get_logger
from bridge.parking import CallParked, current_parking
from bridge.soap._access import ANONYMOUS, AccessPolicy, Caller, bind_caller, unbind_caller
from bridge.soap._asgi import WsgiOneHop
from bridge.soap._codec import NotCompiled, OperationCodec, compile_operation
from bridge.soap._envelope import Envelope, EnvelopeReader, Refusal, local_name, object_ids
from bridge.soap._faults import fault_response, internal_error, sanitize
from bridge.soap._malloc import TRIM_ABOVE, trim
from bridge.soap._service import SoapService
from bridge.store import AuditJournal

_log = get_logger("bridge.soap")

# spyne runs a full gc.collect() after a request at most once a second, to close uploaded files
# early (we take none): a 85-110 ms stop of the whole process that was the bridge's p99.
spyne.const.MIN_GC_INTERVAL = float("inf")


@dataclass
class _Call:
    """What one request turned out to be, filled in as it is read; what _account reports."""

    caller: Caller = ANONYMOUS
    element: Any = None            # the operation element of the body, once the envelope is read
    operation: str = "unknown"
    outcome: str = "server_fault"  # ok | client_fault | server_fault
    faultcode: str | None = "Server"

    def refused(self, faultcode: str, operation: str = "unknown") -> None:
        self.operation, self.faultcode = operation, faultcode
        self.outcome = "client_fault" if faultcode.startswith(("Client", "VersionMismatch")) else "server_fault"

    def answered(self, operation: str) -> None:
        self.operation, self.outcome, self.faultcode = operation, "ok", None


class SoapEndpoint(WsgiApplication):  # type: ignore[misc]
    """The WSGI application of one SOAP service, with the bridge's policies."""

    def __init__(self, service: SoapService, access: AccessPolicy | None = None,
                 audit: AuditJournal | None = None, compiled: bool = True) -> None:
        """``compiled=False`` leaves reading the values and writing the answers to spyne for every
        operation (what tests/unit/test_soap_fastpath.py compares the compiled codecs with)."""
        service.application.event_manager.add_listener("method_call", _check_soap_action)
        super().__init__(service.application)
        self.service_name = service.name
        self._access = access
        self._audit = audit
        self._reader = EnvelopeReader(service.application.in_protocol.parser_kwargs, self.max_content_length)
        # The labelled metric series of each operation and outcome, looked up once.
        self._metrics: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._operations = {"unknown"}
        # The contract's operation elements ({namespace}Name) → the operation: the only names a metric
        # label takes (anything else a caller writes in the Body is "unknown": no series per made-up name).
        self._named: dict[str, str] = {}
        self.codecs: dict[Any, OperationCodec] = {}
        for element, descriptors in service.application.interface.service_method_map.items():
            for descriptor in descriptors:
                self._operations.add(str(descriptor.name))
                self._named[str(element)] = str(descriptor.name)
                codec = compile_operation(service.application, descriptor) if compiled else None
                if codec is not None:
                    self.codecs[descriptor] = codec

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
        try:
            return self._handle_rpc(req_env, start_response)
        finally:
            # The request's tree is gone with the call's frame: a large one's memory back to the
            # system, not kept by this thread's malloc arena (bridge.soap._malloc).
            if _length(req_env) > TRIM_ABOVE:
                trim()

    def _handle_rpc(self, req_env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        # A parked call runs again (bridge/parking.py): it is accounted once, by its last run, from its first.
        parking = current_parking()
        started = time.perf_counter() if parking is None else parking.started
        call = _Call()
        parked = False
        try:
            read = self._reader.too_long(req_env) or self._reader.read(_body(req_env))
            if isinstance(read, Refusal):
                call.refused(read.faultcode)
                return fault_response(start_response, read)
            call.element = read.operation
            if self._access is not None:
                try:
                    call.caller = self._access.identify(req_env, read.root)
                except AccessDenied as denied:
                    call.refused(denied.faultcode, self._named.get(call.element.tag, "unknown"))
                    return fault_response(start_response, Refusal(denied.faultcode, denied.message))
            bound = bind_caller(call.caller)
            try:
                return self._dispatch(req_env, read, start_response, call)
            finally:
                unbind_caller(bound)
        except CallParked:
            parked = True
            raise
        except Exception:
            # Consumed here, so that nothing spyne raises escapes into the server's thread.
            _log.exception("soap.unexpected_error", service=self.service_name)
            call.refused("Server")
            return fault_response(start_response, internal_error(), sys.exc_info())
        finally:
            if not parked:
                self._account(call, req_env, time.perf_counter() - started)

    def _dispatch(self, req_env: dict[str, Any], envelope: Envelope, start_response: Any, call: _Call) -> list[bytes]:
        """spyne's WsgiApplication.handle_rpc for one call, from the document already parsed (no
        generators, MTOM or HttpRpc here: the bridge's services answer document/literal SOAP 1.1)."""
        request = WsgiMethodContext(self, req_env, self.app.out_protocol.mime_type)
        contexts = self._method_contexts(request, envelope)  # copies of it, one per method
        try:
            return self._answer(start_response, call, *contexts)
        finally:
            _release_tree(request, *contexts)

    def _answer(self, start_response: Any, call: _Call, p_ctx: Any, *others: Any) -> list[bytes]:
        p_ctx.active = True
        if p_ctx.in_error is None:
            self._read_values(p_ctx)
        if p_ctx.in_error is None:
            self.get_out_object(p_ctx)
        error = p_ctx.in_error or p_ctx.out_error
        if error is None:
            if p_ctx.transport.resp_code is None:
                p_ctx.transport.resp_code = HTTP_200
            try:
                self._write_answer(p_ctx)
            except Exception as exc:
                _log.exception("soap.serialization_failed", service=self.service_name)
                error = p_ctx.out_error = Fault("Server", type(exc).__name__)
        operation = self._operation(p_ctx)
        if error is not None:
            answer = list(self.handle_error(p_ctx, others, error, start_response))
            _forget_traceback(error)  # replaced by its sanitized Fault: its frames hold the tree (_release_tree)
            call.refused(str(getattr(p_ctx.out_error, "faultcode", "Server")).split(":", 1)[-1], operation)
            return answer
        answer = list(p_ctx.out_string)
        headers = p_ctx.transport.resp_headers
        headers["Content-Length"] = str(sum(len(chunk) for chunk in answer))
        start_response(p_ctx.transport.resp_code,
                       [(k, v2) for k, v in headers.items() for v2 in (v if isinstance(v, (list, tuple)) else (v,))])
        _auxiliary(self, others, p_ctx)
        p_ctx.close()
        call.answered(operation)
        return answer

    def _read_values(self, p_ctx: Any) -> None:
        """The operation's arguments from the validated body: its codec, else spyne's deserialize."""
        codec = self.codecs.get(p_ctx.descriptor)
        body = p_ctx.in_body_doc
        if (codec is not None and body is not None and body.tag != _SOAP_FAULT
                and _quiet((self.app.in_protocol.event_manager,), _READ_EVENTS)):
            try:
                p_ctx.in_object = codec.read(body)
                return
            except NotCompiled:
                pass
        self.get_in_object(p_ctx)

    def _write_answer(self, p_ctx: Any) -> None:
        """The answer's bytes: the operation's codec, else spyne's serialize."""
        codec = self.codecs.get(p_ctx.descriptor)
        if (codec is not None and p_ctx.out_string is None and p_ctx.out_document is None
                and _quiet((self.app.out_protocol.event_manager,), _SERIALIZE_EVENTS)
                and _quiet((self.app.event_manager, *p_ctx.descriptor.event_managers), _RETURN_EVENTS)):
            try:
                p_ctx.out_string = [codec.write(p_ctx.out_object)]
                return
            except NotCompiled:
                pass
        self.get_out_string(p_ctx)

    def _method_contexts(self, ctx: Any, envelope: Envelope) -> Any:
        """spyne's ServerBase.generate_contexts, taking the document already parsed."""
        protocol = self.app.in_protocol
        try:
            # What spyne's Soap11.create_in_document checks before it parses (SOAP over HTTP).
            if ctx.transport.get_request_content_type() is None or ctx.transport.get_request_method() != "POST":
                ctx.transport.resp_code = HTTP_405
                raise RequestNotAllowed("You must issue a POST request with the Content-Type header properly set.")
            ctx.in_document = (envelope.root, envelope.ids)
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

    def handle_error(self, p_ctx: Any, others: Any, error: Any, start_response: Any) -> Any:
        fault = sanitize(error)
        if p_ctx.in_error is error:
            p_ctx.in_error = fault
        p_ctx.out_error = fault
        return super().handle_error(p_ctx, others, fault, start_response)

    @staticmethod
    def _operation(p_ctx: Any) -> str:
        descriptor = getattr(p_ctx, "descriptor", None)
        return str(descriptor.name) if descriptor is not None else "unknown"

    def _account(self, call: _Call, req_env: dict[str, Any], elapsed: float) -> None:
        counted = self._metrics.get((call.operation, call.outcome))
        if counted is None:
            named = call.operation if call.operation in self._operations else "unknown"  # bounded label values
            counted = (SOAP_REQUESTS.labels(self.service_name, named, call.outcome),
                       SOAP_REQUEST_SECONDS.labels(self.service_name, named))
            self._metrics[(named, call.outcome)] = counted
        counted[0].inc()
        counted[1].observe(elapsed)
        _log.info("soap.request", service=self.service_name, operation=call.operation, outcome=call.outcome,
                  faultcode=call.faultcode, client=call.caller.name, elapsed_ms=round(elapsed * 1000, 1))
        if self._audit is not None:
            operation = call.operation if call.operation != "unknown" else local_name(call.element)
            self._audit.record(client=call.caller.name, face="soap", service=self.service_name,
                               operation=operation, outcome=call.outcome, objects=object_ids(call.element),
                               faultcode=call.faultcode, request_id=current_request_id(),
                               remote=call.caller.remote or req_env.get("REMOTE_ADDR"))

_SOAP_FAULT = f"{{{Soap11.ns_soap_env}}}Fault"
# The events spyne fires around the steps a codec does; a listener on any of them keeps spyne's step.
_READ_EVENTS = ("before_deserialize", "after_deserialize")
_SERIALIZE_EVENTS = ("before_serialize", "after_serialize")
_RETURN_EVENTS = ("method_return_document", "method_return_string")


def _quiet(managers: tuple[Any, ...], events: tuple[str, ...]) -> bool:
    return not any(manager.handlers.get(event) for manager in managers for event in events)


def _body(req_env: dict[str, Any]) -> bytes:
    try:
        body: bytes = req_env["wsgi.input"].read()
    except Exception:
        return b""
    return body


def _release_tree(*contexts: Any) -> None:
    """The request's tree let go of by spyne's contexts once the answer is written.

    They live in reference cycles (the request's context and its transport; a Fault, its traceback
    and the frames of the whole call, this module's included, whose locals hold the envelope) that
    only the cyclic GC frees, later and in whichever thread: until then the tree stays, and its
    memory then goes back to that thread's malloc arena only (bridge.soap._malloc). Without the
    documents and the tracebacks the tree is freed here, when the call's frames end."""
    for ctx in contexts:
        ctx.in_document = ctx.in_header_doc = ctx.in_body_doc = None
        _forget_traceback(ctx.in_error)
        _forget_traceback(ctx.out_error)


def _forget_traceback(error: Any) -> None:
    if isinstance(error, BaseException):
        error.__traceback__ = None
        error.__context__ = error.__cause__ = None


def _length(req_env: dict[str, Any]) -> int:
    try:
        return int(req_env.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _auxiliary(server: Any, others: Any, p_ctx: Any) -> None:
    try:
        process_contexts(server, others, p_ctx, error=None)
    except Exception:
        _log.exception("soap.auxiliary_failed")  # as spyne: reported, not the caller's answer


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
