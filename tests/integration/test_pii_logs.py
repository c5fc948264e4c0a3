"""152-ФЗ: a full run with planted personal data leaves none of it in the logs."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import zeep
from zeep.exceptions import Fault

from tests.bridgeproc import BridgeProcess
from tests.conftest import make_snils
from tests.soapcall import call, envelope

PLANTED_SNILS = make_snils()
PLANTED: dict[str, Any] = {
    "MisPatientId": "PII-PLANT-1",
    "LastName": "Перепелицына",
    "FirstName": "Евдокия",
    "MiddleName": "Всеволодовна",
    "BirthDate": "23.06.1987",
    "Snils": PLANTED_SNILS,
    "MobilePhone": "89127654321",
    "Gender": "2",
    "PassportSeries": "6711",
    "PassportNumber": "587216",
    "PassportIssueDate": "14.07.2007",
    "PassportIssuerCode": "862-017",
    "PassportIssuedBy": "ОУФМС по ХМАО-Югре",
}


def variants(patient: dict[str, Any], passwords: list[str]) -> list[str]:
    s = patient["Snils"]
    phone = patient["MobilePhone"]
    d, m, y = patient["BirthDate"].split(".")
    return [
        s, f"{s[:3]}-{s[3:6]}-{s[6:9]} {s[9:]}", f"{s[:3]}-{s[3:6]}-{s[6:9]}",
        phone, f"+7({phone[1:4]}){phone[4:]}", phone[1:],
        patient["LastName"], patient["FirstName"], patient["MiddleName"],
        patient["BirthDate"], f"{y}-{m}-{d}",
        patient["PassportNumber"], f"{patient['PassportSeries']} {patient['PassportNumber']}", "862017",
        patient["PassportIssuedBy"],
        *passwords,
    ]


def test_full_run_leaves_no_personal_data_in_logs(bridge: BridgeProcess) -> None:
    client = zeep.Client(bridge.wsdl_url("esia-accounts"))
    service = client.service
    patient = dict(PLANTED)
    assert service.CheckPatient(patient).Result == "NOT_FOUND"
    service.RegisterPatient(patient)
    patient["MobilePhone"] = "89127650000"
    assert service.CheckPatient(patient).Result == "MISMATCH"
    service.UpdatePatient(patient)
    service.ResetPassword(patient)
    # the passwords ЕСИА sent by SMS (the sandbox keeps them): the bridge never saw them, nor may its logs
    with bridge.sandbox("esia") as esia:
        passwords = [str(m["password"]) for m in esia.get("/_sandbox/reg-service/outbox").json()
                     if m["address"] in ("+7(912)7654321", "+7(912)7650000")]
    assert len(passwords) == 2
    # faults carrying the planted data in the request
    for bad in ({"Snils": PLANTED_SNILS[:-1] + str((int(PLANTED_SNILS[-1]) + 1) % 10)},
                {"MobilePhone": "+7 912 765-43-21"}, {"BirthDate": "31.02.1987"}):
        with contextlib.suppress(Fault):
            service.CheckPatient({**patient, **bad})
    call(f"{bridge.url}/soap/esia-accounts", "CheckPatient",
         envelope("CheckPatient", patient).replace(b"</soapenv:Body>", b""), soap_action='"CheckPatient"')

    logs = bridge.logs()
    assert '"operation": "ResetPassword"' in logs, "the run must have been logged at all"
    planted = variants(PLANTED, passwords) + variants(patient, [])
    leaked = sorted({value for value in planted if value in logs})
    assert leaked == [], f"personal data in the logs: {len(leaked)} planted values found"
    # and nothing shaped like a SNILS or a phone in any form
    assert not re.search(r"\d{3}-\d{3}-\d{3} \d{2}", logs)
    assert not re.search(r"\+7\(\d{3}\)\d{7}", logs)
