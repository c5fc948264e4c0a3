"""`bridge wsdl lint`: the contracts in wsdl/ keep every rule, and each rule fails on a WSDL that breaks it.

Each broken WSDL below is wsdl/esia-accounts.wsdl with one construct changed into what the WS-I
Basic Profile 1.1 excludes (the R number is named) or what the client generators cannot use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner

from bridge.cli._main import app
from bridge.soap import LINT_RULES, lint_contract
from tests.bridgeproc import ROOT

WSDL_DIR = ROOT / "wsdl"
GOOD = WSDL_DIR / "esia-accounts.wsdl"
W = "{http://schemas.xmlsoap.org/wsdl/}"
S = "{http://schemas.xmlsoap.org/wsdl/soap/}"
XS = "{http://www.w3.org/2001/XMLSchema}"
TNS = "urn:misbridge:esia:accounts:1"

Breakage = Callable[[etree._Element], None]


def one(root: etree._Element, path: str) -> etree._Element:
    found = root.find(path)
    assert found is not None, path
    return found


def schema(root: etree._Element) -> etree._Element:
    return one(root, f"{W}types/{XS}schema")


def operation(root: etree._Element, name: str, where: str = "portType") -> etree._Element:
    return one(root, f"{W}{where}/{W}operation[@name='{name}']")


def part(root: etree._Element, message: str) -> etree._Element:
    return one(root, f"{W}message[@name='{message}']/{W}part")


def prepend(parent: etree._Element, xml: str) -> None:
    parent.insert(0, etree.fromstring(xml))


def wsdl_import(root: etree._Element) -> None:
    prepend(root, f'<wsdl:import xmlns:wsdl="{W[1:-1]}" namespace="urn:x" location="other.wsdl"/>')


def xs_include(root: etree._Element) -> None:
    prepend(schema(root), f'<xs:include xmlns:xs="{XS[1:-1]}" schemaLocation="types.xsd"/>')


def xs_import_located(root: etree._Element) -> None:
    prepend(schema(root), f'<xs:import xmlns:xs="{XS[1:-1]}" namespace="urn:x" schemaLocation="x.xsd"/>')


def xs_import_elsewhere(root: etree._Element) -> None:
    prepend(schema(root), f'<xs:import xmlns:xs="{XS[1:-1]}" namespace="urn:defined-nowhere-here"/>')


def soap12_binding(root: etree._Element) -> None:
    binding = one(root, f"{W}binding/{S}binding")
    binding.tag = "{http://schemas.xmlsoap.org/wsdl/soap12/}binding"


def rpc_style(root: etree._Element) -> None:
    one(root, f"{W}binding/{S}binding").set("style", "rpc")


def encoded_body(root: etree._Element) -> None:
    body = one(operation(root, "CheckPatient", "binding"), f"{W}input/{S}body")
    body.set("use", "encoded")
    body.set("encodingStyle", "http://schemas.xmlsoap.org/soap/encoding/")


def other_transport(root: etree._Element) -> None:
    one(root, f"{W}binding/{S}binding").set("transport", "http://www.example.org/smtp")


def unqualified(root: etree._Element) -> None:
    del schema(root).attrib["elementFormDefault"]


def overloaded_operation(root: etree._Element) -> None:
    port_type = one(root, f"{W}portType")
    port_type.append(etree.fromstring(etree.tostring(operation(root, "CheckPatient"))))


def duplicate_element(root: etree._Element) -> None:
    schema(root).append(etree.fromstring(f'<xs:element xmlns:xs="{XS[1:-1]}" name="Patient" type="xs:string"/>'))


def same_body_element(root: etree._Element) -> None:
    part(root, "RegisterPatient").set("element", "tns:CheckPatient")   # R2710: two operations, one wire signature


def part_names_a_type(root: etree._Element) -> None:
    found = part(root, "CheckPatient")
    del found.attrib["element"]
    found.set("type", "tns:CheckPatient")


def two_body_parts(root: etree._Element) -> None:
    message = one(root, f"{W}message[@name='CheckPatient']")
    message.append(etree.fromstring(f'<wsdl:part xmlns:wsdl="{W[1:-1]}" xmlns:tns="{TNS}" name="more" '
                                    'element="tns:Patient"/>'))


def body_namespace(root: etree._Element) -> None:
    one(operation(root, "CheckPatient", "binding"), f"{W}input/{S}body").set("namespace", TNS)


def soapenc_array(root: etree._Element) -> None:
    # soap11enc: the prefix the contract's root element binds to the SOAP encoding
    schema(root).append(etree.fromstring(
        f'<xs:complexType xmlns:xs="{XS[1:-1]}" name="Patients"><xs:complexContent>'
        '<xs:restriction base="soap11enc:Array"/></xs:complexContent></xs:complexType>'))


def types_last(root: etree._Element) -> None:
    root.append(one(root, f"{W}types"))


def notification(root: etree._Element) -> None:
    found = operation(root, "CheckPatient")
    found.remove(one(found, f"{W}input"))


def unbound_operation(root: etree._Element) -> None:
    binding = one(root, f"{W}binding")
    binding.remove(operation(root, "ResetPassword", "binding"))


def part_named_after_element(root: etree._Element) -> None:
    part(root, "CheckPatientResponse").set("name", "CheckPatientResponse")


def input_not_named_after_operation(root: etree._Element) -> None:
    part(root, "CheckPatient").set("element", "tns:Patient")


BREAKAGES: dict[str, tuple[Breakage, set[str]]] = {
    "wsdl:import": (wsdl_import, {"one-file"}),
    "xs:include": (xs_include, {"one-file"}),
    "xs:import with schemaLocation": (xs_import_located, {"one-file"}),
    "xs:import of a namespace not here": (xs_import_elsewhere, {"one-file"}),
    "SOAP 1.2 binding": (soap12_binding, {"soap11-document-literal"}),
    "rpc style": (rpc_style, {"soap11-document-literal"}),
    "use=encoded": (encoded_body, {"soap11-document-literal"}),
    "not SOAP over HTTP": (other_transport, {"soap11-document-literal"}),
    "unqualified local elements": (unqualified, {"qualified-elements"}),
    "overloaded operation": (overloaded_operation, {"unique-names"}),
    "element declared twice": (duplicate_element, {"unique-names"}),
    "two operations, one body element": (same_body_element, {"unique-names", "wrapped-parameters"}),
    "part names a type": (part_names_a_type, {"ws-i-profile", "wrapped-parameters"}),
    "two body parts": (two_body_parts, {"ws-i-profile", "wrapped-parameters"}),
    "soap:body namespace": (body_namespace, {"ws-i-profile"}),
    "soapenc:Array": (soapenc_array, {"ws-i-profile"}),
    "wsdl:types last": (types_last, {"ws-i-profile"}),
    "notification operation": (notification, {"ws-i-profile", "wrapped-parameters"}),
    "operation not bound": (unbound_operation, {"ws-i-profile"}),
    "part named after its element": (part_named_after_element, {"wrapped-parameters"}),
    "input element not named after the operation": (input_not_named_after_operation, {"wrapped-parameters"}),
}


def broken(breakage: Breakage) -> bytes:
    root = etree.fromstring(GOOD.read_bytes())
    breakage(root)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def test_every_contract_in_wsdl_keeps_the_rules() -> None:
    contracts = sorted(WSDL_DIR.glob("*.wsdl"))
    assert {p.name for p in contracts} >= {"egisz-attachments.wsdl", "esia-accounts.wsdl", "esia-login.wsdl",
                                           "hubservice.wsdl", "max-tmk.wsdl"}
    for path in contracts:
        assert [str(f) for f in lint_contract(path.read_bytes())] == [], path.name


@pytest.mark.parametrize("case", list(BREAKAGES))
def test_each_rule_fails_on_a_wsdl_that_breaks_it(case: str) -> None:
    breakage, rules = BREAKAGES[case]
    findings = lint_contract(broken(breakage))
    assert {f.rule for f in findings} == rules, [str(f) for f in findings]
    assert all(f.subject and f.reason for f in findings)


def test_every_rule_is_shown_failing() -> None:
    shown = {rule for _, rules in BREAKAGES.values() for rule in rules} | {"well-formed"}
    assert shown == set(LINT_RULES)


def test_not_a_wsdl_is_said_so() -> None:
    assert [f.rule for f in lint_contract(b"<definitions><oops></definitions>")] == ["well-formed"]
    assert [f.rule for f in lint_contract(b"<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'/>")] == [
        "well-formed"]


def test_the_findings_name_what_to_fix() -> None:
    [finding, _] = lint_contract(broken(part_named_after_element)) + lint_contract(broken(wsdl_import))
    assert str(finding) == ("wrapped-parameters: wsdl:portType EsiaAccounts operation CheckPatient: output message "
                            "CheckPatientResponse has parts ['CheckPatientResponse'], not one named 'parameters'")


def test_the_command_lints_wsdl_dir_and_fails_on_a_broken_file(tmp_path: Path) -> None:
    runner = CliRunner()
    passed = runner.invoke(app, ["wsdl", "lint"])
    assert passed.exit_code == 0, passed.output
    assert f"{len(list(WSDL_DIR.glob('*.wsdl')))} contract(s) keep the rules" in passed.output
    bad = tmp_path / "bad.wsdl"
    bad.write_bytes(broken(unqualified))
    failed = runner.invoke(app, ["wsdl", "lint", str(GOOD), str(bad)])
    assert failed.exit_code == 1
    assert f"{bad}: qualified-elements: xs:schema {TNS}:" in failed.output
    assert str(GOOD) not in failed.output
