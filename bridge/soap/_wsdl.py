"""The frozen WSDL of a service, served fast with soap:address pointing back at the caller."""

from __future__ import annotations

import threading
from pathlib import Path

from lxml import etree
from spyne.interface.wsdl import Wsdl11

_WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
PARAMETERS = "parameters"
_ADDRESS_XPATH = "//*[local-name()='address' and (namespace-uri()='http://schemas.xmlsoap.org/wsdl/soap/' " \
    "or namespace-uri()='http://schemas.xmlsoap.org/wsdl/soap12/')]"
_PLACEHOLDER = "http://localhost/soap/SERVICE"


def _addresses(tree: etree._Element) -> list[etree._Element]:
    found = tree.xpath(_ADDRESS_XPATH)
    assert isinstance(found, list)
    return [element for element in found if isinstance(element, etree._Element)]


class WsdlDocument:
    """A WSDL file with its soap:address rewritten per base URL, cached.

    The file holds a placeholder address; each distinct ``scheme://host/path`` seen gets
    its own rendered bytes, kept in a small cache (there are only a few in practice:
    the internal name, the public name behind the proxy).
    """

    _CACHE_LIMIT = 32

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = path.read_bytes()
        tree = etree.fromstring(self.source, etree.XMLParser(resolve_entities=False, no_network=True))
        addresses = _addresses(tree)
        if not addresses:
            raise ValueError(f"{path}: no soap:address element")
        self._template = self.source
        self._placeholder = addresses[0].get("location", "").encode()
        if not self._placeholder:
            raise ValueError(f"{path}: soap:address has no location")
        self._rendered: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def render(self, address: str) -> bytes:
        cached = self._rendered.get(address)
        if cached is not None:
            return cached
        body = self._template.replace(
            b'location="' + self._placeholder + b'"', b'location="' + _xml_attr(address) + b'"'
        )
        with self._lock:
            if len(self._rendered) >= self._CACHE_LIMIT:
                self._rendered.clear()
            self._rendered[address] = body
        return body


def _xml_attr(value: str) -> bytes:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    ).encode()


def canonical_contract(wsdl: bytes) -> bytes:
    """The WSDL reduced to what a client depends on: addresses blanked, C14N, no whitespace.

    Two WSDLs with the same canonical contract are interchangeable for any client.
    """
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    tree = etree.fromstring(wsdl, parser)
    for address in _addresses(tree):
        address.set("location", _PLACEHOLDER)
    # The order of top-level definitions (schema types, messages, port types) carries no
    # meaning, and spyne's varies between processes; the order inside a sequence does.
    for parent in [tree, *tree.iter("{http://www.w3.org/2001/XMLSchema}schema")]:
        children = sorted(parent, key=lambda e: (str(e.tag), str(e.get("name", ""))))
        parent[:] = children
    for element in tree.iter():
        if isinstance(element.tag, str) and element.tag.endswith("}documentation"):
            continue
        if element.text is not None and not element.text.strip():
            element.text = None
        if element.tail is not None and not element.tail.strip():
            element.tail = None
    return bytes(etree.tostring(tree, method="c14n2", strip_text=True))  # type: ignore[call-overload]


def generated_wsdl(application: object, address: str) -> bytes:
    """The WSDL spyne derives from the service code, pretty-printed (for freeze and drift checks)."""
    # A spyne Application learns its transport from the server that hosts it; set it as
    # the WSGI host would, or the binding says "noconn://null.spyne".
    application.transport = "http://schemas.xmlsoap.org/soap/http"  # type: ignore[attr-defined]
    wsdl = Wsdl11(application.interface)  # type: ignore[attr-defined]
    wsdl.build_interface_document(address)
    raw = wsdl.get_interface_document()
    tree = etree.fromstring(raw, etree.XMLParser(remove_blank_text=True))
    name_parts_parameters(tree)
    return etree.tostring(tree, pretty_print=True, xml_declaration=True, encoding="UTF-8")


def name_parts_parameters(tree: etree._Element) -> None:
    """Name the one part of each operation's input and output message ``parameters``.

    spyne names a part after its element (``<wsdl:part name="CheckPatient" element="tns:CheckPatient"/>``).
    The wire does not carry part names in document/literal, but client generators read them:
    .NET's wsdl.exe / svcutil unwrap an operation into ``CheckPatientResult CheckPatient(Patient)``
    only when the part is named ``parameters`` (what WCF and ASMX services emit), and otherwise
    give ``CheckPatientResponse CheckPatient(CheckPatient)``. The parameterOrder spyne writes on
    the portType operation names the part, so it follows (spyne writes no soap:body ``parts``).
    """
    wsdl = f"{{{_WSDL_NS}}}"
    renamed: dict[str, str] = {}   # message name -> the part's old name
    operation_messages = {
        _local(io.get("message", ""))
        for operation in tree.iter(f"{wsdl}operation")
        for io in operation
        if io.tag in (f"{wsdl}input", f"{wsdl}output")
    }
    for message in tree.iter(f"{wsdl}message"):
        parts = message.findall(f"{wsdl}part")
        if message.get("name") in operation_messages and len(parts) == 1 and parts[0].get("element"):
            renamed[str(message.get("name"))] = str(parts[0].get("name"))
            parts[0].set("name", PARAMETERS)
    for operation in tree.iter(f"{wsdl}operation"):
        order = operation.get("parameterOrder")
        source = operation.find(f"{wsdl}input")
        if order is not None and source is not None and _local(source.get("message", "")) in renamed:
            old = renamed[_local(source.get("message", ""))]
            operation.set("parameterOrder", " ".join(PARAMETERS if p == old else p for p in order.split()))


def _local(qname: str) -> str:
    return qname.rsplit(":", 1)[-1]
