"""Calls waiting on a СМЭВ answer hold no thread (bridge/parking.py), through the real bridge process.

The bridge gets two SOAP threads (``soap_threads: 2``). While the sandbox СМЭВ node refuses every
GetResponse (SMEVFailure: no answer can reach the bridge), twelve МИС clients press «Сверка с ЕСИА»
at once. A call that waited in its thread would keep the other ten from ever sending: the node
counting twelve find_account SendRequests proves twelve calls in flight on two threads. Then the
node works again and every call is answered, each accounted once, with one SendRequest each.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.bridgeproc import BridgeProcess, start_bridge
from tests.conftest import make_patient
from tests.esia_smev import FIND_ACCOUNT, node_count, node_stats, set_node_faults, wait_for
from tests.soapcall import SoapAnswer, envelope

CALLS = 12


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeProcess]:
    process = start_bridge(tmp_path_factory.mktemp("esia-parked"), config={
        "soap_threads": 2, "soap_waiting": 64,
        "adapter_settings": {"esia": {"answer_wait_seconds": 120}}})
    with process.sandbox("esia") as esia:
        esia.put("/_sandbox/reg-service", json={"delay_seconds": 0.2}).raise_for_status()
    yield process
    process.stop()


def metric(bridge: BridgeProcess, name: str, **labels: str) -> float:
    text = httpx.get(f"{bridge.url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


def press(bridge: BridgeProcess, patient: dict[str, Any], answers: list[SoapAnswer]) -> None:
    response = httpx.post(f"{bridge.url}/soap/esia-accounts", content=envelope("CheckPatient", patient),
                          headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"CheckPatient"'},
                          timeout=180)
    answers.append(SoapAnswer(response.status_code, response.content))


def test_calls_waiting_on_smev_hold_no_thread(bridge: BridgeProcess) -> None:
    smev = bridge.sandbox_urls["smev"]
    sent_before = node_count(node_stats(smev), FIND_ACCOUNT, "SendRequest")
    ok_before = metric(bridge, "bridge_soap_requests_total", operation="CheckPatient", outcome="ok")
    set_node_faults(smev, rate=1.0, kinds=["SMEVFailure"], operations=["GetResponse"])
    answers: list[SoapAnswer] = []
    presses = [threading.Thread(target=press, args=(bridge, make_patient(), answers)) for _ in range(CALLS)]
    try:
        for thread in presses:
            thread.start()
        wait_for(lambda: node_count(node_stats(smev), FIND_ACCOUNT, "SendRequest") - sent_before >= CALLS,
                 f"{CALLS} SendRequests from calls in flight together on 2 SOAP threads", timeout=90)
        # Sent, and waiting for answers that cannot come yet: parked, not in a thread.
        wait_for(lambda: metric(bridge, "bridge_soap_parked_calls") == CALLS, f"{CALLS} calls parked", timeout=30)
        assert not answers
    finally:
        set_node_faults(smev)
    for thread in presses:
        thread.join(150)
    assert len(answers) == CALLS
    for answer in answers:
        assert answer.status == 200, answer.body
        assert answer.text("Result") == ["NOT_FOUND"]
    # One SendRequest per call (a parked call's repeat joins its exchange), each call accounted once.
    assert node_count(node_stats(smev), FIND_ACCOUNT, "SendRequest") - sent_before == CALLS
    assert metric(bridge, "bridge_soap_requests_total", operation="CheckPatient", outcome="ok") - ok_before == CALLS
    assert metric(bridge, "bridge_soap_parked_calls") == 0
