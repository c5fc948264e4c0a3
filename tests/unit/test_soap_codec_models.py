"""Every operation the bridge serves whose codec compiles reads and writes what spyne reads and writes.

tests/unit/test_soap_fastpath.py replays real clients' requests against esia-accounts; this one goes
over every SOAP service of the bridge (and the sandbox HubService, also served by ``SoapEndpoint``),
model by model: values made from the spyne models themselves (all members set, then only the required
ones; strings with characters to escape), the answer written by the codec and by spyne's Soap11 must
be the same bytes, and the request written by spyne, then varied (each value emptied, each value
xsi:nil, a comment and an unknown element added), must be read into the same values.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from spyne import MethodContext
from spyne.model import ComplexModelBase
from spyne.model.complex import Array
from spyne.model.enum import EnumBase
from spyne.model.primitive import Boolean, Unicode
from spyne.protocol import ProtocolBase

from adapters.egisz._service import build_service as egisz_service
from adapters.esia._login_service import build_login_service
from adapters.esia._service import build_service as esia_service
from adapters.hubservice.sandbox._service import build_application as hub_application
from adapters.tmk._service import build_service as tmk_service
from bridge.soap import SoapEndpoint, SoapService
from bridge.soap._codec import XSI_NIL, compile_operation
from tests.bridgeproc import ROOT

WSDL = ROOT / "wsdl"
SERVICES: dict[str, Callable[[], SoapService]] = {
    "esia-accounts": lambda: esia_service(None, WSDL),
    "esia-login": lambda: build_login_service(None, WSDL),
    "egisz-attachments": lambda: egisz_service(None, WSDL),
    "max-tmk": lambda: tmk_service(None, WSDL),
    "hubservice-sandbox": lambda: SoapService("hubservice", hub_application(), Path("unused.wsdl")),
}
TEXT = "Знач & <x> \"q\" 'a'\r\n\t]]>"


def sample(protocol: Any, cls: Any, required_only: bool) -> Any:
    """A value of the model: every member (or the required ones only) given a value of its type."""
    if issubclass(cls, EnumBase):
        return cls.__values__[-1]
    if issubclass(cls, Unicode):
        return TEXT
    if issubclass(cls, Boolean):
        return False
    if issubclass(cls, Array):
        (item,) = cls._type_info.values()
        return [sample(protocol, item, required_only), sample(protocol, item, not required_only)]
    if issubclass(cls, ComplexModelBase):
        inst = (cls.__orig__ or cls)()
        for key, member in cls._type_info.items():
            attrs = protocol.get_cls_attrs(member)
            if required_only and attrs.min_occurs == 0:
                continue
            value = sample(protocol, member, required_only)
            setattr(inst, key, [value, value] if attrs.max_occurs > 1 else value)
        return inst
    raise AssertionError(f"a codec compiled for a type this test cannot fill: {cls}")


def native(value: Any) -> Any:
    if isinstance(value, ComplexModelBase):
        return type(value), {k: native(v) for k, v in sorted(vars(value).items())}
    if isinstance(value, list):
        return [native(v) for v in value]
    return value


def compiled_operations() -> list[tuple[str, str]]:
    found = []
    for name, build in SERVICES.items():
        application = build().application
        for descriptors in application.interface.service_method_map.values():
            found += [(name, d.name) for d in descriptors if compile_operation(application, d) is not None]
    return found


COMPILED = compiled_operations()


def operation(service: str, name: str) -> tuple[SoapEndpoint, Any]:
    endpoint = SoapEndpoint(SERVICES[service]())
    (descriptor,) = [d for d in endpoint.codecs if d.name == name]
    return endpoint, descriptor


def test_the_operations_that_compile_are_the_simple_ones() -> None:
    assert {"CheckPatient", "RegisterPatient", "UpdatePatient", "ResetPassword", "GetEsiaLogoutUrl"} <= {
        name for _, name in COMPILED}


@pytest.mark.parametrize("required_only", [False, True], ids=["all-members", "required-only"])
@pytest.mark.parametrize(("service", "name"), COMPILED)
def test_the_answer_is_spynes_bytes(service: str, name: str, required_only: bool) -> None:
    endpoint, descriptor = operation(service, name)
    protocol = endpoint.app.out_protocol
    out_object = [sample(protocol, member, required_only) for member in descriptor.out_message._type_info.values()]
    ctx = MethodContext(endpoint, MethodContext.SERVER)
    ctx.descriptor, ctx.out_object = descriptor, out_object
    protocol.serialize(ctx, ProtocolBase.RESPONSE)
    protocol.create_out_string(ctx)
    assert endpoint.codecs[descriptor].write(out_object) == b"".join(ctx.out_string)


def request_variants(element: Any) -> dict[str, Any]:
    """The request spyne wrote, and the same varied where a reader could go wrong."""
    variants = {"as-written": element}
    leaves = [e for e in element.iter() if len(e) == 0 and e is not element]
    for n, _leaf in enumerate(leaves):
        emptied, nil = copy.deepcopy(element), copy.deepcopy(element)
        [e for e in emptied.iter() if len(e) == 0 and e is not emptied][n].text = None
        nilled = [e for e in nil.iter() if len(e) == 0 and e is not nil][n]
        nilled.text = None
        nilled.set(XSI_NIL, "true")
        variants[f"empty-{n}"], variants[f"nil-{n}"] = emptied, nil
    noisy = copy.deepcopy(element)
    for e in list(noisy.iter()):
        if len(e):
            e.insert(0, etree.Comment(" c "))
            etree.SubElement(e, f"{{{etree.QName(e).namespace}}}Unknown").text = "x"
    variants["comments-and-unknown"] = noisy
    return variants


@pytest.mark.parametrize("required_only", [False, True], ids=["all-members", "required-only"])
@pytest.mark.parametrize(("service", "name"), COMPILED)
def test_the_request_is_read_as_spyne_reads_it(service: str, name: str, required_only: bool) -> None:
    endpoint, descriptor = operation(service, name)
    in_protocol, message = endpoint.app.in_protocol, descriptor.in_message
    ctx = MethodContext(endpoint, MethodContext.SERVER)
    ctx.descriptor = descriptor
    parent = etree.Element("parent")
    endpoint.app.out_protocol.to_parent(ctx, message, sample(in_protocol, message, required_only), parent,
                                        message.get_namespace())
    (written,) = parent
    for variant, element in request_variants(written).items():
        by_spyne = native(in_protocol.from_element(ctx, message, element))
        assert native(endpoint.codecs[descriptor].read(element)) == by_spyne, variant
