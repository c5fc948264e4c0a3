"""With the sandbox СМЭВ failing 30% of calls (5xx, stalls, drops before and after processing), answers
stay right and nobody is registered twice: the МИС presses again after a Server fault, as a registrar
would, and the repeat joins the request already in flight (docs/esia-accounts.md «Pressing again»). With every
Ack lost at the node (faults aimed at one operation), the answers are redelivered before their Ack and applied
once."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bridgeproc import BridgeProcess, start_bridge
from tests.conftest import make_patient
from tests.esia_smev import (
    REGISTER,
    accounts_with,
    assert_no_personal_data,
    journal,
    node_count,
    node_grew,
    node_stats,
    set_node_faults,
    wait_for,
)
from tests.soapcall import call, envelope


def passport() -> dict[str, str]:
    """Each person their own passport: ЕСИА finds an account by the passport too."""
    return {"PassportSeries": "6710", "PassportNumber": f"{random.randint(0, 999_999):06d}",
            "PassportIssueDate": "01.09.2004"}


CHAOS_CONFIG: dict[str, Any] = {
    "upstreams": {
        "smev": {
            "base_url": "http://127.0.0.1:1",  # replaced by the sandbox address
            "connect_timeout": 0.5,
            "read_timeout": 0.8,
            "max_attempts": 6,
            "backoff_initial": 0.02,
            "backoff_max": 0.2,
            "retry_budget_seconds": 10,
            "circuit_fail_max": 50,
        }
    },
    "adapter_settings": {"esia": {"answer_wait_seconds": 4}},
    "log_level": "INFO",
}


@pytest.fixture(scope="module")
def chaotic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeProcess]:
    process = start_bridge(tmp_path_factory.mktemp("chaos"), config=CHAOS_CONFIG)
    with process.sandbox("esia") as esia:
        esia.put("/_sandbox/reg-service", json={"delay_seconds": 0.1}).raise_for_status()
    # An answer handed out in a GetResponse whose HTTP answer is then lost comes again after the node's
    # visibility timeout (30 s by default): a few seconds here, so that two such losses in a row do not
    # outlast the МИС's presses (they failed the test once under load).
    with process.sandbox("smev") as smev:
        smev.put("/_sandbox/smev/settings", json={"visibility_timeout_seconds": 3}).raise_for_status()
    yield process
    process.stop()


def soap(bridge: BridgeProcess, operation: str, patient: dict[str, Any]) -> Any:
    return call(f"{bridge.url}/soap/esia-accounts", operation, envelope(operation, patient),
                soap_action=f'"{operation}"')


def set_faults(bridge: BridgeProcess, rate: float) -> None:
    with bridge.sandbox("smev") as sandbox:
        sandbox.put("/_sandbox/faults", json={"rate": rate, "stall_seconds": 1.0, "seed": 7}).raise_for_status()


def injected(bridge: BridgeProcess) -> dict[str, int]:
    with bridge.sandbox("smev") as sandbox:
        return dict(sandbox.get("/_sandbox/faults").json()["injected"])


def until_answered(bridge: BridgeProcess, operation: str, patient: dict[str, Any], tries: int = 30) -> Any:
    """What a МИС does after a Server fault: try again, with the same data."""
    for _ in range(tries):
        answer = soap(bridge, operation, patient)
        if answer.status == 200 or not (answer.faultcode or "").startswith("Server"):
            return answer
        time.sleep(0.2)
    return answer


def test_check_patient_answers_correctly_under_faults(chaotic: BridgeProcess) -> None:
    known = make_patient(**passport())
    set_faults(chaotic, 0.0)
    assert soap(chaotic, "RegisterPatient", known).status == 200
    set_faults(chaotic, 0.3)
    unknown = make_patient()
    results = []
    for i in range(10):
        patient = known if i % 2 else unknown
        answer = until_answered(chaotic, "CheckPatient", patient)
        assert answer.status == 200, (answer.faultcode, answer.faultstring)
        results.append((patient is known, answer.text("Result")))
    assert all(res == (["MATCH"] if is_known else ["NOT_FOUND"]) for is_known, res in results)
    faults = injected(chaotic)
    assert sum(faults.values()) >= 5, f"the sandbox should have failed calls: {faults}"
    set_faults(chaotic, 0.0)


def test_register_never_creates_two_accounts_under_faults(chaotic: BridgeProcess, tmp_path: Path) -> None:
    set_faults(chaotic, 0.3)
    patients = [make_patient(**passport()) for _ in range(5)]
    registered = []
    for patient in patients:
        answer = until_answered(chaotic, "RegisterPatient", patient)
        if answer.status != 200:
            # The first attempt registered the account but its answer was lost; the bridge
            # must then say so (a rule), never register a second account.
            assert answer.faultcode in ("Client.RuleViolation",), (answer.faultcode, answer.faultstring)
        else:
            registered.append(patient["Snils"])
    kinds = injected(chaotic)
    set_faults(chaotic, 0.0)
    for patient in patients:
        assert accounts_with(chaotic.sandbox_urls["esia"], patient["Snils"]) == 1, patient["Snils"]
        check = until_answered(chaotic, "CheckPatient", patient)
        assert check.text("Result") == ["MATCH"], check.body
    assert len(registered) >= len(patients) - 1, "most registrations must be answered as done"
    assert sum(kinds.values()) > 0


def test_an_answer_redelivered_before_its_ack_is_recognised_and_applied_once(chaotic: BridgeProcess) -> None:
    """Every Ack lost at the node (dropped before processing, SendRequest and GetResponse untouched): the
    answers are stored and the МИС answered; the node hands them out again after its visibility timeout; the
    bridge finds them in its journal (a second delivery, nothing applied); faults cleared, they are
    acknowledged and the queue empties. One register SendRequest, one account."""
    smev = chaotic.sandbox_urls["smev"]
    db = chaotic.log_path.parent / "bridge.db"
    patient = make_patient(**passport())
    before = node_stats(smev)
    known = {row["id"] for row in journal(db, REGISTER)}
    set_node_faults(smev, rate=1.0, kinds=["drop"], operations=["Ack"], seed=3)
    with chaotic.sandbox("smev") as node:
        node.put("/_sandbox/smev/settings", json={"visibility_timeout_seconds": 1}).raise_for_status()
    try:
        answer = until_answered(chaotic, "RegisterPatient", patient)
        assert answer.status == 200 and answer.text("Login") == [patient["Snils"]], answer.body
        [exchange] = [row for row in journal(db, REGISTER) if row["id"] not in known]
        assert exchange["state"] == "answered" and exchange["received"][0]["acknowledged_at"] is None
        wait_for(lambda: node_grew(smev, before, REGISTER, "redelivered"), "the node hands the answer out again")

        def delivered_again() -> bool:
            [now] = [row for row in journal(db, REGISTER) if row["id"] == exchange["id"]]
            return bool(now["received"][0]["deliveries"] >= 2)

        wait_for(delivered_again, "the bridge takes the redelivered answer and finds it in its journal")
        assert injected(chaotic).get("drop", 0) >= 2  # the Acks were lost, every one
    finally:
        set_node_faults(smev)
        with chaotic.sandbox("smev") as node:
            node.put("/_sandbox/smev/settings", json={"visibility_timeout_seconds": 3}).raise_for_status()
    wait_for(lambda: node_stats(smev)["queued"] == 0, "every answer acknowledged once the Acks work")
    after = node_stats(smev)
    assert node_count(after, REGISTER, "SendRequest") - node_count(before, REGISTER, "SendRequest") == 1
    assert node_count(after, REGISTER, "Ack") - node_count(before, REGISTER, "Ack") == 1
    [exchange] = [row for row in journal(db, REGISTER) if row["id"] not in known]
    [received] = exchange["received"]  # one message, stored once: applied once
    assert exchange["state"] == "acknowledged" and exchange["answer_message_id"] == received["message_id"]
    assert received["outcome"] == "answer" and received["deliveries"] >= 2 and received["acknowledged_at"]
    assert accounts_with(chaotic.sandbox_urls["esia"], patient["Snils"]) == 1
    assert_no_personal_data(chaotic.logs(), patient)
