"""The sandbox ЕГИСЗ «Прикрепление онлайн», in-process: generated applications, paging, reply rules, idempotency."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
import warnings
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.egisz.sandbox import Batch, BatchSpec, EgiszRegistry, create_egisz_sandbox, generate_applications
from adapters.egisz.sandbox._generator import MSK
from adapters.egisz.sandbox._names import FEMALE_FIRST, MALE_FIRST, PATRONYMICS, SURNAMES
from bridge.identifiers import snils_checksum_ok
from bridge.sandbox import FaultPlan

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

    from adapters.esia.sandbox._people import enp_check_digit

MO1 = "1.2.643.5.1.13.13.12.2.22.1234"
MO2 = "1.2.643.5.1.13.13.12.2.22.5678"
FROM, TO = "2026-11-20T00:00:00+03:00", "2026-11-21T00:00:00+03:00"
TASKS = "/api/AttachMO/v1/tasks"
REPLY = "/api/AttachMO/fhir/$UpdateTaskStatus"
# Replies as SAMSON's client fills the columns of soc_AttachMO_Task (LenchikTs/client,
# Registry/AttachOnlineService.py: AttachMO_Complete, AttachMO_Reject); dateCompleted and employee are ours.
REPLIES = {
    "SERVICE_PROVIDED": {"status": "completed", "statusComment": "Прикреплён к участку", "PractitionerArea": "12",
                         "PractitionerSurname": "Иванова", "PractitionerName": "Анна",
                         "PractitionerPatronymic": "Петровна", "PractitionerSNILS": "11223344595",
                         "PractitionerSpecialityName": "врач-терапевт участковый", "employee": "Сидорова В. В."},
    "REFUSED": {"status": "rejected", "reasonReject_id": 2,
                "statusComment": "превышена численность прикреплённых к участку"},
    "CANCEL_APPROVED": {"status": "completed", "statusComment": "Отмена одобрена"},
    "CANCEL_FAILED": {"status": "rejected", "statusComment": "Заявление уже исполнено"},
    "DETACHED": {"status": "completed", "statusComment": "Откреплён", "dateCompleted": "2026-11-21"},
}
Generated = tuple[TestClient, EgiszRegistry, list[dict[str, Any]]]


def sandbox(**registry_options: Any) -> tuple[TestClient, EgiszRegistry]:
    registry = EgiszRegistry(**registry_options)
    return TestClient(create_egisz_sandbox(registry, FaultPlan())), registry


def generate(client: TestClient, count: int, mos: tuple[str, ...] = (MO1,), seed: int = 1,
             **shares: float) -> dict[str, Any]:
    response = client.post("/_sandbox/egisz/generate",
                           json={"mo": list(mos), "from": FROM, "to": TO, "count": count, "seed": seed, **shares})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def fetch_all(client: TestClient, mo: str = MO1, limit: int = 100,
              between_pages: Any = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"mo": mo, "from": FROM, "to": TO, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        response = client.get(TASKS, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        if between_pages is not None:
            between_pages(items)


def send(client: TestClient, task_id: str, body: Any, key: str | None = "auto") -> Any:
    headers = {} if key is None else {"Idempotency-Key": str(uuid.uuid4()) if key == "auto" else key}
    payload = {"attach_id": task_id, **body} if isinstance(body, dict) else body
    return client.post(REPLY, json=payload, headers=headers)


def cancellation_of(tasks: list[dict[str, Any]], order_type: int) -> dict[str, Any]:
    """The first cancellation of a choice (1) or of a detachment (2)."""
    by_id = {task["id"]: task for task in tasks}
    return next(task for task in of_type(tasks, 3) if by_id[task["related_task_id"]]["order_type"] == order_type)


def of_type(tasks: list[dict[str, Any]], order_type: int) -> list[dict[str, Any]]:
    return [task for task in tasks if task["order_type"] == order_type]


def _age(born: str, on: str) -> int:
    birth, day = date.fromisoformat(born), datetime.fromisoformat(on).date()
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


# --- generation ---------------------------------------------------------------------------------

def test_generated_applications_are_valid() -> None:
    spec = BatchSpec((MO1, MO2), datetime(2026, 11, 20, tzinfo=MSK), datetime(2026, 11, 21, tzinfo=MSK), 4000, seed=7)
    tasks = list(generate_applications(spec))
    by_id = {task["id"]: task for task in tasks}
    applications = of_type(tasks, 1) + of_type(tasks, 2)   # a cancellation repeats its choice's patient
    assert len(by_id) == 4000 and len({task["patient"]["snils"] for task in applications}) == len(applications)
    cancelled = Counter(task["related_task_id"] for task in of_type(tasks, 3))
    for task in tasks:
        patient = task["patient"]
        assert re.fullmatch(r"\d{3}-\d{3}-\d{3} \d{2}", patient["snils"])
        assert snils_checksum_ok(patient["snils"].replace("-", "").replace(" ", ""))
        number = patient["policy"]["number"]
        assert re.fullmatch(r"\d{16}", number) and enp_check_digit(number[:15]) == number[15]
        assert re.fullmatch(r"\+7\(9\d\d\)\d{7}", patient["phone"])
        assert "Алтайский край" in patient["reg_address"] and "Алтайский край" in patient["loc_address"]
        assert re.search(r"г\. (Барнаул|Бийск|Рубцовск)", patient["reg_address"])
        assert task["mo_oid"] in (MO1, MO2) and task["department_oid"].startswith(task["mo_oid"] + ".0.")
        assert FROM <= task["create_date"] == task["update_date"] < TO and task["status"] == "in-progress"
        female = patient["sex"] == "female"
        assert patient["first_name"] in (FEMALE_FIRST if female else MALE_FIRST)
        assert patient["middle_name"].endswith("на" if female else "ич")
        assert patient["last_name"] in {forms[int(female)] for forms in SURNAMES}
        child = _age(patient["birth_date"], task["create_date"]) < 18
        assert child == ("applicant" in task)
        assert (task["attachment_type"] == "PEDIATRIC") <= child
        assert task["attachment_type"] != "GYNECOLOGICAL" or female
        if child:
            applicant = task["applicant"]
            assert applicant["relationship"] in ("MTH", "FTH", "PRNFOST", "ADOPTP")   # SAMSON's four codes
            if applicant["relationship"] == "FTH":   # the child's patronymic is the father's name
                assert any(p[0] == applicant["first_name"] and patient["middle_name"] in p[1:] for p in PATRONYMICS)
            if applicant["relationship"] == "MTH":
                assert applicant["first_name"] in FEMALE_FIRST and applicant["middle_name"].endswith("на")
        if task["order_type"] == 3:
            choice = by_id[task["related_task_id"]]   # a choice, or a detachment (SAMSON cancels those too)
            assert choice["order_type"] in (1, 2) and choice["mo_oid"] == task["mo_oid"]
            assert choice["patient"] == patient and (choice["update_date"], choice["id"]) < (task["update_date"],
                                                                                            task["id"])
            assert cancelled[choice["id"]] == 1
        else:
            assert task["related_task_id"] is None
    shares = Counter(task["order_type"] for task in tasks)
    assert 300 <= shares[3] <= 500 and 300 <= shares[2] <= 500
    cancels = Counter(by_id[task["related_task_id"]]["order_type"] for task in of_type(tasks, 3))
    assert cancels[1] > cancels[2] > 0
    assert {task["applicant"]["relationship"] for task in tasks if "applicant" in task} == {
        "MTH", "FTH", "PRNFOST", "ADOPTP"}
    assert 1000 <= sum("applicant" in task for task in tasks) <= 1400
    assert Counter(task["attachment_type"] for task in tasks).keys() == {"THERAPEUTIC", "GYNECOLOGICAL", "DENTAL",
                                                                        "PEDIATRIC"}


def test_generation_is_deterministic_and_lazy() -> None:
    start, end = datetime(2026, 11, 20, tzinfo=MSK), datetime(2026, 11, 21, tzinfo=MSK)
    spec = BatchSpec((MO1,), start, end, 100_000, seed=3)
    batch = Batch(spec)
    assert batch.task(99_999) == Batch(BatchSpec((MO1,), start, end, 100_000, seed=3)).task(99_999)
    assert batch.task(5)["patient"] != Batch(BatchSpec((MO1,), start, end, 100_000, seed=4)).task(5)["patient"]
    lazy = generate_applications(spec, first=99_998)
    assert [task["id"] for task in lazy] == [batch.task_id(99_998), batch.task_id(99_999)]
    assert batch.index_of(batch.task_id(12_345)) == 12_345 and batch.index_of(str(uuid.uuid4())) is None
    with pytest.raises(ValueError):
        BatchSpec(("1.2.3",), start, end, 10)
    with pytest.raises(ValueError):
        BatchSpec((MO1,), end, start, 10)


def test_rows_and_lazy_batches_serve_the_same_tasks() -> None:
    rows_client, _ = sandbox(materialize_limit=10_000)
    lazy_client, _ = sandbox(materialize_limit=10)
    assert generate(rows_client, 700, (MO1, MO2))["lazy"] is False
    assert generate(lazy_client, 700, (MO1, MO2))["lazy"] is True
    assert fetch_all(rows_client, MO2, limit=64) == fetch_all(lazy_client, MO2, limit=64)
    again = generate(lazy_client, 700, (MO1, MO2))
    assert again["created"] is False
    assert lazy_client.get("/_sandbox/egisz/tasks/count").json() == {"count": 700}
    assert lazy_client.get("/_sandbox/egisz/tasks/count", params={"mo": MO1}).json() == {"count": 350}


# --- fetching -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "status", "field"), [
    ({"from": FROM, "to": TO}, 400, "mo"),
    ({"mo": "1.2.643.5.1.13.13.12", "from": FROM, "to": TO}, 400, "mo"),
    ({"mo": MO1, "to": TO}, 400, "from"),
    ({"mo": MO1, "from": "20.11.2026", "to": TO}, 400, "from"),
    ({"mo": MO1, "from": "2026-11-20T00:00:00", "to": TO}, 400, "from"),
    ({"mo": MO1, "from": TO, "to": FROM}, 400, "to"),
    ({"mo": MO1, "from": FROM, "to": TO, "limit": "0"}, 400, "limit"),
    ({"mo": MO1, "from": FROM, "to": TO, "limit": "1001"}, 400, "limit"),
    ({"mo": MO1, "from": FROM, "to": TO, "limit": "ten"}, 400, "limit"),
    ({"mo": MO1, "from": FROM, "to": TO, "cursor": "not-a-cursor"}, 400, "cursor"),
    ({"mo": MO2, "from": FROM, "to": TO}, 403, None),
])
def test_bad_queries_are_refused(params: dict[str, str], status: int, field: str | None) -> None:
    client, _ = sandbox(mos=[MO1])
    response = client.get(TASKS, params=params)
    assert response.status_code == status
    if field is None:
        assert response.json() == {"detail": "MO is not served by this client"}
    else:
        assert response.json()["field"] == field and response.json()["detail"]


def test_a_cursor_only_continues_its_own_query() -> None:
    client, _ = sandbox()
    generate(client, 50)
    cursor = client.get(TASKS, params={"mo": MO1, "from": FROM, "to": TO, "limit": "10"}).json()["next_cursor"]
    other = client.get(TASKS, params={"mo": MO1, "from": "2026-11-20T06:00:00+03:00", "to": TO, "cursor": cursor})
    assert other.status_code == 400 and other.json()["field"] == "cursor"


def test_one_task_by_id_and_unknown_ids() -> None:
    client, _ = sandbox(materialize_limit=10)
    answer = generate(client, 30)
    first = client.get(f"{TASKS}/{answer['first_task_id']}")
    assert first.status_code == 200 and first.json() == fetch_all(client)[0]
    for unknown in (str(uuid.uuid4()), answer["first_task_id"][:-12] + "ffffffffffff"):
        response = client.get(f"{TASKS}/{unknown}")
        assert response.status_code == 404 and response.json() == {"detail": "Task not found"}
        assert send(client, unknown, REPLIES["REFUSED"]).status_code == 404


def test_the_window_is_half_open_on_update_date() -> None:
    client, registry = sandbox()
    for name, moment in (("at-from", FROM), ("at-to", TO), ("before", "2026-11-19T23:59:59+03:00"),
                         ("utc-inside", "2026-11-20T20:59:59+00:00")):
        registry.put_task({"id": name, "mo_oid": MO1, "order_type": 1, "create_date": moment, "update_date": moment})
    assert [task["id"] for task in fetch_all(client)] == ["at-from", "utc-inside"]


def test_a_window_with_fractional_seconds_holds_its_whole_batch() -> None:
    client, _ = sandbox(materialize_limit=10)
    start, end = "2026-11-20T09:00:00.250000+03:00", "2026-11-20T09:00:10.500000+03:00"
    body = {"mo": [MO1], "from": start, "to": end, "count": 30}
    assert client.post("/_sandbox/egisz/generate", json=body).status_code == 200
    page = client.get(TASKS, params={"mo": MO1, "from": start, "to": end, "limit": "100"}).json()
    assert len(page["items"]) == 30 and page["next_cursor"] is None
    assert {task["update_date"][:19] for task in page["items"]} <= {f"2026-11-20T09:00:{s:02d}" for s in range(1, 11)}


def test_paging_covers_every_task_once_while_replies_land_between_pages() -> None:
    client, registry = sandbox(materialize_limit=500)
    generate(client, 400, (MO1, MO2), seed=11)          # rows
    generate(client, 1500, (MO1, MO2), seed=12)         # a lazy batch
    registry.put_task({"id": "fixture-1", "mo_oid": MO1, "order_type": 2, "create_date": FROM,
                       "update_date": "2026-11-20T12:00:00+03:00"})
    ahead = [task for task in fetch_all(client, MO1, limit=1000) if task["order_type"] == 1]
    answered: dict[str, str] = {}

    def reply_to_some(seen: list[dict[str, Any]]) -> None:
        # between every two pages: answer a choice already fetched and one not fetched yet
        fetched = {task["id"] for task in seen}
        behind = next(task for task in reversed(seen) if task["order_type"] == 1)
        coming = next(task for task in ahead if task["id"] not in fetched and task["id"] not in answered)
        for task in (behind, coming):
            if task["id"] not in answered:
                assert send(client, task["id"], REPLIES["REFUSED"]).status_code == 200
                answered[task["id"]] = "rejected"

    items = fetch_all(client, MO1, limit=37, between_pages=reply_to_some)
    keys = [(datetime.fromisoformat(task["update_date"]), task["id"]) for task in items]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert len(items) == client.get("/_sandbox/egisz/tasks/count", params={"mo": MO1}).json()["count"] == 951
    assert "fixture-1" in {task["id"] for task in items} and len(answered) > 20
    again = {task["id"]: task for task in fetch_all(client, MO1, limit=1000)}
    assert all(again[task_id]["status"] == status for task_id, status in answered.items())


# --- replies ------------------------------------------------------------------------------------

@pytest.fixture()
def tasks() -> Generated:
    client, registry = sandbox()
    generate(client, 300, seed=1)   # seed 1 holds cancellations of both kinds
    return client, registry, fetch_all(client, limit=1000)


def _with(kind: str, /, **changes: Any) -> dict[str, Any]:
    body = {**REPLIES[kind], **changes}
    return {key: value for key, value in body.items() if value is not None}


@pytest.mark.parametrize(("order_type", "body", "code", "field"), [
    (1, _with("SERVICE_PROVIDED", statusComment=" "), "MISSING_FIELD", "statusComment"),
    (1, _with("SERVICE_PROVIDED", PractitionerArea=None), "MISSING_FIELD", "PractitionerArea"),
    (1, _with("SERVICE_PROVIDED", PractitionerSurname=None), "MISSING_FIELD", "PractitionerSurname"),
    (1, _with("SERVICE_PROVIDED", PractitionerSNILS=None), "MISSING_FIELD", "PractitionerSNILS"),
    (1, _with("SERVICE_PROVIDED", PractitionerSpecialityName=""), "MISSING_FIELD", "PractitionerSpecialityName"),
    (1, _with("DETACHED"), "MISSING_FIELD", "PractitionerArea"),     # completing a choice is «Услуга оказана»
    (1, _with("REFUSED", reasonReject_id=None), "MISSING_FIELD", "reasonReject_id"),
    (2, _with("REFUSED"), "OUTCOME_NOT_ALLOWED", None),     # SAMSON: a detachment cannot be rejected
    (2, _with("DETACHED", dateCompleted=None), "MISSING_FIELD", "dateCompleted"),
    (2, _with("DETACHED", statusComment=None), "MISSING_FIELD", "statusComment"),
    (3, _with("CANCEL_FAILED", statusComment=None), "MISSING_FIELD", "statusComment"),
])
def test_replies_breaking_a_rule_are_refused_with_a_code(
        tasks: Generated, order_type: int, body: dict[str, Any],
        code: str, field: str | None) -> None:
    client, registry, items = tasks
    task = of_type(items, order_type)[0]
    response = send(client, task["id"], body)
    assert response.status_code == 409
    assert response.json()["code"] == code and response.json()["detail"]
    assert response.json().get("field") == field
    assert registry.reply_count() == 0 and client.get(f"{TASKS}/{task['id']}").json()["status"] == "in-progress"


@pytest.mark.parametrize(("body", "field"), [
    ([1, 2], "body"),
    ({"status": "rejected", "reasonReject_id": 2, "statusComment": "x"}, "attach_id"),
    ({"attach_id": True}, "attach_id"),
    ({"attach_id": -1}, "attach_id"),
    (_with("REFUSED", refusalReason="x"), "refusalReason"),
    (_with("REFUSED", outcome="REFUSED"), "outcome"),        # our old wire field: SAMSON has none
    (_with("REFUSED", status="done"), "status"),
    (_with("REFUSED", statusComment=42), "statusComment"),
    (_with("REFUSED", reasonReject_id="2"), "reasonReject_id"),
    (_with("REFUSED", reasonReject_id=0), "reasonReject_id"),
    (_with("SERVICE_PROVIDED", PractitionerSNILS="112-233-445 95"), "PractitionerSNILS"),
    (_with("SERVICE_PROVIDED", practitioner={"name": "И"}), "practitioner"),
    (_with("DETACHED", dateCompleted="21.11.2026"), "dateCompleted"),
    (_with("DETACHED", dateCompleted="2026-02-30"), "dateCompleted"),
])
def test_malformed_replies_are_422_naming_the_field(
        tasks: Generated, body: Any, field: str) -> None:
    client, _, items = tasks
    payload = {"attach_id": items[0]["id"], **body} if isinstance(body, dict) and field != "attach_id" else body
    response = client.post(REPLY, json=payload)
    assert response.status_code == 422 and response.json()["field"] == field


def test_a_reply_needs_json_and_a_known_task_and_the_key_is_optional(tasks: Generated) -> None:
    client, _, items = tasks
    choice = of_type(items, 1)[0]
    raw = client.post(REPLY, content=b"{not json", headers={"Idempotency-Key": "k-raw"})
    assert raw.status_code == 422 and raw.json()["field"] == "body"
    assert send(client, "no-such-task", REPLIES["REFUSED"]).status_code == 404
    # SAMSON sends no Idempotency-Key: the sandbox takes a reply without one ...
    assert send(client, choice["id"], REPLIES["REFUSED"], key=None).status_code == 200
    # ... unless it is told to require it
    strict, _ = sandbox(require_idempotency_key=True)
    generate(strict, 5, detachment_share=0.0, cancellation_share=0.0)
    task_id = fetch_all(strict)[0]["id"]
    keyless = send(strict, task_id, REPLIES["REFUSED"], key=None)
    assert keyless.status_code == 422 and keyless.json()["field"] == "Idempotency-Key"


def test_each_kind_is_answered_once(tasks: Generated) -> None:
    client, registry, items = tasks
    cancelled = {task["related_task_id"] for task in of_type(items, 3)}
    choice = next(task for task in of_type(items, 1) if task["id"] not in cancelled)
    for task, outcome, status in ((choice, "SERVICE_PROVIDED", "completed"), (of_type(items, 2)[0], "DETACHED",
                                                                              "completed")):
        answer = send(client, task["id"], REPLIES[outcome])
        assert answer.status_code == 200 and answer.json()["result"] == "success"
        assert answer.json()["task"]["status"] == status and answer.json()["task"]["result"] == REPLIES[outcome]
        assert client.get(f"{TASKS}/{task['id']}").json() == answer.json()["task"]
        again = send(client, task["id"], REPLIES[outcome])
        assert again.status_code == 409 and again.json()["code"] == "ALREADY_ANSWERED"
    assert registry.reply_count() == 2


def test_cancellation_approved_rejects_the_choice(tasks: Generated) -> None:
    client, registry, items = tasks
    cancellation = cancellation_of(items, 1)
    choice_id = cancellation["related_task_id"]
    assert client.get(f"{TASKS}/{choice_id}").json()["status"] == "in-progress"   # «Отменяется» is the bridge's
    answer = send(client, cancellation["id"], REPLIES["CANCEL_APPROVED"])
    assert answer.status_code == 200 and answer.json()["task"]["status"] == "completed"
    choice = client.get(f"{TASKS}/{choice_id}").json()
    # as SAMSON executes a cancellation: the choice is rejected with reason 1, «гражданин отозвал свое заявление»
    assert choice["status"] == "rejected" and choice["result"]["reasonReject_id"] == 1
    assert "отозвал" in choice["result"]["statusComment"]
    late = send(client, choice_id, REPLIES["SERVICE_PROVIDED"])
    assert late.status_code == 409 and late.json()["code"] == "ALREADY_ANSWERED"
    assert registry.reply_count(cancellation["id"]) == 1 and registry.reply_count(choice_id) == 0


@pytest.mark.parametrize("answered_first", [False, True])
def test_a_choice_whose_cancellation_failed_still_takes_an_outcome(
        tasks: Generated, answered_first: bool) -> None:
    client, registry, items = tasks
    cancellation = cancellation_of(items, 1)
    choice_id = cancellation["related_task_id"]
    if answered_first:
        assert send(client, choice_id, REPLIES["REFUSED"]).status_code == 200
    failed = send(client, cancellation["id"], REPLIES["CANCEL_FAILED"])
    assert failed.status_code == 200 and failed.json()["task"]["status"] == "rejected"
    assert client.get(f"{TASKS}/{choice_id}").json()["status"] == ("rejected" if answered_first else "in-progress")
    wrong = send(client, choice_id, REPLIES["CANCEL_APPROVED"])   # completing a choice needs the doctor
    assert wrong.status_code == 409 and wrong.json()["code"] == "MISSING_FIELD"
    provided = send(client, choice_id, REPLIES["SERVICE_PROVIDED"])
    assert provided.status_code == 200 and provided.json()["task"]["status"] == "completed"
    assert send(client, choice_id, REPLIES["REFUSED"]).json()["code"] == "ALREADY_ANSWERED"
    assert send(client, cancellation["id"], REPLIES["CANCEL_APPROVED"]).json()["code"] == "ALREADY_ANSWERED"
    assert registry.reply_count(choice_id) == (2 if answered_first else 1)


def test_idempotency_key(tasks: Generated) -> None:
    client, _, items = tasks
    first_task, second_task = of_type(items, 1)[0], of_type(items, 1)[1]
    first = send(client, first_task["id"], REPLIES["REFUSED"], key="key-1")
    again = send(client, first_task["id"], REPLIES["REFUSED"], key="key-1")
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    counted = client.get("/_sandbox/egisz/replies/count", params={"task_id": first_task["id"]}).json()
    assert counted == {"count": 1}
    conflict = {"detail": "Idempotency-Key reused with another reply", "code": "IDEMPOTENCY_CONFLICT"}
    other_body = send(client, first_task["id"], REPLIES["SERVICE_PROVIDED"], key="key-1")
    other_task = send(client, second_task["id"], REPLIES["REFUSED"], key="key-1")
    assert other_body.status_code == other_task.status_code == 422
    assert other_body.json() == other_task.json() == conflict
    log = client.get("/_sandbox/egisz/replies").json()
    assert [(entry["task_id"], entry["idempotency_key"], entry["outcome"]) for entry in log] == [
        (first_task["id"], "key-1", "REFUSED")]
    assert set(log[0]) == {"id", "task_id", "idempotency_key", "outcome", "status", "applied_at"}
    # a refused reply is not remembered: its key may carry the corrected reply
    refused = send(client, second_task["id"], _with("REFUSED", reasonReject_id=None), key="key-2")
    assert refused.status_code == 409
    assert send(client, second_task["id"], REPLIES["REFUSED"], key="key-2").status_code == 200


def test_reject_next(tasks: Generated) -> None:
    client, registry, items = tasks
    choices = of_type(items, 1)
    applied = send(client, choices[0]["id"], REPLIES["REFUSED"], key="applied")
    told = client.post("/_sandbox/egisz/reject-next", json={"count": 2, "code": "AREA_FULL", "detail": "Участок полон"})
    assert told.json() == {"pending": 2}
    assert send(client, choices[0]["id"], REPLIES["REFUSED"], key="applied").json() == applied.json()   # a replay
    for _ in range(2):
        refused = send(client, choices[1]["id"], REPLIES["SERVICE_PROVIDED"])
        assert refused.status_code == 409 and refused.json() == {"detail": "Участок полон", "code": "AREA_FULL"}
    assert send(client, choices[1]["id"], REPLIES["SERVICE_PROVIDED"]).status_code == 200
    assert registry.reply_count() == 2
    client.post("/_sandbox/egisz/reject-next", json={"count": 1})
    assert send(client, choices[2]["id"], REPLIES["REFUSED"]).json()["code"] == "UPSTREAM_REJECTED"


def test_a_cancellation_of_a_detachment_can_only_be_rejected(tasks: Generated) -> None:
    """SAMSON (LenchikTs/client, Registry/AttachOnlineService.py, applyStatement): «Заявление на отмену
    открепления выполнить нельзя, его можно только отклонить»; the detachment is still to be executed."""
    client, registry, items = tasks
    cancellation = cancellation_of(items, 2)
    detachment_id = cancellation["related_task_id"]
    executed = send(client, cancellation["id"], REPLIES["CANCEL_APPROVED"])
    assert executed.status_code == 409 and executed.json()["code"] == "OUTCOME_NOT_ALLOWED"
    rejected = send(client, cancellation["id"], REPLIES["CANCEL_FAILED"])
    assert rejected.status_code == 200 and rejected.json()["task"]["status"] == "rejected"
    detachment = client.get(f"{TASKS}/{detachment_id}").json()
    assert detachment["status"] == "in-progress" and detachment["result"] is None
    assert send(client, detachment_id, REPLIES["DETACHED"]).status_code == 200
    assert registry.reply_count(cancellation["id"]) == registry.reply_count(detachment_id) == 1


def test_samsons_upload_calls(tasks: Generated) -> None:
    """SAMSON's exact request: ``requests.post(servicesURL + '/$UpdateTaskStatus', data=json.dumps({'attach_id':
    id}))`` — no Content-Type, no Idempotency-Key, the reply already in the task's row — and
    ``{'attach_id': 0}``, «Выгрузить ожидающие» (LenchikTs/client, Registry/AttachOnlineService.py: sendRequest,
    uploadTasks). A refused upload keeps the row waiting with ``error_upload``, as SAMSON's table does."""
    client, registry, items = tasks
    first, second = of_type(items, 1)[0], of_type(items, 1)[1]
    client.post("/_sandbox/egisz/reject-next", json={"count": 2, "code": "SERVICE_BUSY", "detail": "Сервис занят"})
    for task in (first, second):
        assert send(client, task["id"], REPLIES["REFUSED"]).status_code == 409
    waiting = client.get("/_sandbox/egisz/uploads", params={"need_upload": "true"}).json()
    assert [(row["attach_id"], row["error_upload"]) for row in waiting] == sorted(
        [(first["id"], "Сервис занят"), (second["id"], "Сервис занят")])

    def samson(attach_id: object) -> Any:
        return client.post(REPLY, content=json.dumps({"attach_id": attach_id}).encode())

    one = samson(first["id"])
    assert one.status_code == 200 and one.json()["result"] == "success"
    assert one.json()["task"]["status"] == "rejected" and one.json()["task"]["result"] == REPLIES["REFUSED"]
    nothing = samson(first["id"])
    assert nothing.status_code == 409 and nothing.json()["code"] == "NOTHING_TO_UPLOAD" and nothing.json()["detail"]
    assert samson("no-such-task").status_code == 404
    everything = samson(0)
    assert everything.status_code == 200
    assert everything.json() == {"result": "success", "uploaded": 1, "failed": []}
    assert client.get("/_sandbox/egisz/uploads", params={"need_upload": "true"}).json() == []
    rows = client.get("/_sandbox/egisz/uploads").json()
    assert all(row["uploadDate"] and row["error_upload"] is None for row in rows) and len(rows) == 2
    assert registry.reply_count(first["id"]) == registry.reply_count(second["id"]) == 1
    assert samson(0).json() == {"result": "success", "uploaded": 0, "failed": []}


# --- control API, faults, persistence -----------------------------------------------------------

def test_faults_spare_the_control_api_and_reset_clears_everything() -> None:
    client, registry = sandbox(mos=[MO2])
    generate(client, 20)
    assert client.put("/_sandbox/faults", json={"rate": 1.0, "kinds": ["http_503"]}).status_code == 200
    assert client.get(TASKS, params={"mo": MO1, "from": FROM, "to": TO}).status_code == 503
    assert client.get("/_sandbox/egisz/tasks/count").json() == {"count": 20}
    assert client.post("/_sandbox/egisz/generate", json={"mo": ["1.2.3"], "from": FROM, "to": TO,
                                                         "count": 1}).status_code == 422
    assert client.post("/_sandbox/egisz/mos", json={"mo": [MO1]}).json() == {"mo": [MO1, MO2]}
    assert client.post("/_sandbox/egisz/reset").json() == {"reset": True}
    assert client.get("/_sandbox/egisz/tasks/count").json() == {"count": 0}
    assert client.get("/_sandbox/egisz/mos").json() == {"mo": [MO2]}
    assert client.get(TASKS, params={"mo": MO2, "from": FROM, "to": TO}).json() == {"items": [], "next_cursor": None}
    assert registry.reply_count() == 0


def test_a_file_store_keeps_batches_and_replies(tmp_path: Path) -> None:
    path = str(tmp_path / "egisz.sqlite")
    client, _ = sandbox(path=path, materialize_limit=10)
    task_id = generate(client, 100)["first_task_id"]
    assert send(client, task_id, REPLIES["REFUSED"] if client.get(f"{TASKS}/{task_id}").json()["order_type"] == 1
                else REPLIES["DETACHED"]).status_code == 200
    reopened = EgiszRegistry(path=path)
    assert reopened.count_tasks() == 100 and reopened.reply_count(task_id) == 1 and reopened.serves(MO1)
    task = reopened.task(task_id)
    assert task is not None and task["status"] in ("rejected", "completed")


# --- scale --------------------------------------------------------------------------------------

_PAGE_100K = """
import json, sys, tracemalloc
from datetime import datetime
from adapters.egisz.sandbox import BatchSpec, EgiszRegistry
from adapters.egisz.sandbox._generator import MSK
from adapters.egisz.sandbox._paging import parse_query

mo, start, end = sys.argv[1], datetime.fromisoformat(sys.argv[2]), datetime.fromisoformat(sys.argv[3])
registry = EgiszRegistry()
assert registry.generate(BatchSpec((mo,), start, end, 100_000, seed=42))["lazy"]
query = parse_query({"mo": mo, "from": sys.argv[2], "to": sys.argv[3], "limit": "500"})
def kib(field):   # VmHWM, unlike ru_maxrss, is this image's own: not the forking parent's
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))
rss_before = kib("VmRSS:")
seen, pages, last, traced_peak = 0, 0, (0, ""), 0
tracemalloc.start()
while True:
    items, cursor = registry.page(query)
    for task in items:
        key = (int(datetime.fromisoformat(task["update_date"]).timestamp()), task["id"])
        assert key > last, "out of order or repeated"
        last = key
    seen, pages = seen + len(items), pages + 1
    if pages == 20:   # tracemalloc slows the generator fivefold: trace the first 10,000 tasks only
        traced_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    if cursor is None:
        break
    query = query.with_cursor(cursor)
print(json.dumps({"seen": seen, "pages": pages, "rss_growth": (kib("VmHWM:") - rss_before) * 1024,
                  "traced_peak": traced_peak}))
"""


def test_100k_tasks_page_in_bounded_memory() -> None:
    client, _ = sandbox()
    assert generate(client, 100_000, seed=42)["lazy"] is True
    assert client.get("/_sandbox/egisz/tasks/count").json() == {"count": 100_000}
    deep = client.get(TASKS, params={"mo": MO1, "from": "2026-11-20T23:59:00+03:00", "to": TO, "limit": "500"})
    assert deep.status_code == 200 and 0 < len(deep.json()["items"]) < 100
    # All 100,000 paged in a fresh process: its high-water RSS (sqlite's memory included) bounds the sandbox side.
    # (VmHWM also counts the import-time peak, so the growth figure can only err high.)
    run = subprocess.run([sys.executable, "-c", _PAGE_100K, MO1, FROM, TO], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    assert figures["seen"] == 100_000 and figures["pages"] == 200
    assert figures["rss_growth"] < 50 * 2**20 and figures["traced_peak"] < 50 * 2**20, figures
    print(f"paging 100,000 lazily generated tasks in pages of 500: RSS growth {figures['rss_growth'] / 2**20:.1f} MiB,"
          f" tracemalloc peak over the first 10,000 {figures['traced_peak'] / 2**20:.1f} MiB")
