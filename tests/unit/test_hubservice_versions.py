"""Hub versions the schedule client reads: Hub24 (2019) and the 2022 contract, replayed through the real client.

The replayed answers are written the way WCF's DataContractSerializer writes them (prefix ``a:`` for
``…/HubService2``, ``i:nil``, members in alphabetical order, base members first), from two
third-party sources — not from our sandbox:

* Hub24: tomashevdi/szpv, ``server/src/wsdl/r78-rc.zdrav.netrika.ru/Hub24/HubService.svc.xsd_xsd2.xsd``
  (``GetAvaibleAppointmentsResult`` = MethodResult + ``ListAppointments``; ``Appointment`` =
  Address, IdAppointment, Num, Room, VisitEnd, VisitStart) and ``…xsd_xsd0.xsd`` (``SetAppointment``
  with ``attachedReferral`` of type ``SearchOneDirectionResult`` between ``doctorsReferral`` and
  ``idAppointmentPrev``);
* the 2022 contract: GumerovRinat/N3ApiClient (commit 27f659ba),
  ``N3ApiClient/AppointmentService/HubService/HubServiceContractClasses.cs``: ``GetAvaibleAppointmentsResult``
  adds ``MedicalOrganization {Address, Name, Phone}``, ``MedicalResource {MoAddress, MoName, Name, Position,
  Room}``, ``NextAvailableDate {AvailableDate}``, ``NotAvailableReasonCode`` (string) and ``VisitInfo
  {VisitDateTimes: DateTime[]}``, the four classes in the data-contract namespace
  ``…/HubService2.ContractsClasses.ProxyAndReturn``.
"""

from __future__ import annotations

from datetime import date, datetime

import httpx
import pytest
from lxml import etree

from adapters.hubservice import ScheduleAnswerInvalid, ScheduleClient, hubservice_upstream
from adapters.hubservice._answers import ANSWERS_INVALID
from bridge.delivery import RetryPolicy, UpstreamConfig, UpstreamUnavailable

DAY = date(2025, 3, 4)
HUB = "http://schemas.datacontract.org/2004/07/HubService2"
PROXY_AND_RETURN = "http://schemas.datacontract.org/2004/07/HubService2.ContractsClasses.ProxyAndReturn"
ARRAYS = "http://schemas.microsoft.com/2003/10/Serialization/Arrays"

_APPOINTMENT = """<a:Appointment><a:Address>г. Санкт-Петербург, ул. Примерная, 1</a:Address>\
<a:IdAppointment>{id}</a:IdAppointment><a:Num i:nil="true"/><a:Room>ТМК</a:Room>\
<a:VisitEnd>2025-03-04T{end}:00</a:VisitEnd><a:VisitStart>2025-03-04T{start}:00</a:VisitStart></a:Appointment>"""

# What the 2022 contract adds after ListAppointments (alphabetical: DataContractSerializer's order).
_NEW_2022_NIL = (
    f'<a:MedicalOrganization i:nil="true" xmlns:b="{PROXY_AND_RETURN}"/>'
    f'<a:MedicalResource i:nil="true" xmlns:b="{PROXY_AND_RETURN}"/>'
    f'<a:NextAvailableDate i:nil="true" xmlns:b="{PROXY_AND_RETURN}"/>'
    '<a:NotAvailableReasonCode i:nil="true"/>'
    f'<a:VisitInfo i:nil="true" xmlns:b="{PROXY_AND_RETURN}"/>'
)
_NEW_2022_FILLED = (
    f'<a:MedicalOrganization xmlns:b="{PROXY_AND_RETURN}"><b:Address>г. Санкт-Петербург, ул. Примерная, 1'
    '</b:Address><b:Name>СПб ГБУЗ «Городская поликлиника № 1»</b:Name><b:Phone>+78120000000</b:Phone>'
    '</a:MedicalOrganization>'
    f'<a:MedicalResource xmlns:b="{PROXY_AND_RETURN}"><b:MoAddress>г. Санкт-Петербург, ул. Примерная, 1'
    '</b:MoAddress><b:MoName>СПб ГБУЗ «Городская поликлиника № 1»</b:MoName><b:Name>Иванова А. П.</b:Name>'
    '<b:Position>врач-терапевт участковый</b:Position><b:Room>ТМК</b:Room></a:MedicalResource>'
    f'<a:NextAvailableDate xmlns:b="{PROXY_AND_RETURN}"><b:AvailableDate>2025-03-05T00:00:00</b:AvailableDate>'
    '</a:NextAvailableDate>'
    '<a:NotAvailableReasonCode>1</a:NotAvailableReasonCode>'
    f'<a:VisitInfo xmlns:b="{PROXY_AND_RETURN}"><b:VisitDateTimes xmlns:c="{ARRAYS}">'
    '<c:dateTime>2025-03-04T09:00:00</c:dateTime><c:dateTime>2025-03-04T09:30:00</c:dateTime>'
    '</b:VisitDateTimes></a:VisitInfo>'
)


_SUCCESS = "<a:Success>true</a:Success>"


def _appointments_answer(appointments: str, new_members: str = "", success: str = _SUCCESS) -> bytes:
    return (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        '<GetAvaibleAppointmentsResponse xmlns="http://tempuri.org/">'
        f'<GetAvaibleAppointmentsResult xmlns:a="{HUB}" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">'
        f'<a:ErrorList i:nil="true"/><a:IdHistory i:nil="true"/>{success}'
        f'<a:ListAppointments>{appointments}</a:ListAppointments>{new_members}'
        '</GetAvaibleAppointmentsResult></GetAvaibleAppointmentsResponse></s:Body></s:Envelope>'
    ).encode()


_TWO = (_APPOINTMENT.format(id="A-0900", start="09:00", end="09:30")
        + _APPOINTMENT.format(id="A-0930", start="09:30", end="10:00"))


def _replaying(body: bytes, seen: list[httpx.Request] | None = None) -> ScheduleClient:
    def mis(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(200, content=body, headers={"Content-Type": "text/xml; charset=utf-8"})

    config = UpstreamConfig("hubservice", "http://mis.test", retry=RetryPolicy(max_attempts=1))
    return ScheduleClient(hubservice_upstream(config, httpx.MockTransport(mis)), guid="g",
                          endpoint="/Hub24/HubService.svc")


@pytest.mark.parametrize("new_members", ["", _NEW_2022_NIL, _NEW_2022_FILLED],
                         ids=["hub24-2019", "hub-2022-nil", "hub-2022-filled"])
def test_slots_read_from_every_known_hub_version(new_members: str) -> None:
    slots = _replaying(_appointments_answer(_TWO, new_members)).slots(101, "D1", DAY)
    assert [(s.id, s.start, s.end, s.room, s.number) for s in slots] == [
        ("A-0900", datetime(2025, 3, 4, 9, 0), datetime(2025, 3, 4, 9, 30), "ТМК", None),
        ("A-0930", datetime(2025, 3, 4, 9, 30), datetime(2025, 3, 4, 10, 0), "ТМК", None),
    ]
    assert all(s.telemedicine for s in slots)


def test_a_2022_answer_with_no_slots_and_a_reason_is_an_empty_day() -> None:
    """No free slots, the 2022 Hub says why and when the next date is: the day is empty, not an error."""
    assert _replaying(_appointments_answer("", _NEW_2022_FILLED)).slots(101, "D1", DAY) == []


def test_strict_zeep_refuses_the_2022_answer_that_the_client_reads() -> None:
    """Why the client reads tolerantly: zeep's default settings refuse the 2022 answer even with all five nil."""
    import zeep
    import zeep.exceptions

    from adapters.hubservice import WSDL_PATH

    strict = zeep.Client(str(WSDL_PATH))  # type: ignore[no-untyped-call]
    binding = strict.service._binding
    answer = httpx.Response(200, content=_appointments_answer(_TWO, _NEW_2022_NIL))
    with pytest.raises(zeep.exceptions.XMLParseError, match="MedicalOrganization"):
        binding.process_reply(strict, binding.get("GetAvaibleAppointments"), answer)


# --- every operation: members a newer Hub adds, wherever WCF's alphabetical order puts them ---------------

def _with_unknown_members(body: bytes) -> bytes:
    """The sandbox's answer with a member no contract we know has, added to the result and to every data
    contract in it, both first (``AAA…``: before every known member) and last (``Zzz…``), as a newer
    Hub's DataContractSerializer would place new members by name."""
    root = etree.fromstring(body)
    result = root[0][0][0]                          # Envelope/Body/<Op>Response/<Op>Result
    for holder in [result, *(e for e in result.iter(f"{{{HUB}}}*") if len(e) and e.tag != f"{{{HUB}}}ErrorList")]:
        first = etree.Element(f"{{{HUB}}}AAANewMember")
        first.text = "from a newer Hub"
        holder.insert(0, first)
        last = etree.SubElement(holder, f"{{{HUB}}}ZzzNewMember")
        etree.SubElement(last, f"{{{PROXY_AND_RETURN}}}Nested").text = "x"
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def test_every_answer_of_the_sandbox_reads_the_same_with_members_a_newer_hub_adds() -> None:
    """The booking story over all nine operations, against the sandbox МИС as it answers and with every
    answer extended: the client reads the same things."""
    from adapters.hubservice import PatientData
    from adapters.hubservice.sandbox import ScheduleStore, create_hubservice_wsgi

    today = date(2025, 3, 3)
    extended: set[str] = set()

    def story(extend: bool) -> list[object]:
        store = ScheduleStore(today=today)
        app = httpx.WSGITransport(app=create_hubservice_wsgi(store, clock=lambda: datetime(2025, 3, 3, 7, 30)))

        def mis(request: httpx.Request) -> httpx.Response:
            answer = app.handle_request(request)
            answer.read()
            if not extend or answer.status_code != 200:
                return answer
            extended.add(request.headers["SOAPAction"].strip('"').rsplit("/", 1)[-1])
            return httpx.Response(200, content=_with_unknown_members(answer.content), headers=answer.headers)

        config = UpstreamConfig("hubservice", "http://mis.test", retry=RetryPolicy(max_attempts=1))
        c = ScheduleClient(hubservice_upstream(config, httpx.MockTransport(mis)), guid="sandbox-guid")
        lpus = c.lpus()
        speciality = next(s for s in c.specialities(101) if s.name == "Кардиология")
        doctors = c.doctors(101, speciality.id)
        person = store.people[3]
        patient = c.check_patient(101, PatientData(birthday=person.birthday, snils=person.snils))
        days = c.dates(101, doctors[0].id, today, date(2025, 3, 16))
        slots = c.slots(101, doctors[0].id, days[0])
        c.book(slots[0].id, patient)
        visits = c.history(patient)
        c.cancel(visits[0].id, patient)
        return [lpus, speciality, doctors, patient, days, slots, visits, c.history(patient)]

    plain = story(extend=False)
    assert plain[6] and not plain[7]                      # booked, then cancelled
    assert story(extend=True) == plain
    assert extended == {"GetLPUList", "GetSpesialityList", "GetDoctorList", "CheckPatient", "GetAvailableDates",
                        "GetAvaibleAppointments", "SetAppointment", "GetPatientHistory", "CreateClaimForRefusal"}


# --- what tolerance does not give away ------------------------------------------------------------------

def _invalid_count(operation: str, reason: str) -> float:
    return ANSWERS_INVALID.labels(operation, reason)._value.get()  # type: ignore[no-any-return]


@pytest.mark.parametrize(("appointments", "success", "named"), [
    (_APPOINTMENT.format(id="A-0900", start="09:00", end="09:30").replace(
        "<a:IdAppointment>A-0900</a:IdAppointment>", ""), _SUCCESS, "Appointment/IdAppointment"),
    (_APPOINTMENT.format(id="A-0900", start="09:00", end="09:30").replace(
        "<a:VisitStart>2025-03-04T09:00:00</a:VisitStart>", ""), _SUCCESS, "Appointment/VisitStart"),
    (_TWO, "", "GetAvaibleAppointmentsResult/Success"),
    (_TWO, '<a:Success i:nil="true"/>', "GetAvaibleAppointmentsResult/Success"),
], ids=["no-slot-id", "no-start", "no-success", "nil-success"])
def test_a_missing_required_element_is_a_clear_error_counted_and_logged(
        appointments: str, success: str, named: str, caplog: pytest.LogCaptureFixture) -> None:
    before = _invalid_count("GetAvaibleAppointments", "missing")
    client = _replaying(_appointments_answer(appointments, _NEW_2022_FILLED, success=success))
    with pytest.raises(ScheduleAnswerInvalid) as raised:
        client.slots(101, "D1", DAY)
    assert str(raised.value) == (f"hubservice /Hub24/HubService.svc: GetAvaibleAppointments: unusable answer "
                                 f"(missing): required element {named} is absent, empty or not of its type")
    assert isinstance(raised.value, UpstreamUnavailable)       # the bot says "unavailable", books nothing
    assert _invalid_count("GetAvaibleAppointments", "missing") == before + 1


def test_a_broken_document_is_refused_although_zeep_reads_with_recovery() -> None:
    body = _appointments_answer(_TWO, _NEW_2022_FILLED)
    truncated = body[: body.index(b"<a:VisitStart>2025-03-04T09:30")]
    before = _invalid_count("GetAvaibleAppointments", "malformed")
    with pytest.raises(ScheduleAnswerInvalid, match=r"\(malformed\): not well-formed XML \(line 1, column \d+\)"):
        _replaying(truncated).slots(101, "D1", DAY)
    assert _invalid_count("GetAvaibleAppointments", "malformed") == before + 1


def test_a_required_value_of_the_wrong_type_is_named_never_quoted(capsys: pytest.CaptureFixture[str]) -> None:
    body = _appointments_answer(_TWO).replace(b"2025-03-04T09:00:00</a:VisitStart>", b"12.03.1961</a:VisitStart>")
    with pytest.raises(ScheduleAnswerInvalid, match=r"\(missing\): required element Appointment/VisitStart is "
                                                    r"absent, empty or not of its type") as raised:
        _replaying(body).slots(101, "D1", DAY)
    assert "1961" not in str(raised.value)
    assert "1961" not in capsys.readouterr().out


def test_an_answer_that_is_not_the_operations_is_unreadable() -> None:
    body = _appointments_answer(_TWO).replace(b"GetAvaibleAppointmentsResponse", b"GetDoctorListResponse")
    with pytest.raises(ScheduleAnswerInvalid, match=r"GetAvaibleAppointments: unusable answer \(unreadable\): "
                                                    r"the body holds GetDoctorListResponse, not "
                                                    r"GetAvaibleAppointmentsResponse"):
        _replaying(body).slots(101, "D1", DAY)


# --- SetAppointment as Hub24 has it ------------------------------------------------------------------------

# tomashevdi/szpv, Hub24 HubService.svc.xsd_xsd0.xsd, element SetAppointment: its sequence in wire order.
_HUB24_SET_APPOINTMENT = ["idAppointment", "idLpu", "idPat", "doctorsReferral", "attachedReferral",
                          "idAppointmentPrev", "guid", "idHistory"]


def test_set_appointment_has_attached_referral_where_hub24_has_it() -> None:
    import zeep

    from adapters.hubservice import WSDL_PATH, PatientData
    from adapters.hubservice.sandbox import ScheduleStore, create_hubservice_wsgi

    schema = etree.parse(str(WSDL_PATH))
    xs = "{http://www.w3.org/2001/XMLSchema}"
    [declared] = [t for t in schema.iter(f"{xs}complexType") if t.get("name") == "SetAppointment"]
    assert [e.get("name") for e in declared.iter(f"{xs}element")] == _HUB24_SET_APPOINTMENT
    referral = declared.find(f".//{xs}element[@name='attachedReferral']")
    assert referral is not None and str(referral.get("type")).endswith(":SearchOneDirectionResult")

    # A SetAppointment carrying an attached УО referral, built by zeep from the contract, is taken by the МИС.
    store = ScheduleStore(today=date(2025, 3, 3))
    app = httpx.WSGITransport(app=create_hubservice_wsgi(store, clock=lambda: datetime(2025, 3, 3, 7, 30)))
    config = UpstreamConfig("hubservice", "http://mis.test", retry=RetryPolicy(max_attempts=1))
    schedule = ScheduleClient(hubservice_upstream(config, app), guid="sandbox-guid")
    cardiology = next(s for s in schedule.specialities(101) if s.name == "Кардиология")
    doctor = schedule.doctors(101, cardiology.id)[0]
    slot = schedule.slots(101, doctor.id, schedule.dates(101, doctor.id, date(2025, 3, 3), date(2025, 3, 16))[0])[0]
    person = store.people[3]
    patient = schedule.check_patient(101, PatientData(birthday=person.birthday, snils=person.snils))

    client = zeep.Client(str(WSDL_PATH))  # type: ignore[no-untyped-call]
    envelope = client.create_message(  # type: ignore[no-untyped-call]
        client.service, "SetAppointment", idAppointment=slot.id, idLpu=101,
                                     idPat=patient.patient_id, guid="sandbox-guid",
                                     attachedReferral={"IdMq": "mq-1", "MqReferralStatus": {"Code": "1"},
                                                       "QLength": 3, "Referral": None})
    assert [etree.QName(e).localname for e in envelope.find(".//{http://tempuri.org/}SetAppointment")] == [
        "idAppointment", "idLpu", "idPat", "attachedReferral", "guid"]
    answer = app.handle_request(httpx.Request(
        "POST", "http://mis.test/hubservice", content=etree.tostring(envelope),
        headers={"Content-Type": "text/xml; charset=utf-8",
                 "SOAPAction": '"http://tempuri.org/IHubService/SetAppointment"'}))
    answer.read()
    assert answer.status_code == 200, answer.content
    assert [v.start for v in schedule.history(patient)] == [slot.start]
