"""The sandbox ЕСИА reg_service (adapters/esia/sandbox/_reg_service.py): the answers of each kind of
information over one people store, and their shape against the kinds' schemas (adapters/esia/schemas).

The find_account request is the one recorded in a public Java СМЭВ 3 client's tests
(github.com/Roland4444/sm3, src/test/java/standart/findesiaTest.java, ``preparedwithoutTest``); the
register request follows the published schema (gosha20777/smev-client json2xml-transformer/xsd/41556).
"""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from adapters.esia.sandbox._accounts import AccountStore
from adapters.esia.sandbox._reg_service import RegService
from adapters.esia.schemas import COMMONS_NS, KINDS, schema
from bridge.smev.sandbox import ProviderAnswer
from tests.smev.sm3_findesia import FIND_ACCOUNT as RECORDED_FIND

BASE = "urn://mincomsvyaz/esia/reg_service/{}/1.4.1"
SNILS = "229-785-346 20"  # the recorded request's, a valid checksum



def _request(kind: str, root: str, fields: list[tuple[str, Any]]) -> etree._Element:
    ns = BASE.format(kind)
    element = etree.Element(f"{{{ns}}}{root}", nsmap={"tns": ns, "ns2": COMMONS_NS})
    for name, value in fields:
        child = etree.SubElement(element, f"{{{ns}}}{name}")
        if isinstance(value, list):
            for sub, text in value:
                etree.SubElement(child, f"{{{COMMONS_NS}}}{sub}").text = text
        else:
            child.text = value
    schema(ns).assertValid(element)  # what we send the sandbox is what СМЭВ would accept
    return element


OPERATOR = [("RoutingCode", "DEV"), ("SnilsOperator", "135-419-238 52"), ("ra", "1000321282")]
DOC = [("type", "RF_PASSPORT"), ("series", "1111"), ("number", "111111"), ("issueId", "220001"),
       ("issueDate", "01.02.2010"), ("issuedBy", "ОВД")]


def register(snils: str = SNILS, mobile: str = "+7(920)4021351") -> etree._Element:
    return _request("register", "ESIARegisterRequest", [
        *OPERATOR, ("snils", snils), ("lastName", "Тестов"), ("firstName", "Тест"), ("middleName", "Тестович"),
        ("gender", "M"), ("birthDate", "17.08.1979"), ("doc", DOC), ("mobile", mobile), ("citizenship", "RUS"),
        ("mode", "mobile")])


def find(snils: str = SNILS, mobile: str = "+7(920)4021351") -> etree._Element:
    return _request("find_account", "ESIAFindAccountRequest", [
        *OPERATOR, ("lastName", "Тестов"), ("firstName", "Тест"), ("mobile", mobile), ("snils", snils)])


def confirm(oid: str, mobile: str) -> etree._Element:
    return _request("confirm", "ESIAConfirmRequest", [
        *OPERATOR, ("oid", oid), ("snils", SNILS), ("lastName", "Тестов"), ("firstName", "Тест"),
        ("birthDate", "17.08.1979"), ("doc", [d for d in DOC if d[0] != "issuedBy"]), ("mobile", mobile)])


def recover(last_name: str = "Тестов") -> etree._Element:
    return _request("recover", "ESIARecoverRequest", [
        *OPERATOR, ("snils", SNILS), ("lastName", last_name), ("firstName", "Тест"), ("middleName", "Тестович"),
        ("mobile", "+7(920)4021351"), ("mode", "mobile")])


def _ask(service: RegService, content: etree._Element) -> dict[str, Any]:
    """The answer's fields; the answer itself must be valid against its kind's schema."""
    kind = etree.QName(content).namespace or ""
    answer = service.providers()[kind].answer(content)
    assert answer.content is not None
    schema(kind).assertValid(answer.content)
    fields: dict[str, Any] = {"delay": answer.delay_seconds}
    for child in answer.content:
        name = etree.QName(child).localname
        if name == "matches":
            fields["matches"] = [m.text for m in child]
        elif name == "errorStatusInfo":
            fields.setdefault("errors", []).append(child.findtext(f"{{{COMMONS_NS}}}Code"))
        else:
            fields[name] = child.text
    return fields


@pytest.fixture
def service() -> RegService:
    return RegService(AccountStore(), delay_seconds=0.0)


def test_every_kind_has_a_schema_and_the_recorded_request_is_valid() -> None:
    assert {BASE.format(k) for k in ("find_account", "register", "register_by_simplified", "recover", "confirm")} \
        <= set(KINDS)
    schema(BASE.format("find_account")).assertValid(etree.fromstring(RECORDED_FIND))


def test_seed_000_story_over_one_account_per_snils(service: RegService) -> None:
    assert _ask(service, etree.fromstring(RECORDED_FIND)) == {"delay": 0.0, "status": "SUCCEEDED"}  # nobody
    registered = _ask(service, register())
    assert registered["status"] == "SUCCEEDED" and registered["oid"].isdigit()
    assert service.outbox[-1].channel == "mobile" and service.outbox[-1].address == "+7(920)4021351"
    assert "password" not in str(registered) and service.outbox[-1].password not in str(registered)

    again = _ask(service, register())
    assert (again["status"], again["errors"]) == ("VALIDATION_FAILED", ["REG-010"])
    assert service.accounts.count(SNILS) == 1

    mismatch = _ask(service, find(mobile="+7(920)0000000"))
    assert (mismatch["oid"], mismatch["stu"], mismatch["matches"]) == (registered["oid"], "trusted", ["snils"])
    assert _ask(service, confirm(registered["oid"], "+7(920)0000000"))["status"] == "SUCCEEDED"
    assert _ask(service, find(mobile="+7(920)0000000"))["matches"] == ["snils", "mobile"]

    before = len(service.outbox)
    assert _ask(service, recover())["status"] == "SUCCEEDED"
    assert len(service.outbox) == before + 1 and service.outbox[-1].address == "+7(920)0000000"
    assert _ask(service, recover(last_name="Другой"))["errors"] == ["REG-013"]


def test_failure_statuses(service: RegService) -> None:
    service.unconfirmable_snils = frozenset({SNILS})
    assert _ask(service, register())["status"] == "CONFIRMATION_FAILED"
    service.faulty_snils = frozenset({SNILS})
    assert (_ask(service, register())["status"], service.accounts.count()) == ("FAULT", 0)
    wrong_checksum = _ask(service, find(snils="229-785-346 21"))
    assert (wrong_checksum["status"], wrong_checksum["errors"]) == ("VALIDATION_FAILED", ["REG-002"])
    service.faulty_snils = frozenset()
    assert _ask(service, confirm("1", "+7(920)0000000"))["errors"] == ["REG-011"]
    assert service.answered["register:FAULT"] == 1


def test_prod_routing_is_refused_and_the_delay_is_the_configured_one(service: RegService) -> None:
    request = find()
    request.find(f"{{{BASE.format('find_account')}}}RoutingCode").text = "PROD"  # type: ignore[union-attr]
    service.delay_seconds = 2.5
    answer = service.providers()[BASE.format("find_account")].answer(request)
    assert (answer.content, answer.rejection, answer.delay_seconds) == (
        None, ("ACCESS_DENIED", "RoutingCode PROD недоступен в тестовой среде ЕСИА"), 2.5)


def test_interim_validating_then_the_final_status(service: RegService) -> None:
    service.interim_validating, service.delay_seconds = True, 3.0
    answer: ProviderAnswer | None = service.providers()[BASE.format("register")].answer(register())
    statuses = []
    while answer is not None:
        assert answer.content is not None
        schema(BASE.format("register")).assertValid(answer.content)
        statuses.append((answer.content.findtext(f"{{{BASE.format('register')}}}status"), answer.delay_seconds))
        answer = answer.then
    assert statuses == [("VALIDATING", 0.0), ("SUCCEEDED", 3.0)]
    assert _ask(service, find())["status"] == "SUCCEEDED"  # reads are never interim
