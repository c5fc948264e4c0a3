"""The benchmark's ceiling (bench/_ceiling.py) answers exactly as the bridge does.

bench_check_patient.py prints bridge ÷ ceiling; the ratio means something only if the ceiling does
the same work and gives the same answers. The same requests go to the bridge (spyne serialising
the answer) and to the ceiling, both over the same sandbox СМЭВ node with ЕСИА's reg_service behind it
(answer delay 0); their answers must be equal as canonical XML (C14N 2.0) with the same HTTP status.
Not timed: CI time is unchanged.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lxml import etree

from bridge.mapping import load_mapping
from tests.bridgeproc import ROOT, BridgeProcess, free_port
from tests.conftest import make_patient
from tests.soapcall import SoapAnswer, call, envelope

XSI = b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
ACCOUNT_FIELDS = ("snils", "lastName", "firstName", "middleName", "birthDate", "gender", "mobile")


@pytest.fixture(scope="module")
def ceiling(bridge: BridgeProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """bench/_ceiling.py as the benchmark runs it, pointed at the bridge's own sandbox СМЭВ node
    (its own key registered there), with the reg_service answering at once."""
    esia = bridge.sandbox_urls["esia"]
    before = httpx.get(f"{esia}/_sandbox/reg-service", timeout=10).json()
    httpx.put(f"{esia}/_sandbox/reg-service", json={**before, "delay_seconds": 0}, timeout=10).raise_for_status()
    node_certificate = next(bridge.log_path.parent.glob("**/smev-node/client-cert.pem"))
    port = free_port()
    log = tmp_path_factory.mktemp("ceiling") / "ceiling.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "_ceiling.py"), "--port", str(port),
             "--smev", bridge.sandbox_urls["smev"] + "/smev/v1.2/ws", "--smev-certificate", str(node_certificate),
             "--signer", "python"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/soap/esia-accounts"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        httpx.put(f"{esia}/_sandbox/reg-service", json=before, timeout=10)


def _both(bridge: BridgeProcess, ceiling: str, body: bytes) -> tuple[SoapAnswer, SoapAnswer]:
    served = call(f"{bridge.url}/soap/esia-accounts", "CheckPatient", body, soap_action='"CheckPatient"')
    lean = call(ceiling, "CheckPatient", body, soap_action='"CheckPatient"')
    return served, lean


def _canonical(answer: SoapAnswer) -> bytes:
    return bytes(etree.tostring(etree.fromstring(answer.body), method="c14n2"))


def _assert_same(bridge: BridgeProcess, ceiling: str, body: bytes, expected: str) -> None:
    served, lean = _both(bridge, ceiling, body)
    assert expected.encode() in served.body, served.body.decode()
    assert lean.status == served.status
    assert _canonical(lean) == _canonical(served)


def _seed(bridge: BridgeProcess, patient: dict[str, Any]) -> None:
    person = load_mapping(ROOT / "mappings" / "esia" / "account.yaml").to_upstream(patient)
    account = {k: person[k] for k in ACCOUNT_FIELDS if k in person}
    httpx.post(f"{bridge.sandbox_urls['esia']}/_sandbox/accounts", json=account, timeout=10).raise_for_status()


def _node_counts(bridge: BridgeProcess) -> dict[str, int]:
    stats = httpx.get(f"{bridge.sandbox_urls['smev']}/_sandbox/smev/stats", timeout=10).json()
    counts: dict[str, int] = stats["counts"]
    return counts


def test_the_ceiling_answers_not_found_match_and_mismatch_as_the_bridge(bridge: BridgeProcess, ceiling: str) -> None:
    before = _node_counts(bridge)
    patient = make_patient()
    _assert_same(bridge, ceiling, envelope("CheckPatient", patient), "<tns:Result>NOT_FOUND<")
    _seed(bridge, patient)
    _assert_same(bridge, ceiling, envelope("CheckPatient", patient), "<tns:Result>MATCH<")
    padded = {**patient, "LastName": f"  {patient['LastName'].upper()} ", "FirstName": "Ольга"}
    _assert_same(bridge, ceiling, envelope("CheckPatient", padded), "<tns:Result>MATCH<")
    other = {**patient, "MobilePhone": "89160000000", "BirthDate": "18.08.1979", "MiddleName": "Петровна-Д'Арк"}
    _assert_same(bridge, ceiling, envelope("CheckPatient", other), "<tns:Result>MISMATCH<")
    without = {k: v for k, v in patient.items() if k not in ("MiddleName", "MobilePhone", "Gender")}
    _assert_same(bridge, ceiling, envelope("CheckPatient", without), "<tns:Result>MATCH<")
    nil = envelope("CheckPatient", {k: v for k, v in patient.items() if k != "MiddleName"})
    nil = nil.replace(b"<t:BirthDate>", b'<t:MiddleName xsi:nil="true"/><t:BirthDate>')
    _assert_same(bridge, ceiling, nil.replace(b"<soapenv:Envelope", b"<soapenv:Envelope" + XSI, 1),
                 "<tns:Result>MATCH<")
    after = _node_counts(bridge)
    # both went over СМЭВ for every one of the 6 checks: a SendRequest each, every answer acknowledged
    assert after.get("SendRequest", 0) - before.get("SendRequest", 0) >= 12
    assert after.get("Ack", 0) - before.get("Ack", 0) >= 12


def test_the_ceiling_refuses_what_the_bridge_refuses(bridge: BridgeProcess, ceiling: str) -> None:
    # the adapter's rules and the mapping's checks: the same fault, text included
    for bad in ({"Snils": "11223344500"}, {"BirthDate": "31.02.1980"}, {"MobilePhone": "+7916"},
                {"LastName": "R2-D2"}, {"MisPatientId": "x" * 65}):
        _assert_same(bridge, ceiling, envelope("CheckPatient", make_patient(**bad)), "Client.InvalidField")
    # what the XSD requires: the same fault code (the bridge words lxml's message in Russian)
    patient = make_patient()
    cases = [
        envelope("CheckPatient", {k: v for k, v in patient.items() if k != "Snils"}),
        envelope("CheckPatient", patient).replace(b"<t:Snils>", b"<t:Extra>1</t:Extra><t:Snils>"),
        envelope("CheckPatient", patient).replace(b"<t:LastName>", b'<t:LastName xsi:nil="true"/><t:X>', 1)
        .replace(b"</t:LastName>", b"</t:X>", 1).replace(b"<soapenv:Envelope", b"<soapenv:Envelope" + XSI, 1),
    ]
    for body in cases:
        served, lean = _both(bridge, ceiling, body)
        assert (served.status, served.faultcode) == (500, "Client.SchemaValidationError"), served.body.decode()
        assert (lean.status, lean.faultcode) == (served.status, served.faultcode)
    served, lean = _both(bridge, ceiling, b"<not-xml")
    assert (lean.status, lean.faultcode) == (served.status, served.faultcode) == (500, "Client.XMLSyntaxError")


def test_the_ceiling_bounds_the_body_as_the_bridge_does(bridge: BridgeProcess, ceiling: str) -> None:
    body = envelope("CheckPatient", make_patient(MisPatientId="M" * (2 * 1024 * 1024)))
    served, lean = _both(bridge, ceiling, body)
    assert (lean.status, lean.faultcode) == (served.status, served.faultcode) == (500, "Client.RequestTooLong")

