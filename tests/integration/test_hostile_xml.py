"""Hostile and malformed XML on a SOAP face: a Client fault that says what is wrong, and the bridge serves on."""

from __future__ import annotations

import pytest

from tests.bridgeproc import BridgeProcess
from tests.conftest import make_patient
from tests.soapcall import call, envelope

ENV = b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
CORPUS = {
    "soap-1.2-envelope": (b'<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><x/>'
                          b"</env:Body></env:Envelope>", "VersionMismatch", "SOAP 1.1"),
    "two-bodies": (ENV + b"<soapenv:Body/><soapenv:Body/></soapenv:Envelope>", "Client.InvalidEnvelope", "Body"),
    "no-body": (ENV + b"</soapenv:Envelope>", "Client.InvalidEnvelope", "Body"),
    "wrong-namespace": (b'<Envelope xmlns="urn:not-soap"><Body/></Envelope>', "Client.SoapError", "SOAP 1.1"),
    "oversized": (ENV + b"<soapenv:Body>" + b"<a>x</a>" * 400_000 + b"</soapenv:Body></soapenv:Envelope>",
                  "Client.RequestTooLong", "размера"),
    "deeply-nested": (ENV + b"<soapenv:Body>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</soapenv:Body></soapenv:Envelope>",
                      "Client.XMLSyntaxError", "XML"),
    "invalid-utf8": (ENV + b"<soapenv:Body>\xff\xfe</soapenv:Body></soapenv:Envelope>", "Client.XMLSyntaxError", "XML"),
    "not-xml": (b"hello", "Client.XMLSyntaxError", "XML"),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_hostile_input_is_a_client_fault_and_the_bridge_serves_on(bridge: BridgeProcess, case: str) -> None:
    payload, code, words = CORPUS[case]
    answer = call(f"{bridge.url}/soap/esia-accounts", "CheckPatient", payload, soap_action='"CheckPatient"')
    assert answer.status == 500
    assert answer.faultcode == code, (answer.faultcode, answer.faultstring)
    assert words in answer.faultstring
    assert "Traceback" not in answer.body.decode(errors="replace")
    patient = make_patient()
    ok = call(f"{bridge.url}/soap/esia-accounts", "CheckPatient", envelope("CheckPatient", patient),
              soap_action='"CheckPatient"')
    assert ok.status == 200
