"""Seed 000's rules over СМЭВ 3: PatientAccounts → SmevAccountOperations → the core's SmevExchange →
the sandbox СМЭВ node (its HTTP face, in-process) → the sandbox ЕСИА reg_service behind it.

Nothing here is a stand-in of ours: the node (bridge/smev/sandbox) checks our ЭП-ОВ and validates every
request against the kind's schema (adapters/esia/schemas: the published register XSD from
gosha20777/smev-client, the others reconstructed, SOURCES.md), and the reg_service (adapters/esia/sandbox)
keeps one account per SNILS. What the node and the reg_service count is the evidence.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from adapters.esia._client import Routing, SmevAccountOperations
from adapters.esia._patients import PatientAccounts
from adapters.esia._reg_service import FIND_ACCOUNT, RECOVER, REGISTER
from adapters.esia.sandbox._reg_service import RegService
from bridge.delivery import RetryPolicy, Timeouts, Upstream, UpstreamConfig
from bridge.errors import InvalidField, RuleViolation, ServiceUnavailable, UpstreamRefused
from bridge.mapping import MappingSet
from bridge.scheduling import JobRuns
from bridge.signing import SignerConfig, SigningError, check_gost_engine, load_signer
from bridge.smev import ExchangeSettings, ResponseRunner, SmevClient, SmevExchange, SmevSettings, namespaces
from bridge.smev.sandbox import SandboxNode, create_smev_sandbox_app
from bridge.store import OperationJournal, Pseudonymizer, Sealer, Store
from tests.bridgeproc import ROOT
from tests.conftest import make_patient
from tests.signing.material import OPENSSL_CNF, Material, make_material

NS = namespaces("1.2")
ENDPOINT = "/smev/v1.2/ws"
def passport() -> dict[str, str]:
    """Each person their own passport: ЕСИА finds an account by the passport too (matches idoc)."""
    return {"PassportSeries": "6710", "PassportNumber": f"{random.randint(0, 999_999):06d}",
            "PassportIssueDate": "01.09.2004", "PassportIssuerCode": "862-010", "PassportIssuedBy": "ОВД г. Сургута"}

FAST = ExchangeSettings(answer_keep_seconds=60, dead_after_seconds=60, send_lease_seconds=5,
                        resend_pause_seconds=0, store_poll_seconds=0.02, get_response_pause_seconds=0.02,
                        lease_seconds=5, retry_after_seconds=7)


def patient_with_passport(**overrides: Any) -> dict[str, Any]:
    return make_patient(**{**passport(), **overrides})


def dashed(snils: str) -> str:
    return f"{snils[:3]}-{snils[3:6]}-{snils[6:9]} {snils[9:]}"


@dataclass
class Keys:
    ours: Material
    smev: Material


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    try:
        check_gost_engine()
    except SigningError as exc:
        pytest.fail(f"{exc} — CI installs it via scripts/install-system-deps.sh")
    conf = tmp_path_factory.mktemp("openssl-patients") / "openssl.cnf"
    conf.write_text(OPENSSL_CNF)
    env = {**os.environ, "OPENSSL_CONF": str(conf)}
    return Keys(*(make_material(tmp_path_factory.mktemp(name), "A", env) for name in ("ov", "smev")))


def _signer(material: Material):  # type: ignore[no-untyped-def]
    return load_signer(SignerConfig(kind="python", key_file=material.key, certificate_file=material.cert))


@dataclass
class Esia:
    node: SandboxNode
    reg_service: RegService
    accounts: PatientAccounts
    store: Store

    def sent(self, kind: str) -> int:
        return self.node.by_kind.get(kind, {}).get("SendRequest", 0)

    def business_keys(self) -> list[str]:
        with self.store.engine.connect() as db:
            return [str(row[0]) for row in db.execute(sa.text("SELECT business_key FROM smev_exchange"))]


@dataclass
class Slower:
    """One kind of information answered later than the others."""

    inner: Any
    delay_seconds: float

    def answer(self, content: Any) -> Any:
        return dataclasses.replace(self.inner.answer(content), delay_seconds=self.delay_seconds)


def _esia(keys: Keys, tmp_path: Path, *, delay: float = 0.0, wait: float = 10.0,
          register_delay: float | None = None) -> Iterator[Esia]:
    reg_service = RegService(delay_seconds=delay)
    node = SandboxNode(providers={}, registered={keys.ours.certificate_der}, clock=lambda: datetime.now(UTC),
                       visibility_timeout=timedelta(seconds=0.5))
    schemas = reg_service.schemas()
    for kind, provider in reg_service.providers().items():
        slow = register_delay is not None and kind == REGISTER
        node.serve(kind, Slower(provider, register_delay or 0.0) if slow else provider, schemas.get(kind))
    asgi = httpx.ASGITransport(app=create_smev_sandbox_app(node, NS, _signer(keys.smev), ENDPOINT))

    async def call(request: httpx.Request) -> httpx.Response:
        response = await asgi.handle_async_request(request)
        return httpx.Response(response.status_code, headers=response.headers, content=await response.aread())

    upstream = Upstream(UpstreamConfig(name="smev", base_url="http://smev.test", timeouts=Timeouts(read=2.0),
                                       retry=RetryPolicy(max_attempts=2, backoff_initial=0.001, backoff_max=0.002),
                                       circuit_fail_max=1000),
                        transport=httpx.MockTransport(lambda request: asyncio.run(call(request))))
    store = Store(f"sqlite:///{tmp_path / 'bridge.db'}")
    store.upgrade()
    client = SmevClient(upstream, _signer(keys.ours),
                        SmevSettings(schema_version="1.2", endpoint=ENDPOINT,
                                     trusted_certificates={keys.smev.certificate_der}))
    exchange = SmevExchange(client, store, Sealer(b"k" * 32, "smev:esia"), answerer="ЕСИА", settings=FAST)
    operations = SmevAccountOperations(exchange, Routing("DEV", "000-000-600 06", 1000000001), wait)
    runner = ResponseRunner(exchange, JobRuns(store, "a", lease_seconds=FAST.lease_seconds))
    accounts = PatientAccounts(operations, MappingSet.load(ROOT / "mappings")["esia.account"],
                               OperationJournal(store), Pseudonymizer(b"unit-test-key-0123456789"))
    runner.start()
    try:
        yield Esia(node, reg_service, accounts, store)
    finally:
        runner.stop()
        upstream.close()
        store.dispose()


@pytest.fixture
def esia(keys: Keys, tmp_path: Path) -> Iterator[Esia]:
    yield from _esia(keys, tmp_path)


def test_seed_000_story_over_smev(esia: Esia) -> None:
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


def test_register_needs_phone_gender_and_passport_before_anything_is_sent(esia: Esia) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"MobilePhone": None}, "MobilePhone"), ({"Gender": None}, "Gender"),
        ({"PassportNumber": None}, "PassportNumber"), ({"PassportIssueDate": None}, "PassportIssueDate"),
    ]
    for overrides, field in cases:
        with pytest.raises(InvalidField) as info:
            esia.accounts.register(patient_with_passport(**overrides))
        assert info.value.field == field, info.value
    assert esia.node.counts.get("SendRequest", 0) == 0


def test_validation_messages_name_fields_not_values(esia: Esia) -> None:
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


def test_the_buttons_follow_the_rules(esia: Esia) -> None:
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


def test_statuses_become_plain_russian_faults(esia: Esia) -> None:
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
    for esia in _esia(keys, tmp_path):
        esia.accounts._operations._routing = Routing("PROD", "000-000-600 06", 1)  # type: ignore[attr-defined]
        with pytest.raises(UpstreamRefused) as info:
            esia.accounts.check(patient_with_passport())
        assert info.value.code == "ACCESS_DENIED" and "СМЭВ отклонила запрос" in info.value.message


def test_a_late_answer_is_returned_to_the_repeat_press_without_a_second_send(keys: Keys, tmp_path: Path) -> None:
    for esia in _esia(keys, tmp_path, delay=0.6, wait=0.2):
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
    for esia in _esia(keys, tmp_path, wait=1.0, register_delay=1.5):
        patient = patient_with_passport()
        with pytest.raises(ServiceUnavailable, match="ещё не пришёл"):
            esia.accounts.register(patient)
        finds = esia.sent(FIND_ACCOUNT)
        threading.Event().wait(2.5)
        # ЕСИА has registered the patient by now; the press joins the registration instead of searching
        # (a search would find the account and refuse «уже зарегистрирован»)
        assert esia.accounts.register(patient).isdigit()
        assert (esia.sent(REGISTER), esia.sent(FIND_ACCOUNT)) == (1, finds)
        assert esia.reg_service.accounts.count(dashed(patient["Snils"])) == 1
