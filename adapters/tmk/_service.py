"""The SOAP face the МИС calls for the bot: TmkNotifications (wsdl/max-tmk.wsdl)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spyne import Array, Boolean, ComplexModel, DateTime, Integer, Unicode

from adapters.tmk._notices import NoticeResult, Notices
from adapters.tmk._people import Person
from bridge.errors import InvalidField
from bridge.identifiers import snils_checksum_ok
from bridge.soap import BridgeServiceBase, ServiceApplication, SoapService, provided, rpc, text_element

NAMESPACE = "urn:misbridge:max:tmk:1"
SERVICE_NAME = "max-tmk"


class PatientIdentity(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Snils", text_element("СНИЛС пациента, 11 цифр", required=True)),
        ("LastName", text_element("Фамилия")),
        ("FirstName", text_element("Имя")),
        ("MiddleName", text_element("Отчество")),
        ("BirthDate", text_element("Дата рождения, ДД.ММ.ГГГГ")),
    ]


class NoticeReceipt(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Delivered", Integer(doc="Скольким пользователям MAX доставлено уведомление")),
        ("Reason", Unicode(doc="Почему не всем (пусто, если всем)")),
    ]


class UndeliveredReminder(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("LpuId", Integer(doc="Идентификатор МО (IdLPU)")),
        ("VisitId", Unicode(doc="Идентификатор записи (IdAppointment)")),
        ("Kind", Unicode(doc="24h — за сутки, 15m — за 15 минут")),
        ("DueAt", DateTime(doc="Когда напоминание должно было уйти (UTC)")),
        ("Reason", Unicode),
    ]


def _notices(ctx: Any) -> Notices:
    return provided(ctx, Notices)


def _snils(value: str | None, field: str) -> str:
    digits = (value or "").strip()
    if not digits:
        raise InvalidField(field, "обязательное поле не заполнено")
    if len(digits) != 11 or not digits.isdigit():
        raise InvalidField(field, "ожидается СНИЛС из 11 цифр без разделителей")
    if not snils_checksum_ok(digits):
        raise InvalidField(field, "неверная контрольная сумма СНИЛС")
    return digits


def _required(value: str | None, field: str) -> str:
    if value is None or not value.strip():
        raise InvalidField(field, "обязательное поле не заполнено")
    return value.strip()


def _person(patient: PatientIdentity, field: str) -> Person:
    snils = _snils(patient.Snils, f"{field}.Snils")
    birth = _required(patient.BirthDate, f"{field}.BirthDate")
    try:
        born = datetime.strptime(birth, "%d.%m.%Y").date()
    except ValueError:
        raise InvalidField(f"{field}.BirthDate", "ожидается существующая дата в формате ДД.ММ.ГГГГ") from None
    return Person(_required(patient.LastName, f"{field}.LastName"), _required(patient.FirstName, f"{field}.FirstName"),
                  (patient.MiddleName or "").strip(), born, snils)


def _visit(lpu_id: int | None, visit_id: str | None) -> tuple[int, str]:
    if lpu_id is None:
        raise InvalidField("LpuId", "обязательное поле не заполнено")
    return lpu_id, _required(visit_id, "VisitId")


def _receipt(result: NoticeResult) -> NoticeReceipt:
    return NoticeReceipt(Delivered=result.delivered, Reason=result.reason)


class TmkNotifications(BridgeServiceBase):
    """Уведомления пациентам в MAX от МИС: ТМК для закрытия больничного, окончание ТМК, отмена записи."""

    @rpc(text_element("СНИЛС пациента, 11 цифр", required=True),
         text_element("Номер листка нетрудоспособности", required=True),
         text_element("ФИО врача, направившего уведомление", required=True), text_element("Специальность врача"),
         _returns=NoticeReceipt)
    def InviteToTmkForSickLeave(ctx: Any, Snils: str, SickLeaveNumber: str, DoctorName: str,
                                Speciality: str | None) -> Any:
        """Пригласить пациента записаться на ТМК для закрытия листка нетрудоспособности (seed 004 §6м)."""
        result = _notices(ctx).invite_for_sick_leave(_snils(Snils, "Snils"),
                                                     _required(SickLeaveNumber, "SickLeaveNumber"),
                                                     _required(DoctorName, "DoctorName"), Speciality)
        return _receipt(result)

    @rpc(Integer(min_occurs=1, nillable=False, doc="Идентификатор МО (IdLPU)"),
         text_element("Идентификатор записи (IdAppointment из GetPatientHistory)", required=True),
         DateTime(min_occurs=1, nillable=False, doc="Начало ТМК"),
         DateTime(min_occurs=1, nillable=False, doc="Окончание ТМК"),
         text_element("Цель ТМК"), text_element("ФИО врача, проводившего ТМК", required=True), _returns=NoticeReceipt)
    def ConsultationFinished(ctx: Any, LpuId: int, VisitId: str, Start: datetime, End: datetime, Goal: str | None,
                             DoctorName: str) -> Any:
        """ТМК окончена: уведомить пользователя (seed 004 §7)."""
        lpu, visit = _visit(LpuId, VisitId)
        if Start is None or End is None or End < Start:
            raise InvalidField("End", "окончание ТМК раньше её начала")
        return _receipt(_notices(ctx).consultation_finished(lpu, visit, Start, End, Goal,
                                                            _required(DoctorName, "DoctorName")))

    @rpc(Integer(min_occurs=1, nillable=False, doc="Идентификатор МО (IdLPU)"),
         text_element("Идентификатор записи (IdAppointment из GetPatientHistory)", required=True),
         text_element("Причина отмены для пациента"), _returns=NoticeReceipt)
    def BookingCancelled(ctx: Any, LpuId: int, VisitId: str, Reason: str | None) -> Any:
        """Запись на ТМК отменена в МИС: напоминания не придут, пользователь уведомлён."""
        lpu, visit = _visit(LpuId, VisitId)
        return _receipt(_notices(ctx).booking_cancelled(lpu, visit, (Reason or "").strip() or None))

    @rpc(text_element("СНИЛС законного представителя", required=True),
         PatientIdentity.customize(min_occurs=1, nillable=False), _returns=Boolean)
    def RegisterRepresentative(ctx: Any, RepresentativeSnils: str, Patient: PatientIdentity) -> Any:
        """Указать, что пользователь — законный представитель пациента (seed 004 §5)."""
        _notices(ctx).register_representative(_snils(RepresentativeSnils, "RepresentativeSnils"),
                                              _person(Patient, "Patient"))
        return True

    @rpc(DateTime(min_occurs=1, nillable=False, doc="С какого момента (UTC)"), _returns=Array(UndeliveredReminder))
    def ListUndeliveredReminders(ctx: Any, Since: datetime) -> Any:
        """Напоминания, не доставленные потому, что пользователь остановил бот: свяжитесь с пациентом иначе."""
        since = Since if Since.tzinfo is not None else Since.replace(tzinfo=UTC)
        return [UndeliveredReminder(**row) for row in _notices(ctx).undelivered_reminders(since)]

    @rpc(text_element("СНИЛС законного представителя", required=True), text_element("СНИЛС пациента", required=True),
         _returns=Boolean)
    def WithdrawRepresentative(ctx: Any, RepresentativeSnils: str, PatientSnils: str) -> Any:
        """Снять представительство; False, если его не было."""
        return _notices(ctx).withdraw_representative(_snils(RepresentativeSnils, "RepresentativeSnils"),
                                                     _snils(PatientSnils, "PatientSnils"))


def build_service(notices: Notices | None, wsdl_dir: Path) -> SoapService:
    application = ServiceApplication([TmkNotifications], tns=NAMESPACE, name="TmkNotifications", provides=notices)
    return SoapService(SERVICE_NAME, application, wsdl_dir / f"{SERVICE_NAME}.wsdl")
