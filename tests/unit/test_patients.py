"""Seed 000's rules, against the sandbox ЕСИА's registry behind an in-process transport."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.esia._client import PollPolicy, RestAccountOperations, Routing
from adapters.esia._patients import PatientAccounts
from adapters.esia.sandbox import AccountRegistry
from adapters.esia.sandbox._registry import IdempotencyConflict
from adapters.esia.sandbox._rules import RequestInvalid
from bridge.delivery import RetryPolicy, Timeouts, Upstream, UpstreamConfig
from bridge.errors import InvalidField, RuleViolation, ServiceUnavailable, UpstreamRefused
from bridge.mapping import MappingSet
from bridge.store import OperationJournal, Pseudonymizer, Store
from tests.bridgeproc import ROOT
from tests.conftest import make_patient


class InProcessEsia:
    """The sandbox registry answering over httpx.MockTransport, with scripted losses."""

    def __init__(self, registry: AccountRegistry) -> None:
        self.registry = registry
        self.lose_next_answers = 0
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.method == "POST":
            operation = path.rsplit("/", 1)[-1]
            try:
                answer = self.registry.submit(operation, json.loads(request.content),
                                              request.headers.get("Idempotency-Key"))
            except RequestInvalid as exc:
                return httpx.Response(400, json=exc.body())
            except IdempotencyConflict:
                return httpx.Response(422, json={"code": "REG-004"})
        else:
            found = self.registry.status(path.rsplit("/", 1)[-1])
            if found is None:
                return httpx.Response(404, json={"code": "REG-404"})
            answer = found
        if self.lose_next_answers > 0:
            self.lose_next_answers -= 1
            raise httpx.ReadTimeout("answer lost after processing")
        return httpx.Response(202 if answer["status"] == "VALIDATING" else 200, json=answer)


@pytest.fixture()
def esia() -> InProcessEsia:
    return InProcessEsia(AccountRegistry(validating_seconds=0.0, unconfirmable_snils=frozenset()))


@pytest.fixture()
def accounts(esia: InProcessEsia, tmp_path: Path) -> Iterator[PatientAccounts]:
    upstream = Upstream(
        UpstreamConfig("esia-unit", "http://esia.test", Timeouts(),
                       RetryPolicy(max_attempts=4, backoff_initial=0.001, backoff_max=0.002)),
        transport=httpx.MockTransport(esia),
    )
    store = Store(f"sqlite:///{tmp_path / 'b.db'}")
    store.upgrade()
    operations = RestAccountOperations(upstream, Routing("DEV", "000-000-600 06", 1000000001),
                                       PollPolicy(first_interval=0.001, budget_seconds=2))
    yield PatientAccounts(operations, MappingSet.load(ROOT / "mappings")["esia.account"],
                          OperationJournal(store), Pseudonymizer(b"unit-test-key-0123456789"))
    upstream.close()


def dashed(snils: str) -> str:
    return f"{snils[:3]}-{snils[3:6]}-{snils[6:9]} {snils[9:]}"


def test_seed_story(accounts: PatientAccounts, esia: InProcessEsia) -> None:
    patient = make_patient(BirthDate="18.08.1979")
    check = accounts.check(patient)
    assert (check.outcome, check.allowed_actions) == ("NOT_FOUND", ["REGISTER"])
    issued = accounts.register(patient)
    assert issued.login == dashed(patient["Snils"]) and len(issued.temporary_password) == 8
    patient["BirthDate"] = "17.08.1979"
    check = accounts.check(patient)
    assert check.outcome == "MISMATCH" and check.allowed_actions == ["UPDATE"]
    assert [(d.field, d.label, d.mis_value, d.esia_value) for d in check.differences] == [
        ("BirthDate", "Дата рождения", "17.08.1979", "18.08.1979")
    ]
    accounts.update(patient)
    check = accounts.check(patient)
    assert (check.outcome, check.account_confirmed, check.allowed_actions) == ("MATCH", True, ["RESET_PASSWORD"])
    assert accounts.reset_password(patient).temporary_password.isdigit()


def test_comparison_ignores_case_yo_and_spaces(accounts: PatientAccounts) -> None:
    patient = make_patient(LastName="Семёнова")
    accounts.register(patient)
    assert accounts.check({**patient, "LastName": "  СЕМЕНОВА "}).outcome == "MATCH"


def test_a_field_the_mis_leaves_empty_is_not_compared(accounts: PatientAccounts) -> None:
    patient = make_patient()
    accounts.register(patient)
    assert accounts.check({**patient, "MobilePhone": None, "MiddleName": ""}).outcome == "MATCH"


def test_lost_register_answer_is_retried_with_the_same_key(accounts: PatientAccounts, esia: InProcessEsia) -> None:
    patient = make_patient()
    esia.lose_next_answers = 1  # the find passes; the register POST is processed, its answer lost
    esia.lose_next_answers = 0
    original = esia.__call__

    lost = {"done": False}

    def lose_register_once(request: httpx.Request) -> httpx.Response:
        response = original(request)
        if request.url.path.endswith("/register") and not lost["done"]:
            lost["done"] = True
            raise httpx.ReadTimeout("lost")
        return response

    esia.__call__ = lose_register_once  # type: ignore[method-assign]
    accounts._operations._upstream._exchange.transport = httpx.MockTransport(lose_register_once)  # type: ignore[attr-defined]
    issued = accounts.register(patient)
    assert esia.registry.count_accounts(dashed(patient["Snils"])) == 1
    keys = {r.headers["Idempotency-Key"] for r in esia.requests if r.url.path.endswith("/register")}
    assert len(keys) == 1
    assert len(issued.temporary_password) == 8


def test_register_requires_the_mobile_phone(accounts: PatientAccounts) -> None:
    with pytest.raises(InvalidField) as info:
        accounts.register(make_patient(MobilePhone=None))
    assert info.value.field == "MobilePhone"
    assert "необходимо указать номер мобильного телефона" in info.value.reason


def test_register_twice_is_a_rule_violation(accounts: PatientAccounts) -> None:
    patient = make_patient()
    accounts.register(patient)
    with pytest.raises(RuleViolation):
        accounts.register(patient)


def test_update_and_reset_follow_the_buttons(accounts: PatientAccounts) -> None:
    patient = make_patient()
    with pytest.raises(RuleViolation, match="не найдена"):
        accounts.update(patient)
    with pytest.raises(RuleViolation, match="не найдена"):
        accounts.reset_password(patient)
    accounts.register(patient)
    with pytest.raises(RuleViolation, match="совпадают"):
        accounts.update(patient)
    with pytest.raises(RuleViolation, match="расходятся"):
        accounts.reset_password({**patient, "FirstName": "Олеся"})


def test_upstream_refusal_carries_its_code(accounts: PatientAccounts, esia: InProcessEsia) -> None:
    patient = make_patient()
    esia.registry.unconfirmable_snils = frozenset({dashed(patient["Snils"])})
    with pytest.raises(UpstreamRefused) as info:
        accounts.register(patient)
    assert info.value.code == "REG-020"
    assert patient["Snils"] not in str(info.value)


def test_names_the_upstream_rejects_become_a_client_error(accounts: PatientAccounts) -> None:
    with pytest.raises(UpstreamRefused) as info:
        accounts.check(make_patient(LastName="Smith"))  # ЕСИА wants Cyrillic names
    assert info.value.code == "REG-002" and "lastName" in str(info.value)


def test_validation_messages_name_fields_not_values(accounts: PatientAccounts) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"Snils": "05462367361"}, "Snils"), ({"MobilePhone": "9161234567"}, "MobilePhone"),
        ({"BirthDate": "30.02.1990"}, "BirthDate"), ({"MisPatientId": ""}, "MisPatientId"),
        ({"Gender": "F"}, "Gender"),
    ]
    for overrides, field in cases:
        with pytest.raises(InvalidField) as info:
            accounts.check(make_patient(**overrides))
        assert info.value.field == field
        for value in overrides.values():
            if value:
                assert value not in str(info.value)


def test_still_validating_is_a_retryable_server_error(tmp_path: Path) -> None:
    registry = AccountRegistry(validating_seconds=60)
    esia = InProcessEsia(registry)
    upstream = Upstream(UpstreamConfig("esia-slow", "http://esia.test"), transport=httpx.MockTransport(esia))
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.upgrade()
    journal = OperationJournal(store)
    accounts = PatientAccounts(
        RestAccountOperations(upstream, Routing("DEV", "000-000-600 06", 1),
                              PollPolicy(first_interval=0.01, budget_seconds=0.05)),
        MappingSet.load(ROOT / "mappings")["esia.account"], journal, Pseudonymizer(b"k" * 32))
    patient = make_patient()
    with pytest.raises(ServiceUnavailable):
        accounts.register(patient)
    with pytest.raises(ServiceUnavailable):
        accounts.register(patient)  # the МИС tries again: same operation, not a second one
    keys = {r.headers["Idempotency-Key"] for r in esia.requests if r.url.path.endswith("/register")}
    assert len(keys) == 1
