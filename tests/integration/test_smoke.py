from __future__ import annotations

import zeep

from tests.bridgeproc import BridgeProcess


def test_check_patient_through_zeep(bridge: BridgeProcess, patient: dict[str, object]) -> None:
    client = zeep.Client(bridge.wsdl_url("esia-accounts"))
    answer = client.service.CheckPatient(patient)
    assert answer.Result == "NOT_FOUND"
    assert answer.AllowedActions.AllowedAction == ["REGISTER"]
