"""What a SOAP service is built from: its base class, its application, what it works with, its helpers.

A service module reads::

    class EsiaAccounts(BridgeServiceBase):
        @rpc(text_element("СНИЛС", required=True), _returns=Boolean)
        def Check(ctx: Any, Snils: str) -> Any:
            return provided(ctx, PatientAccounts).check(Snils)

    def build_service(accounts: PatientAccounts | None, wsdl_dir: Path) -> SoapService:
        application = ServiceApplication([EsiaAccounts], tns=NAMESPACE, name="EsiaAccounts", provides=accounts)
        return SoapService(SERVICE_NAME, application, wsdl_dir / f"{SERVICE_NAME}.wsdl")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from spyne import Application, Fault, ServiceBase, Unicode
from spyne import rpc as _spyne_rpc
from spyne.protocol.soap import Soap11

from bridge.errors import ServiceUnavailable, StoreUnavailable, UpstreamError, answer
from bridge.observability import current_request_id, get_logger
from bridge.soap._wsdl import WsdlDocument

_log = get_logger("bridge.soap")
T = TypeVar("T")

# spyne is untyped; its decorator is given a type here, once.
rpc: Callable[..., Callable[[Callable[..., Any]], Any]] = _spyne_rpc


def text_element(doc: str, required: bool = False) -> Any:
    """A string element of the contract: required ones must be there and not nil; optional ones may be
    absent or xsi:nil, which clients such as node's soap send for null."""
    return Unicode(min_occurs=1 if required else 0, nillable=not required, doc=doc)


class BridgeServiceBase(ServiceBase):  # type: ignore[misc]
    """Base class of every SOAP service: turns exceptions into Faults as ``bridge.errors.answer`` reads them."""

    @classmethod
    def call_wrapper(cls, ctx: Any, args: Any = None) -> Any:
        try:
            return super().call_wrapper(ctx, args)
        except Fault:
            raise
        except Exception as exc:
            said = answer(exc, current_request_id())
            operation = getattr(ctx.descriptor, "name", None)
            if said.bug:
                _log.exception("soap.unexpected_error", operation=operation)
            elif isinstance(exc, UpstreamError):
                _log.warning("soap.upstream_unavailable", operation=operation, error=str(exc))
            elif said.faultcode == StoreUnavailable.faultcode:  # the driver's text may quote SQL: its type only
                _log.warning("soap.store_unavailable", operation=operation, error=type(exc).__name__,
                             cause=type(getattr(exc, "orig", None) or exc).__name__)
            raise Fault(faultcode=said.faultcode, faultstring=said.text) from None


class ServiceApplication(Application):  # type: ignore[misc]
    """spyne's Application of one service (SOAP 1.1 in and out, requests validated against the schema),
    holding the one object its methods work with; they take it with ``provided(ctx, Kind)``.

    ``provides`` is None when the service is built for its contract alone (``bridge wsdl``)."""

    def __init__(self, services: list[type[BridgeServiceBase]], *, tns: str, name: str,
                 provides: object | None) -> None:
        super().__init__(services, tns=tns, name=name, in_protocol=Soap11(validator="lxml"), out_protocol=Soap11())
        self.provides = provides


def provided(ctx: Any, kind: type[T], absent: str | None = None) -> T:
    """The object the service's application was built with, checked to be a ``kind``.

    Without one: ``ServiceUnavailable(absent)`` when the service may run unconfigured (``absent`` says
    what to configure), else an error of ours (a Server fault with the request id)."""
    value = getattr(ctx.app, "provides", None)
    if isinstance(value, kind):
        return value
    if value is None and absent is not None:
        raise ServiceUnavailable(absent)
    raise TypeError(f"the service {getattr(ctx.app, 'name', '?')} was built without a {kind.__name__}")


@dataclass(frozen=True)
class SoapService:
    """A SOAP face: its URL name, the spyne application and its frozen WSDL file."""

    name: str
    application: Application
    wsdl_path: Path

    def wsdl(self) -> WsdlDocument:
        return WsdlDocument(self.wsdl_path)
