"""The sandbox МИС as a spyne service speaking the HubService contract (the source of wsdl/hubservice.wsdl).

Request wrappers live in http://tempuri.org/, data contracts in …/HubService2; each operation
answers Success=true, or Success=false with ErrorList (IdError codes in _store.ERRORS), as a МИС does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar

from lxml import etree
from spyne import Application

from adapters.hubservice.sandbox._models import (
    TEMPURI,
    Appointment,
    CheckPatientResult,
    Clinic,
    CreateClaimForRefusalResult,
    Doctor,
    Error,
    GetAvaibleAppointmentsResult,
    GetAvailableDatesResult,
    GetDoctorListResult,
    GetLPUListResult,
    GetPatientHistoryResult,
    GetSpesialityListResult,
    HistoryVisit,
    MethodResult,
    Patient,
    SearchOneDirectionResult,
    SetAppointmentResult,
    Spesiality,
    integer,
    moment,
    text,
)
from adapters.hubservice.sandbox._store import MisRefusal, ScheduleStore, Slot
from bridge.soap import BridgeServiceBase, ServiceApplication, generated_wsdl, provided, rpc

SERVICE_NAME = "HubService"   # wsdl:service (spyne: the service class name)
PORT_TYPE = "IHubService"     # wsdl:portType (spyne: the application name)
BINDING = "BasicHttpBinding_IHubService"
_WSDL = "http://schemas.xmlsoap.org/wsdl/"
_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
_XS = "http://www.w3.org/2001/XMLSchema"
SOAP_ACTION = "http://tempuri.org/IHubService/{operation}"

R = TypeVar("R", bound=MethodResult)


@dataclass(frozen=True)
class _Mis:
    """What the service's methods work with: the МИС's schedule and its clock."""

    store: ScheduleStore
    clock: Callable[[], datetime]


def _store(ctx: Any) -> ScheduleStore:
    return provided(ctx, _Mis).store


def _answer(result_type: type[R], guid: str | None, idHistory: int | None, work: Callable[[], dict[str, Any]]) -> R:
    try:
        if not guid or guid == "0":
            raise MisRefusal(1)
        fields = work()
    except MisRefusal as refusal:
        return result_type(Success=False, IdHistory=idHistory,
                           ErrorList=[Error(IdError=refusal.code, ErrorDescription=refusal.description)])
    return result_type(Success=True, IdHistory=idHistory, **fields)


def _free(store: ScheduleStore, doctor_ids: list[str]) -> list[Slot]:
    start = datetime.combine(store.today, time.min)
    return store.slots(doctor_ids, start, start + timedelta(days=31))


def _doctor(store: ScheduleStore, doctor_id: str, with_counts: bool = True) -> Doctor:
    doctor = store.doctors[doctor_id]
    free = _free(store, [doctor_id]) if with_counts else []
    # The МИС's note on the doctor: the telemedicine platform id, when the doctor has one.
    tags = [f"MAX:{doctor.messenger_id}"] if doctor.messenger_id else []
    tags += [f"TEL:{doctor.phone}"] if doctor.phone else []
    comment = ";".join(tags) or None
    return Doctor(AriaNumber=doctor.area, Comment=comment, CountFreeParticipantIE=len(free),
                  CountFreeTicket=len(free), IdDoc=doctor.id, Name=doctor.name, Snils=doctor.snils,
                  NearestDate=free[0].start if free else None, LastDate=free[-1].start if free else None)


def _speciality(store: ScheduleStore, lpu_id: int, speciality_id: str) -> Spesiality:
    speciality = store.specialities[speciality_id]
    free = _free(store, [d.id for d in store.doctors_of(lpu_id, speciality_id)])
    return Spesiality(CountFreeParticipantIE=len(free) if speciality.online else 0, CountFreeTicket=len(free),
                      FerIdSpesiality=speciality.fer_id, IdSpesiality=speciality.id,
                      NameSpesiality=speciality.name,
                      NearestDate=free[0].start if free else None, LastDate=free[-1].start if free else None)


def _appointment(store: ScheduleStore, slot: Slot) -> Appointment:
    lpu = store.lpus[store.doctors[slot.doctor_id].lpu_id]
    return Appointment(Address=lpu.full_name, IdAppointment=slot.id, Num=slot.num, Room=slot.room,
                       VisitStart=slot.start, VisitEnd=slot.end)


def _range(store: ScheduleStore, lpu_id: int, idDoc: str | None, start: datetime | None,
           end: datetime | None) -> list[Slot]:
    doctor = store.doctor(lpu_id, idDoc)
    if start is None or end is None or end < start:
        raise MisRefusal(4)
    return store.slots([doctor.id], start, end)


def _day(value: datetime | date | None) -> date | None:
    return value.date() if isinstance(value, datetime) else value


_STR = text()
_INT = integer()
_INT_NIL = integer(nillable=True)
_WHEN = moment()


class HubService(BridgeServiceBase):
    """Сервис записи на приём к врачу (HubService), песочница МИС."""

    @rpc(_INT_NIL, _STR, _INT_NIL, _returns=GetLPUListResult)
    def GetLPUList(ctx: Any, idDistrict: int | None, guid: str | None, idHistory: int | None) -> Any:
        def work() -> dict[str, Any]:
            lpus = [lpu for lpu in _store(ctx).lpus.values() if idDistrict is None or lpu.district == idDistrict]
            return {"ListLPU": [Clinic(IdLPU=lpu.id, LPUFullName=lpu.full_name, LPUShortName=lpu.short_name,
                                       District=lpu.district, IsActive=True, LPUType=1, Oid=lpu.oid)
                                for lpu in lpus]}
        return _answer(GetLPUListResult, guid, idHistory, work)

    @rpc(_INT, _STR, _STR, _INT_NIL, _returns=GetSpesialityListResult)
    def GetSpesialityList(ctx: Any, idLpu: int, idPat: str | None, guid: str | None, idHistory: int | None) -> Any:
        def work() -> dict[str, Any]:
            store = _store(ctx)
            ids = sorted({d.speciality_id for d in store.doctors_of(idLpu, None)}, key=int)
            return {"ListSpesiality": [_speciality(store, idLpu, sid) for sid in ids]}
        return _answer(GetSpesialityListResult, guid, idHistory, work)

    @rpc(_STR, _INT, _STR, _STR, _INT_NIL, _returns=GetDoctorListResult)
    def GetDoctorList(ctx: Any, idSpesiality: str | None, idLpu: int, idPat: str | None, guid: str | None,
                      idHistory: int | None) -> Any:
        def work() -> dict[str, Any]:
            store = _store(ctx)
            if not idSpesiality:
                raise MisRefusal(4)
            return {"Docs": [_doctor(store, d.id) for d in store.doctors_of(idLpu, idSpesiality)]}
        return _answer(GetDoctorListResult, guid, idHistory, work)

    @rpc(_STR, _INT, _STR, _WHEN, _WHEN, _STR, _INT_NIL, _returns=GetAvailableDatesResult)
    def GetAvailableDates(ctx: Any, idDoc: str | None, idLpu: int, idPat: str | None, visitStart: datetime | None,
                          visitEnd: datetime | None, guid: str | None, idHistory: int | None) -> Any:
        def work() -> dict[str, Any]:
            days = sorted({slot.start.date() for slot in _range(_store(ctx), idLpu, idDoc, visitStart, visitEnd)})
            return {"AvailableDateList": [datetime.combine(day, time.min) for day in days]}
        return _answer(GetAvailableDatesResult, guid, idHistory, work)

    @rpc(_STR, _INT, _STR, _WHEN, _WHEN, _STR, _INT_NIL, _returns=GetAvaibleAppointmentsResult)
    def GetAvaibleAppointments(ctx: Any, idDoc: str | None, idLpu: int, idPat: str | None,
                               visitStart: datetime | None, visitEnd: datetime | None, guid: str | None,
                               idHistory: int | None) -> Any:
        def work() -> dict[str, Any]:
            store = _store(ctx)
            slots = _range(store, idLpu, idDoc, visitStart, visitEnd)
            return {"ListAppointments": [_appointment(store, slot) for slot in slots]}
        return _answer(GetAvaibleAppointmentsResult, guid, idHistory, work)

    @rpc(Patient.customize(min_occurs=0, nillable=True), _INT, _STR, _INT_NIL, _returns=CheckPatientResult)
    def CheckPatient(ctx: Any, pat: Patient | None, idLpu: int, guid: str | None, idHistory: int | None) -> Any:
        def work() -> dict[str, Any]:
            if pat is None:
                raise MisRefusal(4)
            found = _store(ctx).find_person(idLpu, pat.Snils, pat.Surname, pat.Name, pat.SecondName,
                                            _day(pat.Birthday))
            return {"IdPat": found}
        return _answer(CheckPatientResult, guid, idHistory, work)

    @rpc(_STR, _INT, _STR, _STR, SearchOneDirectionResult.customize(min_occurs=0, nillable=True), _STR, _STR,
         _INT_NIL, _returns=SetAppointmentResult)
    def SetAppointment(ctx: Any, idAppointment: str | None, idLpu: int, idPat: str | None,
                       doctorsReferral: str | None, attachedReferral: Any, idAppointmentPrev: str | None,
                       guid: str | None, idHistory: int | None) -> Any:
        def work() -> dict[str, Any]:
            store = _store(ctx)
            speciality = store.book(idLpu, idAppointment, idPat, provided(ctx, _Mis).clock())
            return {"Type": "широкого_профиля" if speciality.by_area else "узкий"}
        return _answer(SetAppointmentResult, guid, idHistory, work)

    @rpc(_INT, _STR, _STR, _STR, _INT_NIL, _returns=CreateClaimForRefusalResult)
    def CreateClaimForRefusal(ctx: Any, idLpu: int, idPat: str | None, idAppointment: str | None,
                              guid: str | None, idHistory: int | None) -> Any:
        def work() -> dict[str, Any]:
            _store(ctx).cancel(idLpu, idPat, idAppointment)
            return {}
        return _answer(CreateClaimForRefusalResult, guid, idHistory, work)

    @rpc(_INT, _STR, _STR, _INT_NIL, _returns=GetPatientHistoryResult)
    def GetPatientHistory(ctx: Any, idLpu: int, idPat: str | None, guid: str | None, idHistory: int | None) -> Any:
        def work() -> dict[str, Any]:
            store = _store(ctx)
            visits = store.visits(idLpu, idPat, provided(ctx, _Mis).clock())
            entries = []
            for visit in visits:
                doctor = store.doctors[visit.slot.doctor_id]
                entries.append((visit.cancelled, HistoryVisit(
                    DateCreatedAppointment=visit.created, IdAppointment=visit.id, VisitStart=visit.slot.start,
                    DoctorRendingConsultation=_doctor(store, doctor.id, with_counts=False),
                    SpecialityRendingConsultation=Spesiality(
                        IdSpesiality=doctor.speciality_id, CountFreeParticipantIE=0, CountFreeTicket=0,
                        NameSpesiality=store.specialities[doctor.speciality_id].name))))
            return {"ListHistoryVisit": [e for cancelled, e in entries if not cancelled],
                    "ListHistoryRefusal": [e for cancelled, e in entries if cancelled]}
        return _answer(GetPatientHistoryResult, guid, idHistory, work)


def build_application(store: ScheduleStore | None = None, clock: Callable[[], datetime] | None = None) -> Application:
    return ServiceApplication([HubService], tns=TEMPURI, name=PORT_TYPE,
                              provides=_Mis(store or ScheduleStore(), clock or datetime.now))


def hubservice_wsdl(application: Application, address: str) -> bytes:
    """The WSDL of the sandbox, with the contract's SOAPActions and WCF names.

    spyne 2.14 writes ``soapAction`` as the bare operation name (spyne/interface/wsdl/wsdl11.py,
    ``soap_operation.set('soapAction', method.operation_name)``) where a WCF HubService has
    ``http://tempuri.org/IHubService/<Operation>``, and names the binding and the port after the
    portType; wsdl:definitions takes the application (portType) name. Those are corrected here, and
    each schema's imports are put in a stable order (spyne's follows a set's).
    """
    tree = etree.fromstring(generated_wsdl(application, address))
    tree.set("name", SERVICE_NAME)
    for operation in tree.iter(f"{{{_SOAP}}}operation"):
        operation.set("soapAction", SOAP_ACTION.format(operation=operation.get("soapAction", "")))
    for binding in tree.iter(f"{{{_WSDL}}}binding"):
        binding.set("name", BINDING)
    for port in tree.iter(f"{{{_WSDL}}}port"):
        port.set("name", BINDING)
        port.set("binding", f"tns:{BINDING}")
    for schema in tree.iter(f"{{{_XS}}}schema"):   # spyne writes a schema's imports in set order: sorted here
        imports = schema.findall(f"{{{_XS}}}import")
        for element in imports:
            schema.remove(element)
        for position, element in enumerate(sorted(imports, key=lambda e: e.get("namespace", ""))):
            schema.insert(position, element)
    return bytes(etree.tostring(tree, pretty_print=True, xml_declaration=True, encoding="UTF-8"))
