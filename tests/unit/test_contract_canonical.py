"""What counts as the same contract: definition order no, element order yes."""

from __future__ import annotations

from bridge.soap import canonical_contract

WSDL = """<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
  xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/">
 <wsdl:types><xs:schema>{types}</xs:schema></wsdl:types>
 <wsdl:service name="S"><wsdl:port name="P"><soap:address location="{address}"/></wsdl:port></wsdl:service>
</wsdl:definitions>"""
A = '<xs:simpleType name="A"/>'
B = '<xs:simpleType name="B"/>'
SEQ = (
    '<xs:complexType name="C"><xs:sequence><xs:element name="{0}"/><xs:element name="{1}"/>'
    "</xs:sequence></xs:complexType>"
)


def contract(types: str, address: str = "http://a/soap/x") -> bytes:
    return canonical_contract(WSDL.format(types=types, address=address).encode())


def test_definition_order_and_address_do_not_matter() -> None:
    assert contract(A + B) == contract(B + A, address="https://elsewhere/soap/x")


def test_element_order_in_a_sequence_matters() -> None:
    assert contract(SEQ.format("X", "Y")) != contract(SEQ.format("Y", "X"))
