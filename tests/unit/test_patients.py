"""Seed 000's rules over СМЭВ 3: PatientAccounts → SmevAccountOperations → the core's SmevExchange →
the sandbox СМЭВ node (its HTTP face, in-process) → the sandbox ЕСИА reg_service behind it.

Nothing here is a stand-in of ours: the node (bridge/smev/sandbox) checks our ЭП-ОВ and validates every
request against the kind's schema (adapters/esia/schemas: the published register XSD from
gosha20777/smev-client, the others reconstructed, SOURCES.md), and the reg_service (adapters/esia/sandbox)
keeps one account per SNILS. What the node and the reg_service count is the evidence.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.esia._client import Routing
from adapters.esia._reg_service import FIND_ACCOUNT, RECOVER, REGISTER
from bridge.errors import InvalidField, RuleViolation, ServiceUnavailable, UpstreamRefused
from tests.conftest import make_patient
from tests.esia_inprocess import InProcessEsia, Keys, in_process_esia, make_keys


def passport() -> dict[str, str]:
    """Each person their own passport: ЕСИА finds an account by the passport too (matches idoc)."""
    return {"PassportSeries": "6710", "PassportNumber": f"{random.randint(0, 999_999):06d}",
            "PassportIssueDate": "01.09.2004", "PassportIssuerCode": "862-010", "PassportIssuedBy": "ОВД г. Сургута"}

def patient_with_passport(**overrides: Any) -> dict[str, Any]:
    return make_patient(**{**passport(), **overrides})


def dashed(snils: str) -> str:
    return f"{snils[:3]}-{snils[3:6]}-{snils[6:9]} {snils[9:]}"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory)


@pytest.fixture
def esia(keys: Keys, tmp_path: Path) -> Iterator[InProcessEsia]:
    with in_process_esia(keys, tmp_path) as made:
        yield made


def test_seed_000_story_over_smev(esia: InProcessEsia) -> None:
    accounts = esia.accounts
    patient = patient_with_passport()
    check = accounts.check(patient)
    assert (check.outcome, check.allowed_actions, check.differences) == ("NOT_FOUND", ["REGISTER"], [])
    assert accounts.register(patient).isdigit()
    # ЕСИА sent the first-login password to the patient's phone; it never came back to the bridge
    sent = esia.reg_service.outbox
    assert [(s.channel, s.address) for s in sent] == [("mobile", "+7(" + patient["MobilePhone"][1:4] + ")"
                                                   + patient["MobilePhone"][4:])]
    check = accounts.check(patient)
    assert (check.outcome, check.account_confirmed, check.allowed_actions) == ("MATCH", True, ["RESET_PASSWORD"])
    patient["MobilePhone"] = "89031112233"  # the patient has a new phone in the МИС
    check = accounts.check(patient)
    assert (check.outcome, check.allowed_actions) == ("MISMATCH", ["UPDATE"])
    assert [(d.field, d.label, d.mis_value, d.esia_value) for d in check.differences] == [
        ("MobilePhone", "Мобильный телефон", "89031112233", "другое (ЕСИА значение не сообщает)")]
    accounts.update(patient)
    check = accounts.check(patient)
    assert (check.outcome, check.account_confirmed) == ("MATCH", True)
    accounts.reset_password(patient)
    assert esia.reg_service.outbox[-1].address == "+7(903)1112233"
    assert esia.reg_service.accounts.count(dashed(patient["Snils"])) == 1
    assert (esia.sent(REGISTER), esia.sent(RECOVER)) == (1, 1)
    # the СМЭВ business keys are pseudonyms: neither the SNILS nor the phone is in them
    for key in esia.business_keys():
        assert patient["Snils"] not in key and dashed(patient["Snils"]) not in key and "1112233" not in key


def test_register_needs_phone_gender_and_passport_before_anything_is_sent(esia: InProcessEsia) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"MobilePhone": None}, "MobilePhone"), ({"Gender": None}, "Gender"),
        ({"PassportNumber": None}, "PassportNumber"), ({"PassportIssueDate": None}, "PassportIssueDate"),
    ]
    for overrides, field in cases:
        with pytest.raises(InvalidField) as info:
            esia.accounts.register(patient_with_passport(**overrides))
        assert info.value.field == field, info.value
    assert esia.node.counts.get("SendRequest", 0) == 0


def test_validation_messages_name_fields_not_values(esia: InProcessEsia) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"Snils": "05462367361"}, "Snils"), ({"MobilePhone": "9161234567"}, "MobilePhone"),
        ({"BirthDate": "30.02.1990"}, "BirthDate"), ({"MisPatientId": ""}, "MisPatientId"),
        ({"Gender": "F"}, "Gender"), ({"PassportIssuerCode": "86-01"}, "PassportIssuerCode"),
    ]
    for overrides, field in cases:
        with pytest.raises(InvalidField) as info:
            esia.accounts.register(patient_with_passport(**overrides))
        assert info.value.field == field
        for value in overrides.values():
            if value:
                assert value not in str(info.value)


def test_the_buttons_follow_the_rules(esia: InProcessEsia) -> None:
    accounts = esia.accounts
    patient = patient_with_passport()
    with pytest.raises(RuleViolation, match="не найдена"):
        accounts.update(patient)
    with pytest.raises(RuleViolation, match="не найдена"):
        accounts.reset_password(patient)
    accounts.register(patient)
    with pytest.raises(RuleViolation, match="уже зарегистрирован"):
        accounts.register(patient)
    with pytest.raises(RuleViolation, match="совпадают"):
        accounts.update(patient)
    with pytest.raises(RuleViolation, match="расходятся"):
        accounts.reset_password({**patient, "MobilePhone": "89030000000"})
    assert esia.sent(REGISTER) == 1 and esia.reg_service.accounts.count(dashed(patient["Snils"])) == 1


def test_statuses_become_plain_russian_faults(esia: InProcessEsia) -> None:
    patient = patient_with_passport()
    esia.reg_service.unconfirmable_snils = frozenset({dashed(patient["Snils"])})
    with pytest.raises(UpstreamRefused) as refused:
        esia.accounts.register(patient)
    assert refused.value.code == "REG-020" and "ЕСИА не смогла создать или подтвердить" in refused.value.message
    assert patient["Snils"] not in str(refused.value)
    faulty = patient_with_passport()
    esia.reg_service.faulty_snils = frozenset({dashed(faulty["Snils"])})
    with pytest.raises(ServiceUnavailable, match=r"ЕСИА не смогла выполнить запрос \(FAULT, REG-500\)"):
        esia.accounts.check(faulty)


def test_a_request_smev_rejects_is_a_client_fault(keys: Keys, tmp_path: Path) -> None:
    with in_process_esia(keys, tmp_path) as esia:
        esia.accounts._operations._routing = Routing("PROD", "000-000-600 06", 1)  # type: ignore[attr-defined]
        with pytest.raises(UpstreamRefused) as info:
            esia.accounts.check(patient_with_passport())
        assert info.value.code == "ACCESS_DENIED" and "СМЭВ отклонила запрос" in info.value.message


def test_a_late_answer_is_returned_to_the_repeat_press_without_a_second_send(keys: Keys, tmp_path: Path) -> None:
    with in_process_esia(keys, tmp_path, delay=0.6, wait=0.2) as esia:
        patient = patient_with_passport()
        with pytest.raises(ServiceUnavailable, match="ещё не пришёл"):
            esia.accounts.check(patient)
        threading.Event().wait(1.0)  # the answer arrives after the МИС stopped waiting
        assert esia.accounts.check(patient).outcome == "NOT_FOUND"
        assert esia.sent(FIND_ACCOUNT) == 1
        # the next press is a new question (the first was answered): it is sent
        esia.accounts._operations._wait = 5.0  # type: ignore[attr-defined]
        assert esia.accounts.check(patient).outcome == "NOT_FOUND"
        assert esia.sent(FIND_ACCOUNT) == 2


def test_a_repeat_register_press_joins_the_registration_in_flight(keys: Keys, tmp_path: Path) -> None:
    # the press waits 2 s; ЕСИА's search answers at once and its registration after 4 s (room for a slow host)
    with in_process_esia(keys, tmp_path, wait=2.0, register_delay=4.0) as esia:
        patient = patient_with_passport()
        with pytest.raises(ServiceUnavailable, match="ещё не пришёл"):
            esia.accounts.register(patient)
        assert esia.sent(REGISTER) == 1  # the press got as far as the registration, which is late
        finds = esia.sent(FIND_ACCOUNT)
        deadline = time.monotonic() + 30
        while not esia.answered_all():  # the late answer has reached the bridge's store
            assert time.monotonic() < deadline, "ЕСИА's answer to the registration never came"
            threading.Event().wait(0.1)
        # ЕСИА has registered the patient by now; the press joins the registration instead of searching
        # (a search would find the account and refuse «уже зарегистрирован»)
        assert esia.accounts.register(patient).isdigit()
        assert (esia.sent(REGISTER), esia.sent(FIND_ACCOUNT)) == (1, finds)
        assert esia.reg_service.accounts.count(dashed(patient["Snils"])) == 1
