"""Naming the message parts "parameters" changed the contract, not the wire.

tests/interop/recorded/ holds what each foreign client of the suite (zeep, suds, PHP's SoapClient,
node's soap) sent telling seed 000's story with a contract whose parts were named after their elements
(recorded by ``python -m tests.soaprecorder``, see each file's ``recorded_with``), twice:

* ``recorded/<client>.json``: with the contract as it was before the rename (commit 0f15b22), the
  REST-era story (no passport; the МИС changed the BirthDate). These are the original proof and stay.
* ``recorded/smev/<client>.json``: today's contract (passport fields) with its parts renamed after their
  elements again (``--parts-named-after-elements``), today's story (passport, the МИС changes the
  MobilePhone). Re-recorded when ЕСИА's accounts moved to СМЭВ 3: the old story cannot be told any more
  (no registration without a passport), and the clients below tell today's story.

The proofs:

* the old-contract requests, replayed byte for byte (only the patient's identifiers made fresh) against
  today's bridge, are all accepted and answered; where the operation means the same, the same answer;
  where the transport changed the answer, the new one is asserted, with its reason (``OLD_STORY``);
* today's story recorded with parts named after their elements replays with the story's answers;
* the same clients, given today's WSDL (parts named "parameters"), send the requests recorded with the
  parts named after their elements (compared as the server reads them: names, namespaces, attributes,
  text; the patient's identifiers mapped back);
* the .NET client, which came with today's WSDL and has no recording of its own, sends the bodies
  zeep recorded (an optional element it sends as xsi:nil taken as absent).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from tests.bridgeproc import BridgeProcess
from tests.integration.test_foreign_clients import (
    CLIENTS,
    NOT_TOLD,
    RECORDED_CLIENTS,
    SERVICE,
    SMS_SENT,
    flow_input,
    passport,
    start_story_bridge,
)
from tests.soapcall import call, envelope
from tests.soaprecorder import RECORDED, SoapRecorder

SMEV_RECORDED = RECORDED / "smev"
STEPS = ("check_new", "check_bad_snils", "register_without_phone", "register",
         "check_changed", "update", "check_updated", "reset")
OPERATIONS = ["CheckPatient", "CheckPatient", "RegisterPatient", "RegisterPatient",
              "CheckPatient", "UpdatePatient", "CheckPatient", "ResetPassword"]


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeProcess]:
    process = start_story_bridge(tmp_path_factory.mktemp("wire-unchanged"))
    yield process
    process.stop()


def recording(client: str, where: Path = SMEV_RECORDED) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((where / f"{client}.json").read_text(encoding="utf-8"))
    assert [r["soapaction"].strip('"') for r in data["requests"]] == OPERATIONS
    return data


def identifiers(flow: dict[str, Any]) -> dict[str, str]:
    """The values that make a story's patient its own (names and birth dates are the same in every flow)."""
    patient = flow["patient"]
    found = {"Snils": patient["Snils"], "badSnils": flow["badSnils"], "MisPatientId": patient["MisPatientId"],
             "MobilePhone": patient["MobilePhone"]}
    if "changedMobilePhone" in flow:
        found["changedMobilePhone"] = flow["changedMobilePhone"]
    if "PassportNumber" in patient:
        found["PassportNumber"] = patient["PassportNumber"]
    return found


def swap(body: str, old: dict[str, Any], new: dict[str, Any]) -> str:
    """``old``'s identifiers replaced by ``new``'s, as whole element texts (a number is never cut out of another)."""
    fresh = identifiers(new)
    for name, before in identifiers(old).items():
        body = body.replace(f">{before}<", f">{fresh[name]}<")
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


Expected = dict[str, Any]

# Today's story (recorded/smev): the answers tests/integration/test_foreign_clients.py judges.
SMEV_STORY: dict[str, Expected] = {
    "check_new": {"Result": "NOT_FOUND", "AllowedAction": ["REGISTER"]},
    "check_bad_snils": {"fault": "Client.InvalidField", "field": "Snils"},
    "register_without_phone": {"fault": "Client.InvalidField", "field": "MobilePhone"},
    "register": {"password_by_sms": True},
    "check_changed": {"Result": "MISMATCH", "AllowedAction": ["UPDATE"], "Field": ["MobilePhone"],
                      "EsiaValue": [NOT_TOLD]},
    "update": {"updated": True},
    "check_updated": {"Result": "MATCH", "AllowedAction": ["RESET_PASSWORD"]},
    "reset": {"password_by_sms": True},
}

# The REST-era story, recorded with the contract before the rename, replayed today. Each recorded body is
# accepted (no SchemaValidationError: the passport fields are optional) and answered:
OLD_STORY: dict[str, Expected] = {
    # the same answers as when recorded
    "check_new": SMEV_STORY["check_new"],
    "check_bad_snils": SMEV_STORY["check_bad_snils"],
    "register_without_phone": SMEV_STORY["register_without_phone"],
    # new: ЕСИА's register kind requires the identity document (element doc, minOccurs 1 in the published
    # XSD), and the recorded patient has no passport. The replay then registers the patient with a passport
    # itself (register_with_passport), as a МИС sending today's fields would, and goes on.
    "register": {"fault": "Client.InvalidField", "field": "PassportNumber"},
    # new: the recorded МИС changed the BirthDate; find_account reports no birth date (only by which
    # identifiers it found the account), so the bridge cannot see the change: MATCH, not MISMATCH.
    "check_changed": {"Result": "MATCH", "AllowedAction": ["RESET_PASSWORD"]},
    # new, following from the line above: nothing differs that the bridge can see, so the button is not
    # active (the seed's rule; was an update of the birth date over REST).
    "update": {"fault": "Client.RuleViolation", "field": "UpdatePatient"},
    "check_updated": SMEV_STORY["check_updated"],
    # new: a reset over СМЭВ (recover, mode mobile) sends the password by SMS; the answer carries none.
    "reset": SMEV_STORY["reset"],
}


def answer(response: httpx.Response, path: str) -> list[str]:
    found = etree.fromstring(response.content).xpath(path)
    return [str(f) for f in found] if isinstance(found, list) else []


def element(response: httpx.Response, name: str) -> list[str]:
    return answer(response, f"//*[local-name()='{name}']/text()")


def judge(step: str, expected: Expected, response: httpx.Response) -> None:
    where = f"{step}: HTTP {response.status_code} {response.text[:600]}"
    if "fault" in expected:
        assert response.status_code == 500, where
        [code] = answer(response, "//*[local-name()='Fault']/faultcode/text()") or [None]
        assert code is not None and code.rsplit(":", 1)[-1] == expected["fault"], where
        [string] = answer(response, "//*[local-name()='Fault']/faultstring/text()") or [""]
        assert string.startswith(expected["field"] + ":"), where
        return
    assert response.status_code == 200, where
    for name in ("Result", "AllowedAction", "Field", "EsiaValue"):
        if name in expected:
            wanted = expected[name] if isinstance(expected[name], list) else [expected[name]]
            assert element(response, name) == wanted, where
    if "Result" in expected and "Field" not in expected:
        assert element(response, "Field") == [], where
    if expected.get("password_by_sms"):
        # the element is there and empty: the contract keeps it; ЕСИА sent the password to the phone
        assert etree.fromstring(response.content).xpath("count(//*[local-name()='TemporaryPassword'])") == 1, where
        assert element(response, "TemporaryPassword") == [], where
        [message] = element(response, "Message") or [""]
        assert SMS_SENT in message, where
    if expected.get("updated"):
        assert answer(response, "//*[local-name()='UpdatePatientResult']/*[local-name()='Message']/text()"), where


def replay(bridge: BridgeProcess, recorded: dict[str, Any], flow: dict[str, Any],
           story: dict[str, Expected]) -> None:
    with httpx.Client(timeout=30) as http:
        for step, request in zip(STEPS, recorded["requests"], strict=True):
            headers = {"Content-Type": request["content_type"]}
            if request["soapaction"] is not None:
                headers["SOAPAction"] = request["soapaction"]
            body = swap(request["body"], recorded["flow"], flow).encode("utf-8")
            judge(step, story[step], http.post(bridge.url + request["path"], content=body, headers=headers))
            if step == "register" and story is OLD_STORY:
                register_with_passport(bridge, recorded["flow"], flow)


def register_with_passport(bridge: BridgeProcess, old: dict[str, Any], flow: dict[str, Any]) -> None:
    """The recorded patient (fresh identifiers) registered with a passport, so the old story can go on."""
    fresh = identifiers(flow)
    patient = {**old["patient"], **{name: fresh[name] for name in ("Snils", "MisPatientId", "MobilePhone")},
               **passport()}
    registered = call(f"{bridge.url}/soap/{SERVICE}", "RegisterPatient", envelope("RegisterPatient", patient),
                      soap_action='"RegisterPatient"')
    assert registered.status == 200, registered.body


def test_every_foreign_client_has_its_recordings() -> None:
    for where in (RECORDED, SMEV_RECORDED):
        assert sorted(p.stem for p in where.glob("*.json")) == sorted(RECORDED_CLIENTS), where
    for client in RECORDED_CLIENTS:
        old = recording(client, RECORDED)
        # the original proof: the contract before the rename, not re-recorded
        assert old["recorded_with"].startswith("wsdl/esia-accounts.wsdl of commit 0f15b22"), old["recorded_with"]
        assert "named after their elements" in old["recorded_with"]
        assert "PassportNumber" not in json.dumps(old["requests"])
        today = recording(client)
        assert "named after their elements" in today["recorded_with"]
        assert "PassportNumber" in json.dumps(today["requests"])


@pytest.mark.parametrize("client", RECORDED_CLIENTS)
def test_old_contract_requests_replay_against_todays_bridge(bridge: BridgeProcess, client: str) -> None:
    replay(bridge, recording(client, RECORDED), flow_input(), OLD_STORY)


@pytest.mark.parametrize("client", RECORDED_CLIENTS)
def test_recorded_story_replays_against_todays_contract(bridge: BridgeProcess, client: str) -> None:
    replay(bridge, recording(client), flow_input(), SMEV_STORY)


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
    then = recording("zeep", RECORDED)["requests"][0]["body"]
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
