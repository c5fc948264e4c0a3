"""The SOAP face the МИС calls: EgiszAttachments (wsdl/egisz-attachments.wsdl)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from spyne import Application, Array, Boolean, ComplexModel, DateTime, Enum, Integer, Unicode
from spyne import rpc as _spyne_rpc
from spyne.protocol.soap import Soap11

from adapters.egisz._facade import Attachments
from adapters.egisz._model import ApplicationType, AttachmentType, Outcome
from bridge.errors import InvalidField
from bridge.soap import BridgeServiceBase, SoapService

NAMESPACE = "urn:misbridge:egisz:attachments:1"
SERVICE_NAME = "egisz-attachments"
rpc: Callable[..., Callable[[Callable[..., Any]], Any]] = _spyne_rpc


def _text(doc: str, required: bool = False) -> Any:
    return Unicode(min_occurs=1 if required else 0, nillable=not required, doc=doc)


ApplicationTypeCode = Enum(*[t.value for t in ApplicationType], type_name="ApplicationType")
AttachmentTypeCode = Enum(*[t.value for t in AttachmentType], type_name="AttachmentType")
OutcomeCode = Enum(*[o.value for o in Outcome], type_name="ReplyOutcome")


class SearchCriteria(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("PeriodFrom", _text("Начало периода (дата заявления), ДД.ММ.ГГГГ", required=True)),
        ("PeriodTo", _text("Конец периода включительно, ДД.ММ.ГГГГ", required=True)),
        ("PatientGuid", _text("GUID пациента")),
        ("Snils", _text("СНИЛС пациента, 11 цифр")),
        ("ApplicationType", ApplicationTypeCode.customize(min_occurs=0, nillable=True)),
        ("AttachmentType", AttachmentTypeCode.customize(min_occurs=0, nillable=True)),
        ("Status", Integer(min_occurs=0, nillable=True, doc="Код статуса ЕПГУ: 21, 3, 4, 6, 9, 10, 11")),
    ]


class ApplicationRow(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Id", _text("Идентификатор заявления", required=True)),
        ("FullName", _text("ФИО пациента")),
        ("Snils", _text("СНИЛС")),
        ("AttachmentType", AttachmentTypeCode),
        ("ApplicationDate", _text("Дата заявления, ДД.ММ.ГГГГ")),
        ("ApplicationType", ApplicationTypeCode),
        ("Status", Integer(doc="Код статуса ЕПГУ")),
        ("StatusName", _text("Статус")),
    ]


class StatusChange(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Status", Integer), ("StatusName", Unicode), ("At", DateTime), ("Author", Unicode), ("Note", Unicode),
    ]


class ReplyError(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [("Code", Unicode), ("Detail", Unicode), ("At", Unicode)]


_CARD_FIELDS = (
    "OrderNumber", "PatientGuid", "Snils", "LastName", "FirstName", "MiddleName", "BirthDate", "Gender",
    "OmsPolicy", "Phone", "RegistrationAddress", "ResidenceAddress", "MoOid", "Department", "DistrictNumber",
    "ApplicationDate", "ChangeDate", "DoctorName", "DoctorPosition", "DoctorLastName", "DoctorFirstName",
    "DoctorMiddleName", "DoctorSnils", "DoctorSpecialty", "ApplicantGuid", "ApplicantLastName",
    "ApplicantFirstName", "ApplicantMiddleName", "Relation", "RelationName", "RefusalReason", "CancelResult",
    "CancelReason", "ReplyOutcome", "ReplyComment", "ReplyDate", "RespondingEmployee",
)


class ApplicationCard(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Id", _text("Идентификатор заявления", required=True)),
        ("ApplicationType", ApplicationTypeCode),
        ("AttachmentType", AttachmentTypeCode),
        ("Status", Integer(doc="Код статуса ЕПГУ")),
        ("StatusName", Unicode),
        ("RelatedApplicationId", _text("Заявление, которое отменяется (о выборе МО или об откреплении)")),
        ("RelatedApplicationType", ApplicationTypeCode.customize(
            min_occurs=0, nillable=True, doc="Тип отменяемого заявления: отмену открепления можно только отклонить")),
        *[(name, _text(name)) for name in _CARD_FIELDS],
        ("RefusalReasonCode", Integer(min_occurs=0, nillable=True, doc="Код причины отказа")),
        ("ReplyPending", Boolean(doc="Ответ отправляется в ЕГИСЗ")),
        ("ReplyDeliveryFailed", Boolean(doc="Ответ не удалось доставить: обратитесь к администратору")),
        ("LastReplyError", ReplyError.customize(min_occurs=0, nillable=True)),
        ("DataWarnings", Array(Unicode).customize(min_occurs=0, nillable=True)),
        ("History", Array(StatusChange)),
    ]


class ReplyRequest(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Outcome", OutcomeCode.customize(min_occurs=1, nillable=False)),
        ("Comment", _text("Комментарий к ответу", required=True)),
        ("Employee", _text("ФИО сотрудника, отвечающего на заявление", required=True)),
        ("DistrictNumber", _text("Номер участка (для «Услуга оказана»)")),
        ("DoctorLastName", _text("Фамилия участкового врача (для «Услуга оказана»)")),
        ("DoctorFirstName", _text("Имя участкового врача (для «Услуга оказана»)")),
        ("DoctorMiddleName", _text("Отчество участкового врача, если есть")),
        ("DoctorSnils", _text("СНИЛС участкового врача, 11 цифр (для «Услуга оказана»)")),
        ("DoctorSpecialty", _text("Специальность (должность) врача (для «Услуга оказана»)")),
        ("RefusalReasonCode", Integer(min_occurs=0, nillable=True,
                                      doc="Код причины отказа из справочника региона (для «Отказано»)")),
        ("ReplyDate", _text("Дата ответа, ДД.ММ.ГГГГ (для открепления)")),
        ("IdempotencyKey", _text("Ключ повтора: тот же ключ — тот же ответ, без дубля")),
    ]


class ReplyReceipt(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("MessageId", _text("Идентификатор ответа в очереди доставки", required=True)),
        ("Duplicate", Boolean(doc="Такой ответ уже был принят; второй не отправляется")),
        ("Status", Integer(doc="Статус заявления сейчас (меняется, когда ЕГИСЗ примет ответ)")),
        ("Message", Unicode),
    ]


class IntakeRun(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("RunId", Unicode), ("State", Unicode), ("Processed", Integer), ("WindowFrom", DateTime),
        ("WindowTo", DateTime), ("Error", Unicode),
    ]


def _facade(ctx: Any) -> Attachments:
    facade: Attachments = ctx.app.egisz
    return facade


def _code(value: Any) -> str | None:
    """spyne's enum values are objects (and falsy): plain strings for the layers below."""
    return None if value is None else str(value)


def _day(value: str | None, field: str) -> date:
    if value is None or not value.strip():
        raise InvalidField(field, "обязательное поле не заполнено")
    try:
        return datetime.strptime(value.strip(), "%d.%m.%Y").date()
    except ValueError:
        raise InvalidField(field, "ожидается существующая дата в формате ДД.ММ.ГГГГ") from None


class EgiszAttachments(BridgeServiceBase):
    """Заявления ЕГИСЗ «Прикрепление онлайн»: поиск, карточка, ответ."""

    @rpc(SearchCriteria.customize(min_occurs=1, nillable=False), _returns=Array(ApplicationRow))
    def SearchApplications(ctx: Any, Criteria: SearchCriteria) -> Any:
        """Заявления вашей МО за период (МО определяется по настройкам клиента)."""
        snils = (Criteria.Snils or "").strip() or None
        if snils is not None and not re.fullmatch(r"\d{11}", snils):
            raise InvalidField("Snils", "ожидается СНИЛС из 11 цифр без разделителей")
        rows = _facade(ctx).search(
            _day(Criteria.PeriodFrom, "PeriodFrom"), _day(Criteria.PeriodTo, "PeriodTo"),
            patient_guid=(Criteria.PatientGuid or "").strip() or None, snils=snils,
            type=_code(Criteria.ApplicationType), attachment_type=_code(Criteria.AttachmentType),
            status=Criteria.Status)
        return [ApplicationRow(**row) for row in rows]

    @rpc(_text("Идентификатор заявления", required=True), _returns=ApplicationCard)
    def GetApplication(ctx: Any, Id: str) -> Any:
        """Карточка заявления и история изменений статуса."""
        card = _facade(ctx).card(Id.strip())
        history = [StatusChange(**change) for change in card.pop("History")]
        error = card.pop("LastReplyError", None)
        return ApplicationCard(**card, History=history, LastReplyError=ReplyError(**error) if error else None)

    @rpc(_text("Идентификатор заявления", required=True), ReplyRequest.customize(min_occurs=1, nillable=False),
         _returns=ReplyReceipt)
    def ReplyToApplication(ctx: Any, Id: str, Reply: ReplyRequest) -> Any:
        """Ответ на заявление; статус изменится, когда ЕГИСЗ примет ответ."""
        fields = {name: getattr(Reply, name) for name in (
            "Comment", "Employee", "DistrictNumber", "DoctorLastName", "DoctorFirstName", "DoctorMiddleName",
            "DoctorSnils", "DoctorSpecialty", "RefusalReasonCode", "ReplyDate", "IdempotencyKey")}
        receipt = _facade(ctx).reply(Id.strip(), {**fields, "Outcome": _code(Reply.Outcome)})
        return ReplyReceipt(**receipt)

    @rpc(_text("Начало периода, ДД.ММ.ГГГГ (по умолчанию — с прошлого успешного приёма)"),
         _text("Конец периода включительно, ДД.ММ.ГГГГ (по умолчанию — сейчас)"), _returns=IntakeRun)
    def RunIntake(ctx: Any, PeriodFrom: str | None, PeriodTo: str | None) -> Any:
        """Запустить приём заявлений из ЕГИСЗ сейчас (обычно он идёт по расписанию)."""
        if PeriodFrom:
            _day(PeriodFrom, "PeriodFrom")
        if PeriodTo:
            _day(PeriodTo, "PeriodTo")
        return IntakeRun(**_facade(ctx).run_intake(PeriodFrom, PeriodTo, trigger="soap"))


def build_service(facade: Attachments | None, wsdl_dir: Path) -> SoapService:
    application = Application([EgiszAttachments], tns=NAMESPACE, name="EgiszAttachments",
                              in_protocol=Soap11(validator="lxml"), out_protocol=Soap11())
    application.egisz = facade
    return SoapService(SERVICE_NAME, application, wsdl_dir / f"{SERVICE_NAME}.wsdl")
