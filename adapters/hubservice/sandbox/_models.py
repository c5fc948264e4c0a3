"""The HubService data contracts (namespace HubService2), as spyne models.

Names, namespaces and member order follow the public HubService contract (see docs/hubservice.md):
members in alphabetical order, base-class (MethodResult) members first, every element optional.
Only what the telemedicine booking dialog uses is modelled.
"""

from __future__ import annotations

from typing import Any, ClassVar

from spyne import AnyXml, Array, Boolean, ComplexModel, DateTime, Enum, Integer32, Unicode

TEMPURI = "http://tempuri.org/"
HUB = "http://schemas.datacontract.org/2004/07/HubService2"
HUB_DTO = "http://schemas.datacontract.org/2004/07/HubService2.Dto"
ARRAYS = "http://schemas.microsoft.com/2003/10/Serialization/Arrays"


def text() -> Any:
    return Unicode(min_occurs=0, nillable=True)


def integer(nillable: bool = False) -> Any:
    return Integer32(min_occurs=0, nillable=nillable)


def moment(nillable: bool = False) -> Any:
    return DateTime(min_occurs=0, nillable=nillable)


def flag() -> Any:
    return Boolean(min_occurs=0, nillable=False)


def array_of(item: Any, type_name: str, namespace: str = HUB) -> Any:
    array = Array(item, type_name=type_name).customize(min_occurs=0, nillable=True)
    array.__namespace__ = namespace
    return array


class Error(ComplexModel):  # type: ignore[misc]
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [("ErrorDescription", text()), ("IdError", integer())]


class MethodResult(ComplexModel):  # type: ignore[misc]
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("ErrorList", array_of(Error, "ArrayOfError")),
        ("IdHistory", integer(nillable=True)),
        ("Success", flag()),
    ]


class Patient(ComplexModel):  # type: ignore[misc]
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("AriaNumber", text()),
        ("Birthday", moment(nillable=True)),
        ("CellPhone", text()),
        ("Document_N", text()),
        ("Document_S", text()),
        ("HomePhone", text()),
        ("IdPat", text()),
        ("Name", text()),
        ("Polis_N", text()),
        ("Polis_S", text()),
        ("SecondName", text()),
        ("Snils", text()),
        ("Surname", text()),
    ]


class Clinic(ComplexModel):  # type: ignore[misc]
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("Description", text()),
        ("District", integer(nillable=True)),
        ("IdLPU", integer()),
        ("IsActive", flag()),
        ("LPUFullName", text()),
        ("LPUShortName", text()),
        ("LPUType", integer()),
        ("Oid", text()),
        ("PartOf", integer(nillable=True)),
    ]


class Spesiality(ComplexModel):  # type: ignore[misc]
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("CountFreeParticipantIE", integer()),
        ("CountFreeTicket", integer()),
        ("FerIdSpesiality", text()),
        ("IdSpesiality", text()),
        ("LastDate", moment(nillable=True)),
        ("NameSpesiality", text()),
        ("NearestDate", moment(nillable=True)),
    ]


class Doctor(ComplexModel):  # type: ignore[misc]
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("AriaNumber", text()),
        ("Comment", text()),
        ("CountFreeParticipantIE", integer()),
        ("CountFreeTicket", integer()),
        ("IdDoc", text()),
        ("LastDate", moment(nillable=True)),
        ("Name", text()),
        ("NearestDate", moment(nillable=True)),
        ("Snils", text()),
    ]


class Appointment(ComplexModel):  # type: ignore[misc]
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("Address", text()),
        ("IdAppointment", text()),
        ("Num", integer(nillable=True)),
        ("Room", text()),
        ("VisitEnd", moment()),
        ("VisitStart", moment()),
    ]


class User(ComplexModel):  # type: ignore[misc]
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [("UserName", text()), ("UserPosition", text())]


_VISIT_FIELDS = [
    ("DateCreatedAppointment", moment()),
    ("DoctorBringReferal", Doctor.customize(min_occurs=0, nillable=True)),
    ("DoctorRendingConsultation", Doctor.customize(min_occurs=0, nillable=True)),
    ("IdAppointment", text()),
    ("SpecialityBringReferal", Spesiality.customize(min_occurs=0, nillable=True)),
    ("SpecialityRendingConsultation", Spesiality.customize(min_occurs=0, nillable=True)),
    ("UserCreatedAppointment", User.customize(min_occurs=0, nillable=True)),
    ("VisitStart", moment()),
]


class HistoryVisit(ComplexModel):  # type: ignore[misc]
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = list(_VISIT_FIELDS)


class HistoryRefusal(ComplexModel):  # type: ignore[misc]
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = list(_VISIT_FIELDS)


class Coding(ComplexModel):  # type: ignore[misc]
    """A coded value of the УО referral service (Hub24 xsd3, ``HubService2.Dto``)."""

    __namespace__ = HUB_DTO
    _type_info: ClassVar[list[tuple[str, Any]]] = [("Code", text()), ("System", text()), ("Version", text())]


def _any() -> Any:
    return AnyXml.customize(min_occurs=0, nillable=True)


class Referral(ComplexModel):  # type: ignore[misc]
    """The УО referral (Hub24 xsd3 ``HubService2.Dto.Referral``): its six members by name and order; what
    each holds (EventsInfo, Patient, ReferralInfo, Survey, ReferralSource, ReferralTarget: some twenty
    types more) is not modelled here and travels as ``xs:anyType``. The bot sends no referral."""

    __namespace__ = HUB_DTO
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("EventsInfo", _any()),
        ("Patient", _any()),
        ("ReferralInfo", _any()),
        ("ReferralSurvey", _any()),
        ("Source", _any()),
        ("Target", _any()),
    ]


class SearchOneDirectionResult(ComplexModel):  # type: ignore[misc]
    """``SetAppointment.attachedReferral`` (Hub24 xsd0/xsd2): a referral found in the УО queue."""

    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("IdMq", text()),
        ("MqReferralStatus", Coding.customize(min_occurs=0, nillable=True)),
        ("MqReferralStatusDate", moment(nillable=True)),
        ("QLength", integer()),
        ("Referral", Referral.customize(min_occurs=0, nillable=True)),
    ]


SpecialistType = Enum("отсутстствует_неопределено", "широкого_профиля", "узкий", type_name="SpecialistType")
SpecialistType.__namespace__ = HUB


class CheckPatientResult(MethodResult):
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [("IdPat", text())]


class GetLPUListResult(MethodResult):
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [("ListLPU", array_of(Clinic, "ArrayOfClinic"))]


class GetSpesialityListResult(MethodResult):
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("ListSpesiality", array_of(Spesiality, "ArrayOfSpesiality")),
        ("LpuChanges", text()),
    ]


class GetDoctorListResult(MethodResult):
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [("Docs", array_of(Doctor, "ArrayOfDoctor"))]


class GetAvailableDatesResult(MethodResult):
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("AvailableDateList", array_of(DateTime.customize(type_name="dateTime"), "ArrayOfdateTime", ARRAYS)),
    ]


class GetAvaibleAppointmentsResult(MethodResult):
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [("ListAppointments", array_of(Appointment, "ArrayOfAppointment"))]


class SetAppointmentResult(MethodResult):
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [("Type", SpecialistType.customize(min_occurs=0, nillable=False))]


class CreateClaimForRefusalResult(MethodResult):
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = []


class GetPatientHistoryResult(MethodResult):
    __namespace__ = HUB
    _type_info: ClassVar[list[tuple[str, Any]]] = [
        ("ListHistoryRefusal", array_of(HistoryRefusal, "ArrayOfHistoryRefusal")),
        ("ListHistoryVisit", array_of(HistoryVisit, "ArrayOfHistoryVisit")),
    ]
