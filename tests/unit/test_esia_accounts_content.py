"""What the bridge sends to ЕСИА's registration service, checked against what we did not write.

* find_account: a МИС patient through ``mappings/esia/account.yaml`` and ``SmevAccountOperations.content``
  gives, element for element, the MessagePrimaryContent recorded in a public Java СМЭВ 3 client's test
  (github.com/Roland4444/sm3, src/test/java/standart/findesiaTest.java, ``preparedwithoutTest``).
* register: valid against the published schema (gosha20777/smev-client,
  json2xml-transformer/xsd/41556/esia_rg_register.xsd, adapters/esia/schemas/SOURCES.md), in its order.
* every kind: valid against its schema in adapters/esia/schemas.
* answers: read around ``status`` + ``errorStatusInfo``, defensively (their schemas are not public).
"""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from adapters.esia._adapter import adapter
from adapters.esia._client import Routing, SmevAccountOperations, is_final
from adapters.esia._reg_service import (
    CONFIRM,
    FIND_ACCOUNT,
    RECOVER,
    REGISTER,
    REGISTER_BY_SIMPLIFIED,
    AnswerUnreadable,
    ContentInvalid,
    ErrorInfo,
    build_request,
    parse_answer,
)
from adapters.esia.schemas import COMMONS_NS, schema
from bridge.mapping import MappingSet
from tests.bridgeproc import ROOT
from tests.smev.sm3_findesia import FIND_ACCOUNT as RECORDED_FIND

# The same person as the МИС holds them (SOAP Patient element names and formats).
RECORDED_PATIENT = {"MisPatientId": "1", "LastName": "Тестов", "FirstName": "Тест", "MiddleName": "Тестович",
                    "BirthDate": "01.01.1980", "Snils": "22978534620", "MobilePhone": "89204021351",
                    "PassportSeries": "1111", "PassportNumber": "111111"}


class NoExchange:
    """Content is built without sending: the exchange is never asked."""

    def register_kind(self, kind: str, **_: Any) -> None:
        pass

    def send_and_wait(self, **_: Any) -> Any:
        raise AssertionError("nothing is sent in these tests")


RECORDED_ROUTING = Routing("DEV", "135-419-238 52", 1000321282)


def operations(routing: Routing = RECORDED_ROUTING) -> SmevAccountOperations:
    return SmevAccountOperations(NoExchange(), routing, 1.0)


def person(**overrides: Any) -> dict[str, Any]:
    mapping = MappingSet.load(ROOT / "mappings")["esia.account"]
    return mapping.to_upstream({**RECORDED_PATIENT, **overrides})


def canonical(element: etree._Element) -> list[tuple[int, str, str]]:
    """Depth, {namespace}name and text of each element: what a reader sees, prefixes aside."""
    return [(len(list(e.iterancestors())), str(e.tag), (e.text or "").strip()) for e in element.iter()
            if isinstance(e.tag, str)]


def test_find_account_is_the_recorded_request() -> None:
    recorded = etree.fromstring(RECORDED_FIND.encode())
    built = operations().content(FIND_ACCOUNT, person())
    assert canonical(built) == canonical(recorded)


@pytest.mark.parametrize("kind", [FIND_ACCOUNT, REGISTER, CONFIRM, REGISTER_BY_SIMPLIFIED, RECOVER])
def test_every_kind_is_valid_against_its_schema(kind: str) -> None:
    full = person(Gender="2", PassportIssueDate="01.09.2004", PassportIssuerCode="862-010",
                  PassportIssuedBy="ОВД г. Сургута")
    content = operations().content(kind, full, oid="1000000101" if kind in (CONFIRM, REGISTER_BY_SIMPLIFIED) else None)
    assert schema(kind).validate(content), schema(kind).error_log
    assert content.findtext(f"{{{kind}}}birthDate") in (None, "01.01.1980")  # ДД.ММ.ГГГГ, as the commons dateType


def test_register_carries_the_service_centre_mode_mobile_and_the_passport_in_schema_order() -> None:
    full = person(Gender="2", PassportIssueDate="01.09.2004", PassportIssuerCode="862-010")
    content = operations().content(REGISTER, full)
    names = [etree.QName(e).localname for e in content]
    assert names == ["RoutingCode", "SnilsOperator", "ra", "snils", "lastName", "firstName", "middleName", "gender",
                     "birthDate", "doc", "mobile", "citizenship", "mode"]
    assert content.findtext(f"{{{REGISTER}}}mode") == "mobile"
    assert content.findtext(f"{{{REGISTER}}}citizenship") == "RUS"
    assert content.findtext(f"{{{REGISTER}}}gender") == "F"
    doc = content.find(f"{{{REGISTER}}}doc")
    assert doc is not None
    assert [(etree.QName(e).namespace, etree.QName(e).localname, e.text) for e in doc] == [
        (COMMONS_NS, "type", "RF_PASSPORT"), (COMMONS_NS, "series", "1111"), (COMMONS_NS, "number", "111111"),
        (COMMONS_NS, "issueId", "862010"), (COMMONS_NS, "issueDate", "01.09.2004")]


def test_what_the_schema_refuses_names_the_element_never_the_value() -> None:
    with pytest.raises(ContentInvalid) as missing:
        operations().content(REGISTER, person(Gender="2"))  # no issue date
    assert (missing.value.path, missing.value.reason) == ("doc/issueDate", "обязательный элемент не заполнен")
    with pytest.raises(ContentInvalid) as bad:
        build_request(FIND_ACCOUNT, {"RoutingCode": "DEV", "SnilsOperator": "135-419-238 52", "ra": 1,
                                     "lastName": "Тестов", "firstName": "Тест", "mobile": "+7 920 402"})
    assert bad.value.path == "mobile" and "+7 920" not in str(bad.value)
    with pytest.raises(ContentInvalid) as routing:
        operations(Routing("ESIA", "135-419-238 52", 1)).content(FIND_ACCOUNT, person())
    assert routing.value.path == "RoutingCode"


def answer(kind: str, root: str, body: str) -> etree._Element:
    return etree.fromstring(f'<r:{root} xmlns:r="{kind}" xmlns:c="{COMMONS_NS}">{body}</r:{root}>'.encode())


def test_answers_are_read_around_status_and_error_status_info() -> None:
    found = parse_answer(FIND_ACCOUNT, answer(FIND_ACCOUNT, "ESIAFindAccountResponse",
                                              "<r:status>SUCCEEDED</r:status><r:oid>1000000101</r:oid>"
                                              "<r:stu>trusted</r:stu><r:unknownToUs>x</r:unknownToUs>"
                                              "<r:matches><c:match>snils</c:match><c:match>mobile</c:match>"
                                              "</r:matches>"))
    assert (found.status, found.oid, found.stu, found.matches) == ("SUCCEEDED", "1000000101", "trusted",
                                                                    ("snils", "mobile"))
    failed = parse_answer(REGISTER, answer(REGISTER, "ESIARegisterResponse",
                                           "<r:status>VALIDATION_FAILED</r:status><r:errorStatusInfo>"
                                           "<c:Code>ESIA-1</c:Code><c:Message>Ошибка</c:Message></r:errorStatusInfo>"))
    assert failed.status == "VALIDATION_FAILED" and failed.errors == (ErrorInfo("ESIA-1", "Ошибка"),)
    interim = answer(REGISTER, "ESIARegisterResponse", "<r:status>VALIDATING</r:status>")
    assert not is_final(interim)
    assert is_final(answer(REGISTER, "ESIARegisterResponse", "<r:status>SUCCEEDED</r:status>"))


@pytest.mark.parametrize("root, body", [
    ("ESIARegisterResponse", "<r:status>SUCCEEDED</r:status>"),         # another kind's answer
    ("ESIAFindAccountResponse", "<r:oid>1</r:oid>"),                    # no status
    ("ESIAFindAccountResponse", "<r:status>DONE</r:status>"),          # a status the commons do not have
])
def test_an_answer_that_is_not_the_kinds_is_refused(root: str, body: str) -> None:
    kind = REGISTER if root == "ESIARegisterResponse" else FIND_ACCOUNT
    with pytest.raises(AnswerUnreadable):
        parse_answer(FIND_ACCOUNT, answer(kind, root, body))


def test_bridge_check_names_the_smev_files_that_are_not_there(tmp_path: Any) -> None:
    problems = adapter.check_settings({"smev": {"smev_certificates": [str(tmp_path / "smev.pem")],
                                                "signer": {"key_file": str(tmp_path / "ov-key.pem")}},
                                       "answer_wait_seconds": 0})
    assert problems == ["answer_wait_seconds: Input should be greater than 0"]
    problems = adapter.check_settings({"smev": {"smev_certificates": [str(tmp_path / "smev.pem")],
                                                "signer": {"key_file": str(tmp_path / "ov-key.pem")}}})
    assert problems == ["smev.smev_certificates.0: file not found", "smev.signer.key_file: file not found"]
