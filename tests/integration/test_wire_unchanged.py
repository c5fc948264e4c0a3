"""Naming the message parts "parameters" changed the contract, not the wire.

tests/interop/recorded/ holds what each foreign client of the suite (zeep, suds, PHP's SoapClient,
node's soap) sent telling seed 000's story with the contract as it was, its parts named after their
elements (recorded by ``python -m tests.soaprecorder``, see each file's ``recorded_with``). Three proofs:

* replayed byte for byte (only the patient's identifiers made fresh) against today's bridge, the
  recorded requests are read and answered by today's rules (over СМЭВ, register now needs a passport:
  the steps that fault for it are said in AS_RECORDED), and with the passport fields added they tell
  the story again;
* the same clients, given today's WSDL, send the same requests as recorded (compared as the server reads
  them: names, namespaces, attributes, text; the patient's identifiers mapped back);
* the .NET client, which came with today's WSDL and has no recording of its own, sends the bodies
  zeep recorded (an optional element it sends as xsi:nil taken as absent).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from lxml import etree

from tests.bridgeproc import BridgeProcess
from tests.integration.test_foreign_clients import CLIENTS, RECORDED_CLIENTS, SERVICE, flow_input
from tests.soaprecorder import RECORDED, SoapRecorder, with_passport

STEPS = ("check_new", "check_bad_snils", "register_without_phone", "register",
         "check_changed", "update", "check_updated", "reset")


def recording(client: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / f"{client}.json").read_text(encoding="utf-8"))
    assert [r["soapaction"].strip('"') for r in data["requests"]] == [
        "CheckPatient", "CheckPatient", "RegisterPatient", "RegisterPatient",
        "CheckPatient", "UpdatePatient", "CheckPatient", "ResetPassword"]
    return data


def identifiers(flow: dict[str, Any]) -> list[str]:
    """The values that make a story's patient its own (names and birth dates are the same in every flow)."""
    patient = flow["patient"]
    return [patient["Snils"], flow["badSnils"], patient["MisPatientId"], patient["MobilePhone"]]


def swap(body: str, old: dict[str, Any], new: dict[str, Any]) -> str:
    for before, after in zip(identifiers(old), identifiers(new), strict=True):
        body = body.replace(before, after)
    return body


def canonical(body: str) -> list[tuple[int, str, list[tuple[str, str]], str]]:
    """The message as a server reads it: each element's depth, {namespace}name, attributes and text.

    Namespace prefixes are left out: they are the client's choice, and suds numbers its ``ns0``/``ns1``
    differently from one run to the next.
    """
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(body.encode("utf-8"), parser)
    depth = {root: 0}
    items = []
    for element in root.iter():
        if element is not root:
            depth[element] = depth[element.getparent()] + 1
        items.append((depth[element], str(element.tag), sorted(element.attrib.items()), (element.text or "").strip()))
    return items


def answer(response: httpx.Response, path: str) -> str | None:
    found = etree.fromstring(response.content).xpath(path)
    return str(found[0]) if isinstance(found, list) and found else None


# What each recorded step gets today, ЕСИА being reached over СМЭВ 3 (docs/esia-accounts.md): 200 and the
# CheckPatient Result, or a Client fault (its code's last part) and words of its text. As recorded (no
# document), RegisterPatient is refused for the passport, so no account is made and update/reset find none;
# with the passport added (tests.soaprecorder.with_passport) register and reset succeed, and the re-check
# with another birth date is a MATCH (find_account confirms only the phone), so there is nothing to update.
AS_RECORDED = {
    "check_new": ("200", "NOT_FOUND"), "check_bad_snils": ("Client.InvalidField", "Snils"),
    "register_without_phone": ("Client.InvalidField", "MobilePhone"),
    "register": ("Client.InvalidField", "PassportNumber"), "check_changed": ("200", "NOT_FOUND"),
    "update": ("Client.RuleViolation", "не найдена"), "check_updated": ("200", "NOT_FOUND"),
    "reset": ("Client.RuleViolation", "не найдена"),
}
WITH_PASSPORT = {
    **AS_RECORDED, "register": ("200", None), "check_changed": ("200", "MATCH"),
    "update": ("Client.RuleViolation", "совпадают"), "check_updated": ("200", "MATCH"), "reset": ("200", None),
}


def judge(step: str, response: httpx.Response, expected: tuple[str, str | None]) -> None:
    where = f"{step}: HTTP {response.status_code} {response.text[:600]}"
    code, said = expected
    if code != "200":
        assert response.status_code == 500, where
        faultcode = answer(response, "//*[local-name()='Fault']/faultcode/text()")
        assert faultcode is not None and faultcode.rsplit(":", 1)[-1] == code, where
        text = answer(response, "//*[local-name()='Fault']/faultstring/text()") or ""
        assert said is not None and said in text, where
        return
    assert response.status_code == 200, where
    if said is not None:
        assert answer(response, "//*[local-name()='Result']/text()") == said, where
    if step in ("register", "reset"):   # the password went to the patient's phone, not to the МИС
        assert answer(response, "//*[local-name()='Message']/text()"), where


def test_every_foreign_client_has_a_recording() -> None:
    assert sorted(p.stem for p in RECORDED.glob("*.json")) == sorted(RECORDED_CLIENTS)
    for client in RECORDED_CLIENTS:
        assert "named after their elements" in recording(client)["recorded_with"]


@pytest.mark.parametrize("passport", [False, True], ids=["as-recorded", "with-passport"])
@pytest.mark.parametrize("client", RECORDED_CLIENTS)
def test_recorded_requests_replay_against_todays_contract(bridge: BridgeProcess, client: str, passport: bool) -> None:
    recorded = recording(client)
    flow = flow_input()
    expected = WITH_PASSPORT if passport else AS_RECORDED
    with httpx.Client(timeout=30) as http:
        for step, request in zip(STEPS, recorded["requests"], strict=True):
            headers = {"Content-Type": request["content_type"]}
            if request["soapaction"] is not None:
                headers["SOAPAction"] = request["soapaction"]
            body = swap(request["body"], recorded["flow"], flow)
            body = with_passport(body, flow["patient"]["Snils"][3:9]) if passport else body  # a passport per story
            judge(step, http.post(bridge.url + request["path"], content=body.encode("utf-8"), headers=headers),
                  expected[step])


@pytest.mark.parametrize("client", RECORDED_CLIENTS)
def test_clients_send_the_recorded_requests_with_todays_contract(bridge: BridgeProcess, client: str) -> None:
    served = httpx.get(bridge.wsdl_url(SERVICE), timeout=10).text
    assert 'name="parameters"' in served   # today's contract, not the recorded one's
    recorded = recording(client)
    flow = flow_input()
    with SoapRecorder(bridge.url) as recorder:
        CLIENTS[client](recorder.wsdl_url(SERVICE), flow)
    sent = recorder.requests
    assert len(sent) == len(recorded["requests"]), [r.soapaction for r in sent]
    for step, now, then in zip(STEPS, sent, recorded["requests"], strict=True):
        assert (now.path, now.soapaction, now.content_type) == (then["path"], then["soapaction"],
                                                                then["content_type"]), step
        assert canonical(swap(now.body, flow, recorded["flow"])) == canonical(then["body"]), (
            f"{client} {step}:\nnow:  {now.body}\nthen: {then['body']}")


def test_a_changed_wire_would_be_seen() -> None:
    """The comparison above is not blind: one element renamed, or moved to another namespace, is seen."""
    then = recording("zeep")["requests"][0]["body"]
    assert canonical(then.replace("MobilePhone>", "Phone>")) != canonical(then)
    assert canonical(then.replace('xmlns:ns0="urn:misbridge:esia:accounts:1"',
                                  'xmlns:ns0="urn:misbridge:esia:accounts:2"')) != canonical(then)
    assert canonical(then.replace("ns0:", "n:").replace("xmlns:ns0", "xmlns:n")) == canonical(then)


def body_without_nils(envelope: str) -> list[tuple[int, str, list[tuple[str, str]], str]]:
    """The Body as the server reads it, an element sent as xsi:nil taken as absent (both mean "not given")."""
    root = etree.fromstring(envelope.encode("utf-8"))
    body = root.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    assert body is not None
    for nil in body.xpath(".//*[@xsi:nil='true']", namespaces={"xsi": "http://www.w3.org/2001/XMLSchema-instance"}):
        nil.getparent().remove(nil)
    return canonical(etree.tostring(body).decode("utf-8"))


def test_the_dotnet_client_sends_the_bodies_the_others_sent(bridge: BridgeProcess) -> None:
    recorded = recording("zeep")
    flow = flow_input()
    with SoapRecorder(bridge.url) as recorder:
        CLIENTS["mono-wsdl"](recorder.wsdl_url(SERVICE), flow)
    assert len(recorder.requests) == len(recorded["requests"])
    for step, now, then in zip(STEPS, recorder.requests, recorded["requests"], strict=True):
        assert (now.path, now.soapaction) == (then["path"], then["soapaction"]), step
        assert body_without_nils(swap(now.body, flow, recorded["flow"])) == body_without_nils(then["body"]), (
            f"mono {step}:\nnow:  {now.body}\nzeep: {then['body']}")
