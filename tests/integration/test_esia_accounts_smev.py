"""Seed 000's story through the real faces: the МИС's SOAP calls over HTTP → the bridge process → the
sandbox СМЭВ node process (SOAP 1.1, ЭП-ОВ checked, content validated against the kinds' XSDs) → ЕСИА's
reg_service behind it, and back. What the node counts (SendRequest per kind of information) and what the
reg_service "sent" to the patient's phone are the evidence.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.bridgeproc import BridgeProcess, start_bridge
from tests.conftest import make_patient
from tests.soapcall import call, envelope

REGISTER = "urn://mincomsvyaz/esia/reg_service/register/1.4.1"
RECOVER = "urn://mincomsvyaz/esia/reg_service/recover/1.4.1"
FIND_ACCOUNT = "urn://mincomsvyaz/esia/reg_service/find_account/1.4.1"
def passport() -> dict[str, str]:
    """Each person their own passport: ЕСИА finds an account by the passport too (matches idoc)."""
    return {"PassportSeries": "6710", "PassportNumber": f"{random.randint(0, 999_999):06d}",
            "PassportIssueDate": "01.09.2004", "PassportIssuerCode": "862-010", "PassportIssuedBy": "ОВД г. Сургута"}

WAIT = 6.0  # the bridge's answer_wait_seconds here: a round trip with the sandbox takes 1-3 s


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeProcess]:
    process = start_bridge(tmp_path_factory.mktemp("esia-smev"),
                           config={"adapter_settings": {"esia": {"answer_wait_seconds": WAIT}}})
    with process.sandbox("esia") as esia:
        esia.put("/_sandbox/reg-service", json={"delay_seconds": 0.2}).raise_for_status()
    yield process
    process.stop()


def soap(bridge: BridgeProcess, operation: str, patient: dict[str, Any]) -> Any:
    return call(f"{bridge.url}/soap/esia-accounts", operation, envelope(operation, patient),
                soap_action=f'"{operation}"')


def sent(bridge: BridgeProcess, kind: str) -> int:
    with bridge.sandbox("smev") as smev:
        stats = smev.get("/_sandbox/smev/stats").json()
    return int(stats["by_kind"].get(kind, {}).get("SendRequest", 0))


def dashed(snils: str) -> str:
    return f"{snils[:3]}-{snils[3:6]}-{snils[6:9]} {snils[9:]}"


def test_seed_000_story_through_smev(bridge: BridgeProcess) -> None:
    patient = make_patient(**passport())
    registers, recovers = sent(bridge, REGISTER), sent(bridge, RECOVER)

    check = soap(bridge, "CheckPatient", patient)
    assert check.status == 200, check.body
    assert check.text("Result") == ["NOT_FOUND"] and check.text("AllowedAction") == ["REGISTER"]

    registered = soap(bridge, "RegisterPatient", patient)
    assert registered.status == 200, registered.body
    assert registered.text("Login") == [patient["Snils"]]
    assert registered.text("TemporaryPassword") in ([], [""])
    assert "отправила SMS на мобильный телефон пациента" in registered.text("Message")[0]

    patient["MobilePhone"] = "89035550011"  # a new phone in the МИС
    check = soap(bridge, "CheckPatient", patient)
    assert check.text("Result") == ["MISMATCH"] and check.text("AllowedAction") == ["UPDATE"], check.body
    assert check.text("Field") == ["MobilePhone"] and check.text("MisValue") == ["89035550011"]

    updated = soap(bridge, "UpdatePatient", patient)
    assert updated.status == 200, updated.body

    check = soap(bridge, "CheckPatient", patient)
    assert check.text("Result") == ["MATCH"] and check.text("AccountConfirmed") == ["true"], check.body
    assert check.text("AllowedAction") == ["RESET_PASSWORD"]

    reset = soap(bridge, "ResetPassword", patient)
    assert reset.status == 200, reset.body
    assert reset.text("TemporaryPassword") in ([], [""])

    with bridge.sandbox("esia") as esia:
        assert esia.get("/_sandbox/accounts/count", params={"snils": dashed(patient["Snils"])}).json()["count"] == 1
        outbox = esia.get("/_sandbox/reg-service/outbox").json()
    # ЕСИА sent both passwords to the phone; the last one to the new phone
    assert [m["address"] for m in outbox][-1] == "+7(903)5550011"
    assert (sent(bridge, REGISTER) - registers, sent(bridge, RECOVER) - recovers) == (1, 1)
    logs = bridge.logs()
    for value in (patient["Snils"], dashed(patient["Snils"]), "5550011", patient["LastName"],
                  patient["PassportNumber"]):
        assert value not in logs, "personal data in the bridge's log"


def test_register_without_passport_is_a_client_fault_and_sends_nothing(bridge: BridgeProcess) -> None:
    before = sent(bridge, REGISTER)
    answer = soap(bridge, "RegisterPatient", make_patient())
    assert answer.status == 500 and answer.faultcode == "Client.InvalidField", answer.body
    assert answer.faultstring.startswith("PassportNumber:")
    assert sent(bridge, REGISTER) == before


def test_a_late_answer_is_returned_to_the_repeat_press(bridge: BridgeProcess) -> None:
    patient = make_patient(**passport())
    with bridge.sandbox("esia") as esia:
        esia.put("/_sandbox/reg-service", json={"delay_seconds": WAIT + 2.0}).raise_for_status()
    try:
        before = sent(bridge, FIND_ACCOUNT)
        first = soap(bridge, "CheckPatient", patient)
        assert first.status == 500 and first.faultcode == "Server.AnswerPending", first.body
        assert "ЕСИА ещё не пришёл" in first.faultstring and "Повторите через" in first.faultstring
        time.sleep(4.0)  # the answer arrives after the МИС stopped waiting
        again = soap(bridge, "CheckPatient", patient)
        assert again.status == 200 and again.text("Result") == ["NOT_FOUND"], again.body
        assert sent(bridge, FIND_ACCOUNT) - before == 1, "the repeat press sent no second SendRequest"
    finally:
        with bridge.sandbox("esia") as esia:
            esia.put("/_sandbox/reg-service", json={"delay_seconds": 0.2}).raise_for_status()


def test_an_answer_smev_never_delivers_in_time_keeps_the_bridge_serving(bridge: BridgeProcess) -> None:
    response = httpx.get(f"{bridge.url}/readyz", timeout=5)
    assert response.status_code == 200
