"""ScheduleClient: the МИС schedule over HubService (zeep, the frozen wsdl/hubservice.wsdl)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import zeep
import zeep.exceptions
from lxml import etree

from adapters.hubservice._answers import ZEEP_SETTINGS, Reader
from adapters.hubservice._errors import ScheduleRefused, patient_text
from adapters.hubservice._transport import UpstreamTransport
from bridge.delivery import Upstream

WSDL_PATH = Path(__file__).resolve().parents[2] / "wsdl" / "hubservice.wsdl"
_BINDING = "{http://tempuri.org/}BasicHttpBinding_IHubService"
_MESSENGER = "MAX:"
_PHONE = "TEL:"


@dataclass(frozen=True)
class Clinic:
    id: int
    short_name: str
    full_name: str
    district: int | None
    oid: str | None = None       # the MO's OID in the ФРМО (what МИС clients are scoped by)


@dataclass(frozen=True)
class Speciality:
    id: str
    name: str
    federal_code: str | None
    free: int
    free_online: int
    nearest: datetime | None


@dataclass(frozen=True)
class Doctor:
    id: str
    name: str
    area: str | None
    free: int
    nearest: datetime | None
    messenger_id: str | None     # the doctor's MAX id; the МИС writes it as "MAX:<id>" in Comment
    phone: str | None = None     # the doctor's mobile for Sferum chats: "TEL:<digits>" in Comment


@dataclass(frozen=True)
class Slot:
    id: str
    start: datetime
    end: datetime
    room: str | None
    address: str | None
    number: int | None

    @property
    def telemedicine(self) -> bool:
        return (self.room or "").strip().upper() == "ТМК"


@dataclass(frozen=True)
class PatientData:
    """Who is looked up in the МИС: SNILS + birthday, or surname + name (+ patronymic) + birthday."""

    birthday: date
    snils: str | None = None
    surname: str | None = None
    name: str | None = None
    second_name: str | None = None


@dataclass(frozen=True)
class PatientRef:
    """The patient's card in one MO (idPat is scoped per MO)."""

    lpu_id: int
    patient_id: str


@dataclass(frozen=True)
class Visit:
    id: str                      # the id CreateClaimForRefusal takes
    start: datetime
    doctor_name: str | None
    speciality_name: str | None


def _items(array: Any, member: str) -> list[Any]:
    if array is None:
        return []
    return list(getattr(array, member, None) or [])


def _checked(result: Any, answer: Reader) -> Any:
    if result is None:
        raise answer.invalid("missing", f"required element {answer.operation}Result is absent")
    if answer.required(result, "Success", f"{answer.operation}Result") is not True:
        errors = _items(result.ErrorList, "Error")
        code = int(errors[0].IdError) if errors and errors[0].IdError is not None else 99
        raise ScheduleRefused(code, patient_text(code), errors[0].ErrorDescription if errors else None)
    return result


class ScheduleClient:
    """Typed calls to a HubService МИС; ``Success=false`` raises ``ScheduleRefused``.

    ``upstream`` is a ``bridge.delivery.Upstream`` (e.g. ``hubservice_upstream(config)``);
    ``endpoint`` is the service path under its base URL (e.g. ``/Hub24/HubService.svc``);
    ``guid`` is the client token the integration platform issued.

    Answers are read tolerantly (elements a newer Hub adds are skipped) and the elements the bot
    needs are checked: an answer without them raises ``ScheduleAnswerInvalid`` (_answers.py).
    """

    def __init__(self, upstream: Upstream, guid: str, endpoint: str = "/hubservice",
                 wsdl: Path = WSDL_PATH) -> None:
        self._guid = guid
        self._upstream_name = upstream.name
        self._endpoint = endpoint
        transport = UpstreamTransport(upstream, endpoint)
        client = zeep.Client(str(wsdl), transport=transport, settings=ZEEP_SETTINGS)  # type: ignore[no-untyped-call]
        address = upstream.config.base_url.rstrip("/") + endpoint
        self._soap = client.create_service(_BINDING, address)  # type: ignore[no-untyped-call]

    def _call(self, operation: str, **params: Any) -> tuple[Any, Reader]:
        answer = Reader(self._upstream_name, self._endpoint, operation)
        try:
            result = getattr(self._soap, operation)(guid=self._guid, **params)
        except zeep.exceptions.Fault:
            raise
        except (zeep.exceptions.Error, etree.XMLSyntaxError, ValueError, TypeError) as exc:
            # zeep's words name elements only; a value parser's (isodate, int) may quote the value: not kept.
            detail = str(exc) if isinstance(exc, zeep.exceptions.XMLParseError) else type(exc).__name__
            raise answer.invalid("unreadable", detail) from None
        return _checked(result, answer), answer

    def lpus(self, district: int | None = None) -> list[Clinic]:
        result, answer = self._call("GetLPUList", idDistrict=district)
        return [Clinic(int(answer.required(c, "IdLPU", "Clinic")), c.LPUShortName or "", c.LPUFullName or "",
                       c.District, c.Oid or None)
                for c in _items(result.ListLPU, "Clinic") if c.IsActive is not False]

    def specialities(self, lpu_id: int, patient: PatientRef | None = None) -> list[Speciality]:
        result, answer = self._call("GetSpesialityList", idLpu=lpu_id, idPat=patient and patient.patient_id)
        return [Speciality(answer.required(s, "IdSpesiality", "Spesiality"), s.NameSpesiality or "",
                           s.FerIdSpesiality, s.CountFreeTicket or 0, s.CountFreeParticipantIE or 0, s.NearestDate)
                for s in _items(result.ListSpesiality, "Spesiality")]

    def doctors(self, lpu_id: int, speciality_id: str, patient: PatientRef | None = None) -> list[Doctor]:
        result, answer = self._call("GetDoctorList", idSpesiality=speciality_id, idLpu=lpu_id,
                                    idPat=patient and patient.patient_id)
        return [Doctor(answer.required(d, "IdDoc", "Doctor"), d.Name or "", d.AriaNumber, d.CountFreeTicket or 0,
                       d.NearestDate, _comment_value(d.Comment, _MESSENGER), _comment_value(d.Comment, _PHONE))
                for d in _items(result.Docs, "Doctor")]

    def dates(self, lpu_id: int, doctor_id: str, start: date, end: date,
              patient: PatientRef | None = None) -> list[date]:
        result, _ = self._call("GetAvailableDates", idDoc=doctor_id, idLpu=lpu_id,
                               idPat=patient and patient.patient_id,
                               visitStart=datetime.combine(start, time.min), visitEnd=datetime.combine(end, time.max))
        return [value.date() for value in _items(result.AvailableDateList, "dateTime") if value is not None]

    def slots(self, lpu_id: int, doctor_id: str, day: date, patient: PatientRef | None = None) -> list[Slot]:
        return self.slots_between(lpu_id, doctor_id, day, day, patient)

    def slots_between(self, lpu_id: int, doctor_id: str, first: date, last: date,
                      patient: PatientRef | None = None) -> list[Slot]:
        """Free slots from the start of ``first`` to the end of ``last`` (one call)."""
        result, answer = self._call("GetAvaibleAppointments", idDoc=doctor_id, idLpu=lpu_id,
                                    idPat=patient and patient.patient_id,
                                    visitStart=datetime.combine(first, time.min),
                                    visitEnd=datetime.combine(last, time.max))
        return [Slot(answer.required(a, "IdAppointment", "Appointment"),
                     answer.required(a, "VisitStart", "Appointment"), answer.required(a, "VisitEnd", "Appointment"),
                     a.Room, a.Address, a.Num)
                for a in _items(result.ListAppointments, "Appointment")]

    def check_patient(self, lpu_id: int, patient: PatientData) -> PatientRef:
        pat = {"Birthday": datetime.combine(patient.birthday, time.min), "Name": patient.name,
               "SecondName": patient.second_name, "Snils": patient.snils, "Surname": patient.surname}
        result, answer = self._call("CheckPatient", pat=pat, idLpu=lpu_id)
        return PatientRef(lpu_id, str(answer.required(result, "IdPat", "CheckPatientResult")))

    def book(self, slot_id: str, patient: PatientRef) -> None:
        """SetAppointment. The МИС returns no booking id: ``history`` gives the id ``cancel`` takes.

        ``attachedReferral`` (Hub24: an УО referral found by SearchOneDirection) is in the contract
        but not sent: the ТМК booking has no referral.
        """
        self._call("SetAppointment", idAppointment=slot_id, idLpu=patient.lpu_id, idPat=patient.patient_id)

    def cancel(self, appointment_id: str, patient: PatientRef) -> None:
        self._call("CreateClaimForRefusal", idLpu=patient.lpu_id, idPat=patient.patient_id,
                   idAppointment=appointment_id)

    def history(self, patient: PatientRef) -> list[Visit]:
        """The patient's upcoming visits in the MO (cancelled ones are left out)."""
        result, answer = self._call("GetPatientHistory", idLpu=patient.lpu_id, idPat=patient.patient_id)
        visits = []
        for v in _items(result.ListHistoryVisit, "HistoryVisit"):
            doctor, speciality = v.DoctorRendingConsultation, v.SpecialityRendingConsultation
            visits.append(Visit(answer.required(v, "IdAppointment", "HistoryVisit"),
                                answer.required(v, "VisitStart", "HistoryVisit"),
                                doctor.Name if doctor is not None else None,
                                speciality.NameSpesiality if speciality is not None else None))
        return visits


def _comment_value(comment: str | None, tag: str) -> str | None:
    """``MAX:<id>`` / ``TEL:<phone>`` from the doctor's Comment (``;``-separated, any order)."""
    for part in (comment or "").split(";"):
        part = part.strip()
        if part.upper().startswith(tag):
            return part[len(tag):].strip() or None
    return None
