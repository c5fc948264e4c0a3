"""Every rule of the ЕГИСЗ SOAP face gives a Client fault that names it (seed 002 §3–5)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lxml import etree

from tests.bridgeproc import BridgeProcess
from tests.integration.egisz_helpers import fields, generate, intake, search, set_faults, soap


def fault(answer: httpx.Response) -> tuple[str, str]:
    tree = etree.fromstring(answer.content)
    code = tree.xpath("//faultcode/text()")
    text = tree.xpath("//faultstring/text()")
    return (str(code[0]).split(":")[-1] if code else "", str(text[0]) if text else "")


def reply(bridge: BridgeProcess, application_id: str, **values: Any) -> httpx.Response:
    body = {"Outcome": "SERVICE_PROVIDED", "Comment": "Прикреплён", "Employee": "Сидорова В. В.",
            "DistrictNumber": "7", "DoctorLastName": "Иванова", "DoctorFirstName": "Анна",
            "DoctorMiddleName": "Петровна", "DoctorSnils": "11223344595", "DoctorSpecialty": "врач-терапевт участковый"}
    body.update(values)
    return soap(bridge.url, "ReplyToApplication",
                f"<t:Id>{application_id}</t:Id><t:Reply>{fields(body)}</t:Reply>")


def card(bridge: BridgeProcess, application_id: str) -> dict[str, Any]:
    answer = soap(bridge.url, "GetApplication", f"<t:Id>{application_id}</t:Id>")
    assert answer.status_code == 200, answer.text
    tree = etree.fromstring(answer.content)
    result = tree.xpath("//*[local-name()='GetApplicationResult']")[0]
    data: dict[str, Any] = {etree.QName(c).localname: c.text for c in result if len(c) == 0}
    data["History"] = [c.text for c in tree.xpath("//*[local-name()='StatusChange']/*[local-name()='Note']")]
    error = tree.xpath("//*[local-name()='LastReplyError']/*[local-name()='Code']/text()")
    data["LastReplyErrorCode"] = str(error[0]) if error else None
    return data


def wait_status(bridge: BridgeProcess, application_id: str, status: str, seconds: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    current = card(bridge, application_id)
    while current["Status"] != status and time.monotonic() < deadline:
        time.sleep(0.2)
        current = card(bridge, application_id)
    return current


# The status an application has while a cancellation of it waits for an answer (seed 002 §5): a choice
# is «Отменяется», a detachment stays to be executed.
UNDER_CANCELLATION = {"CHOICE": "9", "DETACHMENT": "21"}


class Pool:
    """Fresh applications of each type, handed out one per test.

    The bridge is shared by the whole session, so a search also finds what other modules left: a
    cancellation is handed out only while the application it cancels is untouched (another module may
    have answered that one already)."""

    def __init__(self, bridge: BridgeProcess) -> None:
        self.bridge = bridge
        self.used: set[str] = set()

    def take(self, kind: str, status: str, cancels: str | None = None) -> dict[str, str]:
        """``cancels``: for a cancellation, the type of the application it cancels (CHOICE by default)."""
        cancels = cancels or ("CHOICE" if kind == "CANCELLATION" else None)
        for row in search(self.bridge, ApplicationType=kind, Status=int(status)):
            if row["Id"] in self.used:
                continue
            if cancels is not None:
                related = card(self.bridge, row["Id"])
                if related["RelatedApplicationType"] != cancels or related["RelatedApplicationId"] in self.used:
                    continue
                if card(self.bridge, related["RelatedApplicationId"])["Status"] != UNDER_CANCELLATION[cancels]:
                    continue
                self.used.add(related["RelatedApplicationId"])
            self.used.add(row["Id"])
            return row
        raise AssertionError(f"no fresh {kind} in status {status}")


@pytest.fixture(scope="module")
def pool(bridge: BridgeProcess) -> Iterator[Pool]:
    generate(bridge, 120, seed=int(uuid.uuid4().int % 10_000), cancellation_share=0.3, detachment_share=0.25)
    assert intake(bridge) >= 100
    yield Pool(bridge)


@pytest.mark.parametrize(
    ("values", "rule"),
    [
        ({"DistrictNumber": None}, "DistrictRequired"),
        ({"DoctorLastName": ""}, "DoctorRequired"),
        ({"DoctorFirstName": None}, "DoctorRequired"),
        ({"DoctorSnils": None}, "DoctorRequired"),
        ({"DoctorSpecialty": " "}, "DoctorRequired"),
        ({"Outcome": "REFUSED"}, "RefusalReasonRequired"),
        ({"Comment": ""}, "CommentRequired"),
        ({"Employee": ""}, "EmployeeRequired"),
        ({"Outcome": "CANCEL_APPROVED"}, "OutcomeNotAllowed"),
        ({"Outcome": "DETACHED", "ReplyDate": "21.11.2026"}, "OutcomeNotAllowed"),
    ],
)
def test_choice_of_mo_rules(bridge: BridgeProcess, pool: Pool, values: dict[str, Any], rule: str) -> None:
    row = pool.take("CHOICE", "21")
    answer = reply(bridge, row["Id"], **values)
    code, text = fault(answer)
    assert (code, text.split(":")[0]) == ("Client.RuleViolation", rule), answer.text[-400:]
    assert card(bridge, row["Id"])["Status"] == "21", "a refused reply changes nothing"


def test_cancellation_rules_and_the_second_reply_after_a_failed_cancellation(bridge: BridgeProcess, pool: Pool) -> None:
    cancel = pool.take("CANCELLATION", "6")
    code, text = fault(reply(bridge, cancel["Id"]))  # SERVICE_PROVIDED on a cancellation
    assert code == "Client.RuleViolation" and text.startswith("OutcomeNotAllowed")
    choice_id = card(bridge, cancel["Id"])["RelatedApplicationId"]
    assert card(bridge, choice_id)["Status"] == "9"
    code, text = fault(reply(bridge, choice_id))
    assert code == "Client.RuleViolation" and text.startswith("CancellationPending")
    assert reply(bridge, cancel["Id"], Outcome="CANCEL_FAILED", Comment="заявление уже исполнено").status_code == 200
    assert wait_status(bridge, cancel["Id"], "11")["CancelResult"] == "Ошибка отмены заявления"
    assert card(bridge, choice_id)["Status"] == "11"
    # After «Ошибка отмены» the next reply must be a choice-of-MO result …
    code, text = fault(reply(bridge, cancel["Id"], Outcome="CANCEL_APPROVED"))
    assert code == "Client.RuleViolation" and text.startswith("OutcomeNotAllowed")
    code, text = fault(reply(bridge, choice_id))
    assert code == "Client.RuleViolation" and text.startswith("AnswerThroughCancellation")
    assert reply(bridge, cancel["Id"]).status_code == 200
    assert wait_status(bridge, cancel["Id"], "3")["DoctorName"] == "Иванова Анна Петровна"
    assert card(bridge, choice_id)["Status"] == "3"


def test_cancellation_approved_cancels_the_choice(bridge: BridgeProcess, pool: Pool) -> None:
    cancel = pool.take("CANCELLATION", "6")
    assert reply(bridge, cancel["Id"], Outcome="CANCEL_APPROVED", Comment="по просьбе заявителя").status_code == 200
    done = wait_status(bridge, cancel["Id"], "10")
    assert done["StatusName"] == "Отменено" and done["RespondingEmployee"] == "Сидорова В. В."
    assert card(bridge, done["RelatedApplicationId"])["Status"] == "10"
    code, text = fault(reply(bridge, cancel["Id"], Outcome="CANCEL_APPROVED", Comment="ещё раз"))
    assert code == "Client.RuleViolation" and text.startswith("AlreadyAnswered")


def test_detachment_rules(bridge: BridgeProcess, pool: Pool) -> None:
    row = pool.take("DETACHMENT", "21")
    code, text = fault(reply(bridge, row["Id"], Outcome="DETACHED"))
    assert code == "Client.RuleViolation" and text.startswith("ReplyDateRequired")
    code, text = fault(reply(bridge, row["Id"], Outcome="DETACHED", ReplyDate="31.02.2026"))
    assert code == "Client.InvalidField" and text.startswith("ReplyDate")
    code, text = fault(reply(bridge, row["Id"], Outcome="REFUSED", RefusalReasonCode=2))
    assert code == "Client.RuleViolation" and text.startswith("OutcomeNotAllowed")
    assert reply(bridge, row["Id"], Outcome="DETACHED", ReplyDate="21.11.2026").status_code == 200
    assert wait_status(bridge, row["Id"], "3")["ReplyDate"] == "2026-11-21"


def test_a_duplicate_reply_is_a_no_op(bridge: BridgeProcess, pool: Pool) -> None:
    row = pool.take("CHOICE", "21")
    key = f"dup-{uuid.uuid4()}"
    first = reply(bridge, row["Id"], IdempotencyKey=key)
    wait_status(bridge, row["Id"], "3")   # even after delivery, the same key is the same reply
    second = reply(bridge, row["Id"], IdempotencyKey=key)
    assert b"<tns:Duplicate>false" in first.content or b"Duplicate>false" in first.content
    assert b"Duplicate>true" in second.content, second.text
    other = pool.take("CHOICE", "21")
    code, text = fault(reply(bridge, other["Id"], IdempotencyKey=key))
    assert code == "Client.RuleViolation" and text.startswith("IdempotencyKeyReused")
    replies = httpx.get(f"{bridge.sandbox_urls['egisz']}/_sandbox/egisz/replies", params={"task_id": row["Id"]}).json()
    assert len(replies) == 1


def test_a_reply_the_upstream_refuses_keeps_its_reason_on_the_card(bridge: BridgeProcess, pool: Pool) -> None:
    row = pool.take("CHOICE", "21")
    httpx.post(f"{bridge.sandbox_urls['egisz']}/_sandbox/egisz/reject-next",
               json={"count": 1, "code": "PRACTITIONER_UNKNOWN", "detail": "врач не найден в ФРМР"}).raise_for_status()
    assert reply(bridge, row["Id"]).status_code == 200
    deadline = time.monotonic() + 15
    current = card(bridge, row["Id"])
    while current["LastReplyErrorCode"] is None and time.monotonic() < deadline:
        time.sleep(0.2)
        current = card(bridge, row["Id"])
    assert current["LastReplyErrorCode"] == "PRACTITIONER_UNKNOWN"
    assert current["Status"] == "21" and current["ReplyPending"] == "false"
    assert reply(bridge, row["Id"], DoctorLastName="Петрова", DoctorFirstName="Ольга",
                 DoctorMiddleName="Ивановна").status_code == 200
    assert wait_status(bridge, row["Id"], "3")["DoctorName"] == "Петрова Ольга Ивановна"


def test_a_second_reply_while_one_is_in_flight_is_refused(bridge: BridgeProcess, pool: Pool) -> None:
    row = pool.take("CHOICE", "21")
    set_faults(bridge, 1.0, ["http_503"])  # hold the first reply in the queue
    try:
        assert reply(bridge, row["Id"]).status_code == 200
        code, text = fault(reply(bridge, row["Id"], Outcome="REFUSED", RefusalReasonCode=3))
        assert code == "Client.RuleViolation" and text.startswith("ReplyPending")
        assert card(bridge, row["Id"])["ReplyPending"] == "true"
    finally:
        set_faults(bridge, 0.0)
    wait_status(bridge, row["Id"], "3", seconds=30)


def test_applications_of_another_mo_are_not_found(bridge: BridgeProcess) -> None:
    code, text = fault(soap(bridge.url, "GetApplication", "<t:Id>no-such-application</t:Id>"))
    assert code == "Client.InvalidField" and text.startswith("Id:")
    code, text = fault(reply(bridge, "no-such-application"))
    assert code == "Client.InvalidField" and "вашей МО" in text


@pytest.mark.parametrize(
    ("criteria", "field"),
    [
        ({"PeriodFrom": "01.11.2026", "PeriodTo": "31.10.2026"}, "PeriodTo"),
        ({"PeriodFrom": "32.11.2026", "PeriodTo": "01.12.2026"}, "PeriodFrom"),
        ({"PeriodFrom": "01.11.2026", "PeriodTo": "02.11.2026", "Snils": "123"}, "Snils"),
    ],
)
def test_search_input_rules(bridge: BridgeProcess, criteria: dict[str, str], field: str) -> None:
    code, text = fault(soap(bridge.url, "SearchApplications", f"<t:Criteria>{fields(criteria)}</t:Criteria>"))
    assert code == "Client.InvalidField" and text.startswith(field), text


def test_search_needs_a_period(bridge: BridgeProcess) -> None:
    criteria = "<t:Criteria><t:Snils>11223344595</t:Snils></t:Criteria>"
    code, text = fault(soap(bridge.url, "SearchApplications", criteria))
    assert code.startswith("Client") and "PeriodFrom" in text


def test_search_filters(bridge: BridgeProcess, pool: Pool) -> None:
    row = pool.take("CHOICE", "21")
    full = card(bridge, row["Id"])
    by_snils = search(bridge, Snils=full["Snils"])
    assert row["Id"] in {r["Id"] for r in by_snils}
    by_guid = search(bridge, PatientGuid=full["PatientGuid"])
    assert {r["Id"] for r in by_guid} <= {r["Id"] for r in by_snils} | {row["Id"]}
    assert all(r["AttachmentType"] == "DENTAL" for r in search(bridge, AttachmentType="DENTAL"))



# --- the model as SAMSON's client sees it (LenchikTs/client, Registry/AttachOnlineService.py) --------------

def upstream_task(bridge: BridgeProcess, task_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{bridge.sandbox_urls['egisz']}/api/AttachMO/v1/tasks/{task_id}").json()
    return answer


def test_the_doctor_goes_upstream_in_samsons_columns(bridge: BridgeProcess, pool: Pool) -> None:
    """AttachMO_Complete fills PractitionerArea/Surname/Name/Patronymic/SNILS/SpecialityName and sets
    status «completed»: the bridge sends those columns, and the card shows the parts and the whole."""
    row = pool.take("CHOICE", "21")
    assert reply(bridge, row["Id"], DoctorSnils="112-233-445 95").status_code == 200
    done = wait_status(bridge, row["Id"], "3")
    doctor = (done["DoctorLastName"], done["DoctorFirstName"], done["DoctorMiddleName"])
    assert doctor == ("Иванова", "Анна", "Петровна")
    assert done["DoctorSnils"] == "11223344595" and done["DoctorSpecialty"] == "врач-терапевт участковый"
    assert done["DoctorName"] == "Иванова Анна Петровна" and done["DoctorPosition"] == "врач-терапевт участковый"
    assert upstream_task(bridge, row["Id"])["result"] == {
        "status": "completed", "statusComment": "Прикреплён", "employee": "Сидорова В. В.", "PractitionerArea": "7",
        "PractitionerSurname": "Иванова", "PractitionerName": "Анна", "PractitionerPatronymic": "Петровна",
        "PractitionerSNILS": "11223344595", "PractitionerSpecialityName": "врач-терапевт участковый"}
    logs = bridge.logs()
    assert "11223344595" not in logs and "112-233-445 95" not in logs and "Петровна" not in logs


def test_a_refusal_carries_a_reason_code_and_a_comment(bridge: BridgeProcess, pool: Pool) -> None:
    """AttachMO_Reject: status «rejected», reasonReject_id (soc_AttachMO_ReasonReject) and statusComment;
    SAMSON's own code 1 is «гражданин отозвал свое заявление»."""
    row = pool.take("CHOICE", "21")
    answer = reply(bridge, row["Id"], Outcome="REFUSED", RefusalReasonCode=1, Comment="гражданин отозвал заявление")
    assert answer.status_code == 200, answer.text
    done = wait_status(bridge, row["Id"], "4")
    assert (done["RefusalReasonCode"], done["RefusalReason"]) == ("1", "Гражданин отозвал своё заявление")
    assert done["ReplyComment"] == "гражданин отозвал заявление"
    assert upstream_task(bridge, row["Id"])["result"] == {
        "status": "rejected", "reasonReject_id": 1, "statusComment": "гражданин отозвал заявление",
        "employee": "Сидорова В. В."}


@pytest.mark.parametrize(("values", "code", "field"), [
    ({"DoctorSnils": "11223344596"}, "Client.InvalidField", "DoctorSnils"),      # a wrong check sum
    ({"DoctorSnils": "1122334459"}, "Client.InvalidField", "DoctorSnils"),
    ({"Outcome": "REFUSED", "RefusalReasonCode": 0}, "Client.InvalidField", "RefusalReasonCode"),
    ({"Outcome": "REFUSED", "RefusalReasonCode": "нет"}, "Client.SchemaValidationError", "RefusalReasonCode"),
    # a МИС still on the old contract (docs/egisz.md, «Contract change of 2026-12»)
    ({"DoctorName": "Иванова Анна Петровна"}, "Client.SchemaValidationError", "DoctorName"),
    ({"Outcome": "REFUSED", "RefusalReason": "нет мест"}, "Client.SchemaValidationError", "RefusalReason"),
])
def test_malformed_doctor_and_reason_are_client_faults(bridge: BridgeProcess, pool: Pool, values: dict[str, Any],
                                                       code: str, field: str) -> None:
    row = pool.take("CHOICE", "21")
    answer = reply(bridge, row["Id"], **values)
    got, text = fault(answer)
    assert answer.status_code == 500 and got == code and field in text, answer.text[-400:]
    assert "11223344596" not in text and "1122334459" not in text    # the value is not echoed
    assert card(bridge, row["Id"])["Status"] == "21"


def test_a_cancellation_of_a_detachment_can_only_be_refused(bridge: BridgeProcess, pool: Pool) -> None:
    """applyStatement: «Заявление на отмену открепления выполнить нельзя, его можно только отклонить!»;
    cancelStatement: «Заявление на открепление отклонить невозможно, его необходимо выполнить!»."""
    cancel = pool.take("CANCELLATION", "6", cancels="DETACHMENT")
    detachment_id = card(bridge, cancel["Id"])["RelatedApplicationId"]
    assert card(bridge, detachment_id)["Status"] == "21"      # not «Отменяется»: it is still to be executed
    code, text = fault(reply(bridge, cancel["Id"], Outcome="CANCEL_APPROVED", Comment="одобрено"))
    assert code == "Client.RuleViolation" and text.startswith("OutcomeNotAllowed") and "CANCEL_FAILED" in text
    assert reply(bridge, cancel["Id"], Outcome="CANCEL_FAILED", Comment="открепление выполняется").status_code == 200
    assert wait_status(bridge, cancel["Id"], "11")["CancelResult"] == "Ошибка отмены заявления"
    code, text = fault(reply(bridge, cancel["Id"], Outcome="SERVICE_PROVIDED"))
    assert code == "Client.RuleViolation" and text.startswith("AlreadyAnswered")
    assert card(bridge, detachment_id)["Status"] == "21"
    assert reply(bridge, detachment_id, Outcome="DETACHED", ReplyDate="21.11.2026").status_code == 200
    assert wait_status(bridge, detachment_id, "3")["ReplyDate"] == "2026-11-21"


def test_a_trustee_applicant_adoptp(bridge: BridgeProcess, pool: Pool) -> None:
    """relationshipDict: {'FTH': 'Отец', 'MTH': 'Мать', 'PRNFOST': 'Опекун', 'ADOPTP': 'Попечитель'}."""
    row = pool.take("CHOICE", "21")
    task = upstream_task(bridge, row["Id"])
    task.update(id=str(uuid.uuid4()), status="in-progress", result=None, applicant={
        "guid": str(uuid.uuid4()), "last_name": "Петров", "first_name": "Иван", "middle_name": "Сергеевич",
        "relationship": "ADOPTP"})
    httpx.post(f"{bridge.sandbox_urls['egisz']}/_sandbox/egisz/tasks", json=task).raise_for_status()
    assert intake(bridge) >= 1
    taken = card(bridge, task["id"])
    assert (taken["Relation"], taken["RelationName"], taken["ApplicantLastName"]) == ("TRUSTEE", "Попечитель", "Петров")


def test_samsons_own_upload_call_reaches_the_sandbox(bridge: BridgeProcess) -> None:
    """The request exactly as SAMSON's sendRequest makes it, with the `requests` library: the URL from
    urljoin(servicesURL, 'api/AttachMO/fhir') + '/' + '$UpdateTaskStatus', body json.dumps({'attach_id': id})
    as `data` (no Content-Type, no Idempotency-Key); 0 uploads every waiting reply («Выгрузить ожидающие»)."""
    from urllib.parse import urljoin

    import requests

    services_url = urljoin(bridge.sandbox_urls["egisz"] + "/", "api/AttachMO/fhir")
    response = requests.post(services_url + "/" + "$UpdateTaskStatus", data=json.dumps({"attach_id": 0}), timeout=10)
    assert response.request.headers.get("Content-Type") is None
    assert response.status_code == 200 and response.json()["result"] == "success"
    unknown = requests.post(services_url + "/" + "$UpdateTaskStatus", data=json.dumps({"attach_id": 987654}),
                            timeout=10)
    assert unknown.status_code >= 400 and unknown.json()["detail"]     # what SAMSON shows to the operator
