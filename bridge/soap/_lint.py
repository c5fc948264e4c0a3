"""Rules that keep a WSDL consumable by the strict client stacks a МИС is built with.

1C's WS-references, .NET's wsdl.exe / svcutil and Java's wsimport each take one URL and generate
a client from what they find there. What they agree on is, roughly, the WS-I Basic Profile 1.1
(http://www.ws-i.org/Profiles/BasicProfile-1.1.html; the R numbers below are its requirements)
plus the "wrapped" convention of document/literal services. ``lint_contract`` checks a WSDL's
bytes against these rules; ``bridge wsdl lint`` runs it over wsdl/ (docs/soap-contracts.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP11 = "http://schemas.xmlsoap.org/wsdl/soap/"
XS = "http://www.w3.org/2001/XMLSchema"
SOAP_ENCODING = "http://schemas.xmlsoap.org/soap/encoding/"
SOAP_OVER_HTTP = "http://schemas.xmlsoap.org/soap/http"

RULES: dict[str, str] = {
    "well-formed": "well-formed XML whose root is WSDL 1.1 wsdl:definitions",
    "one-file": "everything in one file: no wsdl:import, xs:include, xs:redefine, no xs:import with a "
                "schemaLocation or of a namespace no schema here defines (1C and wsdl.exe are given one URL)",
    "soap11-document-literal": "every binding is SOAP 1.1 over HTTP (R2401, R2702), style document, "
                               "use literal without encodingStyle (R2706)",
    "qualified-elements": 'every schema has elementFormDefault="qualified" (local elements in the '
                          "service's namespace, as every generator expects of document/literal)",
    "unique-names": "unique operation names in a portType (R2304: no overloading), unique messages, "
                    "portTypes, bindings, global elements and types, and a different body element "
                    "for each operation of a binding (R2710)",
    "ws-i-profile": "no construct the Basic Profile excludes: parts that name a type (R2204), more than "
                    "one body part (R2201, R2210), soap:body namespace (R2716), notification and "
                    "solicit-response operations (R2303), soapenc:Array / wsdl:arrayType (R2110, "
                    "R2111), wsdl:types after other definitions (R2023), a binding whose operations "
                    "are not its portType's (R2718)",
    "wrapped-parameters": "each operation's input and output message has one part named "
                          "'parameters', and the input element is named after the operation: "
                          ".NET's tools unwrap only then, JAX-WS's wrapper style needs the latter",
}


@dataclass(frozen=True, order=True)
class LintFinding:
    """One broken rule: which, where in the contract, and why."""

    rule: str
    subject: str
    reason: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.subject}: {self.reason}"


def lint_contract(source: bytes) -> list[LintFinding]:
    """Every rule of ``RULES`` the WSDL breaks, sorted; empty for a consumable contract."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(source, parser)
    except etree.XMLSyntaxError as exc:
        return [LintFinding("well-formed", "document", f"not well-formed XML: {exc}")]
    if root.tag != f"{{{WSDL}}}definitions":
        return [LintFinding("well-formed", "document", f"not a WSDL 1.1 document: <{root.tag}>")]
    contract = _Contract(root)
    findings = [
        *_one_file(contract), *_soap11_document_literal(contract), *_qualified_elements(contract),
        *_unique_names(contract), *_ws_i_profile(contract), *_wrapped_parameters(contract),
    ]
    return sorted(set(findings))


class _Contract:
    """The parsed definitions with their QName references resolved."""

    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self.schemas = [s for s in root.iterfind(f"{{{WSDL}}}types/{{{XS}}}schema")]
        self.messages = {m.get("name", ""): m for m in root.iterfind(f"{{{WSDL}}}message")}
        self.port_types = {p.get("name", ""): p for p in root.iterfind(f"{{{WSDL}}}portType")}
        self.bindings = list(root.iterfind(f"{{{WSDL}}}binding"))

    def operations(self) -> Iterator[tuple[str, etree._Element]]:
        for name, port_type in self.port_types.items():
            for operation in port_type.iterfind(f"{{{WSDL}}}operation"):
                yield name, operation

    def message_of(self, element: etree._Element | None) -> etree._Element | None:
        if element is None:
            return None
        return self.messages.get(_qname(element, element.get("message", ""))[1])

    def parts(self, message: etree._Element | None) -> list[etree._Element]:
        return [] if message is None else list(message.iterfind(f"{{{WSDL}}}part"))


def _qname(element: etree._Element, value: str) -> tuple[str, str]:
    prefix, _, local = value.rpartition(":")
    return str(element.nsmap.get(prefix or None, "")), local


def _one_file(contract: _Contract) -> Iterator[LintFinding]:
    root = contract.root
    defined = {schema.get("targetNamespace", "") for schema in contract.schemas}
    for imported in root.iter(f"{{{WSDL}}}import"):
        yield LintFinding("one-file", f"wsdl:import {imported.get('namespace', '')}",
                          f"imports {imported.get('location', 'another document')}")
    for kind in ("include", "redefine"):
        for element in root.iter(f"{{{XS}}}{kind}"):
            yield LintFinding("one-file", f"xs:{kind}", f"pulls in {element.get('schemaLocation', 'another schema')}")
    for element in root.iter(f"{{{XS}}}import"):
        namespace = element.get("namespace", "")
        if element.get("schemaLocation"):
            yield LintFinding("one-file", f"xs:import {namespace}", f"loads {element.get('schemaLocation')}")
        elif namespace not in defined and namespace != XS:
            yield LintFinding("one-file", f"xs:import {namespace}", "no schema in this file defines that namespace")


def _soap11_document_literal(contract: _Contract) -> Iterator[LintFinding]:
    if not contract.bindings:
        yield LintFinding("soap11-document-literal", "wsdl:definitions", "no wsdl:binding")
    for binding in contract.bindings:
        where = f"wsdl:binding {binding.get('name')}"
        soap = binding.find(f"{{{SOAP11}}}binding")
        if soap is None:
            kinds = [str(c.tag) for c in binding if isinstance(c.tag, str) and not c.tag.startswith(f"{{{WSDL}}}")]
            other = kinds[0] if kinds else "nothing"
            yield LintFinding("soap11-document-literal", where, f"not a SOAP 1.1 binding (has {other})")
            continue
        if soap.get("transport") != SOAP_OVER_HTTP:
            yield LintFinding("soap11-document-literal", where,
                              f"transport {soap.get('transport')!r}, not SOAP over HTTP")
        if soap.get("style", "document") != "document":
            yield LintFinding("soap11-document-literal", where, f"style {soap.get('style')!r}, not document")
        for operation in binding.iterfind(f"{{{WSDL}}}operation"):
            here = f"{where} operation {operation.get('name')}"
            soap_operation = operation.find(f"{{{SOAP11}}}operation")
            if soap_operation is not None and soap_operation.get("style", "document") != "document":
                yield LintFinding("soap11-document-literal", here, f"style {soap_operation.get('style')!r}")
            for kind in ("body", "header", "fault", "headerfault"):
                for element in operation.iter(f"{{{SOAP11}}}{kind}"):
                    if element.get("use") != "literal":
                        yield LintFinding("soap11-document-literal", here, f"soap:{kind} use={element.get('use')!r}")
                    if element.get("encodingStyle") is not None:
                        yield LintFinding("soap11-document-literal", here, f"soap:{kind} has an encodingStyle")


def _qualified_elements(contract: _Contract) -> Iterator[LintFinding]:
    for schema in contract.schemas:
        if schema.get("elementFormDefault") != "qualified":
            yield LintFinding("qualified-elements", f"xs:schema {schema.get('targetNamespace', '(no namespace)')}",
                              f"elementFormDefault={schema.get('elementFormDefault', '(absent: unqualified)')!r}")


def _duplicates(names: list[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)


def _unique_names(contract: _Contract) -> Iterator[LintFinding]:
    root = contract.root
    for kind in ("message", "portType", "binding"):
        for name in _duplicates([e.get("name", "") for e in root.iterfind(f"{{{WSDL}}}{kind}")]):
            yield LintFinding("unique-names", f"wsdl:{kind} {name}", "defined more than once")
    for port_type, element in contract.port_types.items():
        operations = [o.get("name", "") for o in element.iterfind(f"{{{WSDL}}}operation")]
        for name in _duplicates(operations):
            yield LintFinding("unique-names", f"wsdl:portType {port_type} operation {name}", "overloaded (R2304)")
    for schema in contract.schemas:
        namespace = schema.get("targetNamespace", "")
        elements = [e.get("name", "") for e in schema.iterfind(f"{{{XS}}}element")]
        types = [e.get("name", "") for tag in ("complexType", "simpleType") for e in schema.iterfind(f"{{{XS}}}{tag}")]
        for name in _duplicates(elements):
            yield LintFinding("unique-names", f"xs:element {{{namespace}}}{name}", "declared more than once")
        for name in _duplicates(types):
            yield LintFinding("unique-names", f"xs type {{{namespace}}}{name}", "defined more than once")
    for binding in contract.bindings:
        bound_type = contract.port_types.get(_qname(binding, binding.get("type", ""))[1])
        if bound_type is None:
            continue
        bodies: dict[tuple[str, str], str] = {}
        for operation in bound_type.iterfind(f"{{{WSDL}}}operation"):
            for part in contract.parts(contract.message_of(operation.find(f"{{{WSDL}}}input")))[:1]:
                body = _qname(part, part.get("element", ""))
                if body in bodies:
                    yield LintFinding("unique-names", f"wsdl:binding {binding.get('name')}",
                                      f"operations {bodies[body]} and {operation.get('name')} both take "
                                      f"{{{body[0]}}}{body[1]} (R2710)")
                bodies.setdefault(body, str(operation.get("name")))


def _ws_i_profile(contract: _Contract) -> Iterator[LintFinding]:
    root = contract.root
    rule = "ws-i-profile"
    seen_other = False
    for child in root:
        if not isinstance(child.tag, str) or child.tag in (f"{{{WSDL}}}documentation", f"{{{WSDL}}}import"):
            continue
        if child.tag == f"{{{WSDL}}}types" and seen_other:
            yield LintFinding(rule, "wsdl:types", "comes after other definitions (R2023)")
        seen_other = True
    for port_type, operation in contract.operations():
        where = f"wsdl:portType {port_type} operation {operation.get('name')}"
        children = [c for c in operation if isinstance(c.tag, str) and c.tag != f"{{{WSDL}}}documentation"]
        if not children or children[0].tag != f"{{{WSDL}}}input":
            yield LintFinding(rule, where, "notification or solicit-response: no input first (R2303)")
        for io in ("input", "output"):
            message = contract.message_of(operation.find(f"{{{WSDL}}}{io}"))
            parts = contract.parts(message)
            if len(parts) > 1:
                yield LintFinding(rule, f"wsdl:message {message.get('name') if message is not None else ''}",
                                  f"{len(parts)} parts in a document/literal body (R2201, R2210)")
            for part in parts:
                if part.get("element") is None:
                    yield LintFinding(rule, f"wsdl:message {message.get('name') if message is not None else ''}",
                                      f"part {part.get('name')} names a type, not an element (R2204)")
    for element in root.iter(f"{{{SOAP11}}}body"):
        if element.get("namespace") is not None:
            yield LintFinding(rule, "soap:body", "has a namespace attribute in a document/literal binding (R2716)")
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if f"{{{WSDL}}}arrayType" in element.attrib:
            yield LintFinding(rule, element.get("name") or etree.QName(element).localname, "wsdl:arrayType (R2111)")
        for attribute in ("type", "base", "ref"):
            value = element.get(attribute)
            if value and _qname(element, value)[0] == SOAP_ENCODING:
                yield LintFinding(rule, element.get("name") or etree.QName(element).localname,
                                  f"{attribute}={value!r} from the SOAP encoding (R2110)")
    for binding in contract.bindings:
        bound_type = contract.port_types.get(_qname(binding, binding.get("type", ""))[1])
        bound = {o.get("name") for o in binding.iterfind(f"{{{WSDL}}}operation")}
        declared = set() if bound_type is None else {o.get("name") for o in bound_type.iterfind(f"{{{WSDL}}}operation")}
        if bound_type is None:
            yield LintFinding(rule, f"wsdl:binding {binding.get('name')}", f"no portType {binding.get('type')!r}")
        elif bound != declared:
            yield LintFinding(rule, f"wsdl:binding {binding.get('name')}",
                              f"operations {sorted(map(str, bound ^ declared))} are not in both it and its "
                              "portType (R2718)")


def _wrapped_parameters(contract: _Contract) -> Iterator[LintFinding]:
    for port_type, operation in contract.operations():
        name = operation.get("name", "")
        where = f"wsdl:portType {port_type} operation {name}"
        for io in ("input", "output"):
            message = contract.message_of(operation.find(f"{{{WSDL}}}{io}"))
            if message is None:
                if io == "input":
                    yield LintFinding("wrapped-parameters", where, "no input message")
                continue
            parts = contract.parts(message)
            if [p.get("name") for p in parts] != ["parameters"]:
                yield LintFinding("wrapped-parameters", where,
                                  f"{io} message {message.get('name')} has parts {[p.get('name') for p in parts]}, "
                                  "not one named 'parameters'")
            elif io == "input" and _qname(parts[0], parts[0].get("element", ""))[1] != name:
                yield LintFinding("wrapped-parameters", where,
                                  f"input element {parts[0].get('element')!r} is not named after the operation")
