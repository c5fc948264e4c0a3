"""SIGKILL of the real ``bridge serve`` process at the two moments that matter in an exchange over СМЭВ, the
sandbox peers (СМЭВ node, ЕСИА behind it) running as their own process so that they keep their state and
count: a new bridge on the same store loses nothing and repeats nothing (docs/smev.md «Crash safety»).

* between SendRequest and its answer: the repeat press joins the request already sent, the new bridge takes
  its answer; the node counted ONE register SendRequest, ЕСИА holds ONE account;
* between storing an answer and acknowledging it (every Ack stalled at the node): the repeat press gets the
  answer from the store, nothing is sent; the node hands the unacknowledged answer out again after its
  visibility timeout and the new bridge acknowledges it without applying it a second time.

Every wait is on a condition with a deadline; the evidence is what the node and ЕСИА count and the
bridge's journal (its SQLite store, read-only).
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bridgeproc import BridgeProcess, SandboxProcess, start_bridge, start_sandbox
from tests.conftest import make_patient
from tests.esia_smev import (
    FIND_ACCOUNT,
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
from tests.soapcall import SoapAnswer, call, envelope

VISIBILITY_SECONDS = 2.0  # the node hands an unacknowledged answer out again after this


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("kill-peers"), adapters=("esia",))
    assert {"smev", "esia"} <= set(sandbox.sandbox_urls), sandbox.sandbox_urls  # the node and ЕСИА behind it
    httpx.put(f"{sandbox.sandbox_urls['smev']}/_sandbox/smev/settings",
              json={"visibility_timeout_seconds": VISIBILITY_SECONDS}, timeout=10).raise_for_status()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def bridges() -> Iterator[list[BridgeProcess]]:
    """The bridges a test started: stopped at its end, whatever happened."""
    started: list[BridgeProcess] = []
    yield started
    for bridge in started:
        bridge.stop()


def bridge_config(peers: SandboxProcess, answer_wait_seconds: float) -> dict[str, Any]:
    """The sandbox's settings for a bridge, with short leases (a killed holder's pass on in 2 s) and an Ack
    that gives up fast when the node stalls it."""
    written = peers.bridge_config
    esia = dict(written["adapter_settings"]["esia"])
    esia["answer_wait_seconds"] = answer_wait_seconds
    esia["smev"] = {**esia["smev"], "lease_seconds": 2, "send_lease_seconds": 2, "resend_pause_seconds": 0.2,
                    "get_response_pause_seconds": 0.2, "store_poll_seconds": 0.1}
    smev = {**written["upstreams"]["smev"], "connect_timeout": 0.5, "read_timeout": 1.0, "max_attempts": 2,
            "backoff_initial": 0.05, "backoff_max": 0.1, "circuit_fail_max": 100}
    return {"adapters": ["esia"], "upstreams": {**written["upstreams"], "smev": smev},
            "adapter_settings": {"esia": esia}, "log_level": "INFO"}


def passport() -> dict[str, str]:
    return {"PassportSeries": "6710", "PassportNumber": f"{random.randint(0, 999_999):06d}",
            "PassportIssueDate": "01.09.2004"}


def press(bridge: BridgeProcess, operation: str, patient: dict[str, Any]) -> SoapAnswer:
    return call(f"{bridge.url}/soap/esia-accounts", operation, envelope(operation, patient),
                soap_action=f'"{operation}"')


def until_answered(bridge: BridgeProcess, patient: dict[str, Any]) -> SoapAnswer:
    """The registrar presses RegisterPatient again after each Server fault, until a real answer."""
    answers: list[SoapAnswer] = []

    def answered() -> bool:
        answers.append(press(bridge, "RegisterPatient", patient))
        return not (answers[-1].faultcode or "").startswith("Server")

    wait_for(answered, "RegisterPatient answered", timeout=30, every=0.2)
    return answers[-1]


def start(tmp: Path, peers: SandboxProcess, wait: float, bridges: list[BridgeProcess]) -> BridgeProcess:
    """A bridge on the store in ``tmp`` (the same file across a kill), the peers' process as its upstreams."""
    bridge = start_bridge(tmp, config=bridge_config(peers, wait), database_url=f"sqlite:///{tmp / 'bridge.db'}",
                          sandbox=False)
    bridges.append(bridge)
    return bridge


def test_killed_between_send_request_and_its_answer(peers: SandboxProcess, tmp_path: Path,
                                                    bridges: list[BridgeProcess]) -> None:
    smev, esia = peers.sandbox_urls["smev"], peers.sandbox_urls["esia"]
    httpx.put(f"{esia}/_sandbox/reg-service", json={"delay_seconds": 4.0}, timeout=10).raise_for_status()
    set_node_faults(smev)
    patient = make_patient(**passport())
    before = node_stats(smev)
    bridge = start(tmp_path, peers, 15, bridges)
    first: list[Any] = []

    def registrar() -> None:  # its HTTP call fails when the bridge dies: expected
        with contextlib.suppress(httpx.HTTPError):
            first.append(press(bridge, "RegisterPatient", patient))

    thread = threading.Thread(target=registrar, daemon=True)
    thread.start()
    wait_for(lambda: node_grew(smev, before, REGISTER, "SendRequest"), "the register SendRequest reached the node")
    bridge.kill()
    thread.join(10)
    assert not first, "the МИС got an answer from a bridge killed before ЕСИА answered"
    [exchange] = journal(tmp_path / "bridge.db", REGISTER)
    assert exchange["state"] in ("sending", "sent") and exchange["received"] == []  # sent, unanswered

    bridge = start(tmp_path, peers, 15, bridges)
    try:
        answer = until_answered(bridge, patient)
    finally:
        bridge.stop()
    assert answer.status == 200 and answer.text("Login") == [patient["Snils"]], answer.body
    after = node_stats(smev)
    assert node_count(after, REGISTER, "SendRequest") - node_count(before, REGISTER, "SendRequest") == 1
    assert node_count(after, FIND_ACCOUNT, "SendRequest") - node_count(before, FIND_ACCOUNT, "SendRequest") == 1
    assert accounts_with(esia, patient["Snils"]) == 1
    [exchange] = journal(tmp_path / "bridge.db", REGISTER)
    assert exchange["message_id"] and [r["outcome"] for r in exchange["received"]] == ["answer"]
    assert_no_personal_data(bridge.logs(), patient)


def test_killed_between_storing_an_answer_and_acknowledging_it(peers: SandboxProcess, tmp_path: Path,
                                                               bridges: list[BridgeProcess]) -> None:
    smev, esia = peers.sandbox_urls["smev"], peers.sandbox_urls["esia"]
    db = tmp_path / "bridge.db"
    # ЕСИА answers after 2.5 s and the МИС waits 1.5 s a press: no press is answered before the kill.
    httpx.put(f"{esia}/_sandbox/reg-service", json={"delay_seconds": 2.5}, timeout=10).raise_for_status()
    set_node_faults(smev, rate=1.0, kinds=["stall"], operations=["Ack"], stall_seconds=3.0)
    patient = make_patient(**passport())
    before = node_stats(smev)
    bridge = start(tmp_path, peers, 1.5, bridges)

    def register_sent() -> bool:
        pending = press(bridge, "RegisterPatient", patient)
        assert pending.faultcode == "Server.AnswerPending", pending.body
        return node_grew(smev, before, REGISTER, "SendRequest")

    wait_for(register_sent, "the register SendRequest reached the node", timeout=30, every=0.2)

    def stored_not_acknowledged() -> bool:
        rows = journal(db, REGISTER)
        return bool(rows and rows[0]["state"] == "answered" and rows[0]["received"]
                    and node_grew(smev, before, REGISTER, "handed_out"))

    wait_for(stored_not_acknowledged, "the register answer handed out and stored, its Ack stalled")
    bridge.kill()
    [exchange] = journal(db, REGISTER)
    assert exchange["state"] == "answered" and exchange["received"][0]["acknowledged_at"] is None
    assert node_count(node_stats(smev), REGISTER, "Ack") == node_count(before, REGISTER, "Ack")

    set_node_faults(smev)
    bridge = start(tmp_path, peers, 1.5, bridges)
    try:
        answer = press(bridge, "RegisterPatient", patient)  # from the store: nothing to wait for
        assert answer.status == 200 and answer.text("Login") == [patient["Snils"]], answer.body
        wait_for(lambda: node_stats(smev)["queued"] == 0,
                 "the node redelivers the unacknowledged answers and the new bridge acknowledges them")
    finally:
        bridge.stop()
    after = node_stats(smev)
    for kind in (REGISTER, FIND_ACCOUNT):
        assert node_count(after, kind, "SendRequest") - node_count(before, kind, "SendRequest") == 1, kind
    assert node_count(after, REGISTER, "Ack") - node_count(before, REGISTER, "Ack") == 1
    assert node_count(after, REGISTER, "redelivered") > node_count(before, REGISTER, "redelivered")
    [exchange] = journal(db, REGISTER)
    [received] = exchange["received"]  # one message, stored once: applied once
    assert exchange["state"] == "acknowledged" and exchange["answer_message_id"] == received["message_id"]
    assert received["outcome"] == "answer" and received["deliveries"] >= 2 and received["acknowledged_at"]
    assert accounts_with(esia, patient["Snils"]) == 1
    assert_no_personal_data(bridge.logs(), patient)
