"""The МИС schedule over HubService: the frozen contract, and ScheduleClient against the sandbox МИС in-process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import httpx
import pytest
import zeep.exceptions

from adapters.hubservice import (
    PATIENT_TEXT,
    WSDL_PATH,
    PatientData,
    PatientRef,
    ScheduleClient,
    ScheduleRefused,
    hubservice_upstream,
)
from adapters.hubservice.sandbox import ScheduleStore, build_application, create_hubservice_wsgi, hubservice_wsdl
from bridge.delivery import RetryPolicy, UpstreamConfig, UpstreamServerError
from bridge.soap import canonical_contract

TODAY = date(2025, 3, 3)          # a Monday
NOW = datetime(2025, 3, 3, 7, 30)
GUID = "sandbox-guid"


@pytest.fixture
def store() -> ScheduleStore:
    return ScheduleStore(today=TODAY)


def _client(transport: httpx.BaseTransport, guid: str = GUID) -> ScheduleClient:
    config = UpstreamConfig("hubservice", "http://mis.test", retry=RetryPolicy(max_attempts=2, backoff_initial=0.01))
    return ScheduleClient(hubservice_upstream(config, transport), guid=guid)


@pytest.fixture
def client(store: ScheduleStore) -> Iterator[ScheduleClient]:
    yield _client(httpx.WSGITransport(app=create_hubservice_wsgi(store, clock=lambda: NOW)))


def _patient(store: ScheduleStore, no: int) -> PatientData:
    person = store.people[no]
    return PatientData(birthday=person.birthday, snils=person.snils)


def _first_free(client: ScheduleClient, lpu: int, doctor: str) -> str:
    day = client.dates(lpu, doctor, TODAY, TODAY + timedelta(days=13))[0]
    return client.slots(lpu, doctor, day)[0].id


def _refused(code: int) -> pytest.RaisesContext[ScheduleRefused]:
    return pytest.raises(ScheduleRefused, match=rf"IdError {code}\)")


def test_frozen_wsdl_is_what_the_sandbox_generates() -> None:
    generated = hubservice_wsdl(build_application(ScheduleStore(today=TODAY)), "http://localhost/hubservice")
    assert canonical_contract(WSDL_PATH.read_bytes()) == canonical_contract(generated)


def test_contract_names_namespaces_and_soap_actions() -> None:
    text = WSDL_PATH.read_text("utf-8")
    for operation in ("GetLPUList", "GetSpesialityList", "GetDoctorList", "GetAvailableDates",
                      "GetAvaibleAppointments", "CheckPatient", "SetAppointment", "CreateClaimForRefusal",
                      "GetPatientHistory"):
        assert f'soapAction="http://tempuri.org/IHubService/{operation}"' in text
        assert f'<xs:element name="{operation}Response"' in text
    assert 'targetNamespace="http://schemas.datacontract.org/2004/07/HubService2"' in text
    assert '<wsdl:portType name="IHubService">' in text
    assert '<wsdl:service name="HubService">' in text


def test_booking_dialog_end_to_end(client: ScheduleClient, store: ScheduleStore) -> None:
    lpus = client.lpus()
    assert [c.id for c in lpus] == [101, 102, 103]
    specialities = {s.name: s for s in client.specialities(101)}
    assert specialities["Кардиология"].free > 0
    doctors = client.doctors(101, specialities["Кардиология"].id)
    assert doctors[0].messenger_id == "501003" and doctors[0].phone == "79211013000"
    assert any(d.messenger_id is None for d in client.doctors(101, specialities["Терапия"].id))
    days = client.dates(101, doctors[0].id, TODAY, TODAY + timedelta(days=13))
    assert days and all(d.weekday() < 5 for d in days) and days[-1] <= TODAY + timedelta(days=13)
    slots = client.slots(101, doctors[0].id, days[0])
    assert slots and all(s.telemedicine and s.start.date() == days[0] for s in slots)

    patient = client.check_patient(101, _patient(store, 3))
    client.book(slots[0].id, patient)
    assert slots[0].id not in [s.id for s in client.slots(101, doctors[0].id, days[0])]
    [visit] = client.history(patient)
    assert (visit.start, visit.speciality_name) == (slots[0].start, "Кардиология")

    client.cancel(visit.id, patient)
    assert client.history(patient) == []
    assert slots[0].id in [s.id for s in client.slots(101, doctors[0].id, days[0])]
    with _refused(75) as refused:
        client.cancel(visit.id, patient)
    assert refused.value.message == "Запись не найдена или уже отменена."


def test_a_taken_slot_cannot_be_booked_twice(client: ScheduleClient, store: ScheduleStore) -> None:
    slot = _first_free(client, 101, "d1013")
    client.book(slot, client.check_patient(101, _patient(store, 3)))
    with _refused(39) as refused:
        client.book(slot, client.check_patient(101, _patient(store, 1)))
    assert refused.value.message == "Это время уже занято. Выберите другое время."


def test_child_booked_by_identifying_the_child(client: ScheduleClient, store: ScheduleStore) -> None:
    child = store.people[2]
    assert child.representative == 1                       # the mother books for her son
    patient = client.check_patient(102, PatientData(birthday=child.birthday, surname="Смирнов", name="Артём"))
    client.book(_first_free(client, 102, "d1021"), patient)
    assert len(client.history(patient)) == 1


@pytest.mark.parametrize(("lpu", "doctor", "person", "code"), [
    (101, "d1015", 1, 31),     # endocrinology: no booking through the Internet
    (101, "d1014", 3, 22),     # gynecology: women only
    (102, "d1021", 1, 34),     # pediatrics: under 18 only
    (101, "d1011", 2, 34),     # therapy: adults only
    (101, "d1012", 1, 36),     # district therapist of area 4; the patient belongs to area 3
    (101, "d1013", 4, 24),     # deceased patient
])
def test_mis_checks_refuse_with_plain_text(client: ScheduleClient, store: ScheduleStore,
                                           lpu: int, doctor: str, person: int, code: int) -> None:
    patient = client.check_patient(lpu, _patient(store, person))
    with _refused(code) as refused:
        client.book(_first_free(client, lpu, doctor), patient)
    assert refused.value.code == code
    assert refused.value.message == PATIENT_TEXT[code]


def test_repeat_booking_to_the_same_speciality(client: ScheduleClient, store: ScheduleStore) -> None:
    patient = client.check_patient(103, _patient(store, 1))
    client.book(_first_free(client, 103, "d1031"), patient)
    with _refused(35) as refused:
        client.book(_first_free(client, 103, "d1031"), patient)
    assert "уже есть запись" in refused.value.message


def test_patient_identification_refusals(client: ScheduleClient, store: ScheduleStore) -> None:
    with _refused(20):
        client.check_patient(101, PatientData(birthday=date(1990, 1, 1), snils="00000000000"))
    namesakes = PatientData(birthday=date(1980, 1, 1), surname="Лебедев", name="Иван", second_name="Иванович")
    with _refused(21) as refused:
        client.check_patient(101, namesakes)
    assert "Укажите СНИЛС" in refused.value.message
    assert client.check_patient(101, _patient(store, 5)) != client.check_patient(101, _patient(store, 6))
    with _refused(38):
        client.book("A999999", client.check_patient(101, _patient(store, 1)))


def test_unknown_code_and_missing_guid(store: ScheduleStore) -> None:
    client = _client(httpx.WSGITransport(app=create_hubservice_wsgi(store)), guid="")
    with _refused(1) as refused:
        client.lpus()
    assert refused.value.message == PATIENT_TEXT[1]
    from adapters.hubservice import patient_text
    assert patient_text(512) == ("Медицинская организация отказала в записи (код ошибки 512). "
                                 "Попробуйте позже или обратитесь в регистратуру.")


_FAULT = (b'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
          b"<s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>bad request</faultstring></s:Fault>"
          b"</s:Body></s:Envelope>")


def test_soap_fault_and_http_500_reach_zeep_through_the_delivery_path() -> None:
    seen: list[httpx.Request] = []

    def mis(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "GetLPUList" in request.headers["SOAPAction"]:
            return httpx.Response(500, content=_FAULT, headers={"Content-Type": "text/xml; charset=utf-8"})
        return httpx.Response(500, content=b"<html>Internal Server Error</html>")

    client = _client(httpx.MockTransport(mis))
    with pytest.raises(zeep.exceptions.Fault, match="bad request"):
        client.lpus()
    assert seen[0].headers["Content-Type"].startswith("text/xml")
    assert seen[0].content.startswith(b"<?xml") or seen[0].content.startswith(b"<soap-env:Envelope")
    assert len(seen) == 1                                   # a Fault is an answer: not retried
    with pytest.raises(UpstreamServerError):
        client.specialities(101)                            # a read: retried, then given up
    assert len(seen) == 3
    with pytest.raises(UpstreamServerError):
        client.book("A000001", PatientRef(101, "10100001"))  # a booking: never repeated
    assert len(seen) == 4
