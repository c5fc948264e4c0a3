"""The SOAP face the МИС calls: EgiszAttachments (wsdl/egisz-attachments.wsdl)."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from spyne import Array, Boolean, ComplexModel, DateTime, Enum, Integer, Unicode

from adapters.egisz._facade import Attachments
from adapters.egisz._model import ApplicationType, AttachmentType, Outcome
from bridge.errors import InvalidField
from bridge.soap import BridgeServiceBase, ServiceApplication, SoapService, provided, rpc, text_element

NAMESPACE = "urn:misbridge:egisz:attachments:1"
SERVICE_NAME = "egisz-attachments"


ApplicationTypeCode = Enum(*[t.value for t in ApplicationType], type_name="ApplicationType")
AttachmentTypeCode = Enum(*[t.value for t in AttachmentType], type_name="AttachmentType")
OutcomeCode = Enum(*[o.value for o in Outcome], type_name="ReplyOutcome")


class SearchCriteria(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("PeriodFrom", text_element("Начало периода (дата заявления), ДД.ММ.ГГГГ", required=True)),
        ("PeriodTo", text_element("Конец периода включительно, ДД.ММ.ГГГГ", required=True)),
        ("PatientGuid", text_element("GUID пациента")),
        ("Snils", text_element("СНИЛС пациента, 11 цифр")),
        ("ApplicationType", ApplicationTypeCode.customize(min_occurs=0, nillable=True)),
        ("AttachmentType", AttachmentTypeCode.customize(min_occurs=0, nillable=True)),
        ("Status", Integer(min_occurs=0, nillable=True, doc="Код статуса ЕПГУ: 21, 3, 4, 6, 9, 10, 11")),
    ]


class ApplicationRow(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Id", text_element("Идентификатор заявления", required=True)),
        ("FullName", text_element("ФИО пациента")),
        ("Snils", text_element("СНИЛС")),
        ("AttachmentType", AttachmentTypeCode),
        ("ApplicationDate", text_element("Дата заявления, ДД.ММ.ГГГГ")),
        ("ApplicationType", ApplicationTypeCode),
        ("Status", Integer(doc="Код статуса ЕПГУ")),
        ("StatusName", text_element("Статус")),
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
        ("Id", text_element("Идентификатор заявления", required=True)),
        ("ApplicationType", ApplicationTypeCode),
        ("AttachmentType", AttachmentTypeCode),
        ("Status", Integer(doc="Код статуса ЕПГУ")),
        ("StatusName", Unicode),
        ("RelatedApplicationId", text_element("Заявление, которое отменяется (о выборе МО или об откреплении)")),
        ("RelatedApplicationType", ApplicationTypeCode.customize(
            min_occurs=0, nillable=True, doc="Тип отменяемого заявления: отмену открепления можно только отклонить")),
        *[(name, text_element(name)) for name in _CARD_FIELDS],
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
        ("Comment", text_element("Комментарий к ответу", required=True)),
        ("Employee", text_element("ФИО сотрудника, отвечающего на заявление", required=True)),
        ("DistrictNumber", text_element("Номер участка (для «Услуга оказана»)")),
        ("DoctorLastName", text_element("Фамилия участкового врача (для «Услуга оказана»)")),
        ("DoctorFirstName", text_element("Имя участкового врача (для «Услуга оказана»)")),
        ("DoctorMiddleName", text_element("Отчество участкового врача, если есть")),
        ("DoctorSnils", text_element("СНИЛС участкового врача, 11 цифр (для «Услуга оказана»)")),
        ("DoctorSpecialty", text_element("Специальность (должность) врача (для «Услуга оказана»)")),
        ("RefusalReasonCode", Integer(min_occurs=0, nillable=True,
                                      doc="Код причины отказа из справочника региона (для «Отказано»)")),
        ("ReplyDate", text_element("Дата ответа, ДД.ММ.ГГГГ (для открепления)")),
        ("IdempotencyKey", text_element("Ключ повтора: тот же ключ — тот же ответ, без дубля")),
    ]


class ReplyReceipt(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("MessageId", text_element("Идентификатор ответа в очереди доставки", required=True)),
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
    return provided(ctx, Attachments)


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

    @rpc(text_element("Идентификатор заявления", required=True), _returns=ApplicationCard)
    def GetApplication(ctx: Any, Id: str) -> Any:
        """Карточка заявления и история изменений статуса."""
        card = _facade(ctx).card(Id.strip())
        history = [StatusChange(**change) for change in card.pop("History")]
        error = card.pop("LastReplyError", None)
        return ApplicationCard(**card, History=history, LastReplyError=ReplyError(**error) if error else None)

    @rpc(text_element("Идентификатор заявления", required=True), ReplyRequest.customize(min_occurs=1, nillable=False),
         _returns=ReplyReceipt)
    def ReplyToApplication(ctx: Any, Id: str, Reply: ReplyRequest) -> Any:
        """Ответ на заявление; статус изменится, когда ЕГИСЗ примет ответ."""
        fields = {name: getattr(Reply, name) for name in (
            "Comment", "Employee", "DistrictNumber", "DoctorLastName", "DoctorFirstName", "DoctorMiddleName",
            "DoctorSnils", "DoctorSpecialty", "RefusalReasonCode", "ReplyDate", "IdempotencyKey")}
        receipt = _facade(ctx).reply(Id.strip(), {**fields, "Outcome": _code(Reply.Outcome)})
        return ReplyReceipt(**receipt)

    @rpc(text_element("Начало периода, ДД.ММ.ГГГГ (по умолчанию — с прошлого успешного приёма)"),
         text_element("Конец периода включительно, ДД.ММ.ГГГГ (по умолчанию — сейчас)"), _returns=IntakeRun)
    def RunIntake(ctx: Any, PeriodFrom: str | None, PeriodTo: str | None) -> Any:
        """Запустить приём заявлений из ЕГИСЗ сейчас (обычно он идёт по расписанию)."""
        if PeriodFrom:
            _day(PeriodFrom, "PeriodFrom")
        if PeriodTo:
            _day(PeriodTo, "PeriodTo")
        return IntakeRun(**_facade(ctx).run_intake(PeriodFrom, PeriodTo, trigger="soap"))


def build_service(facade: Attachments | None, wsdl_dir: Path) -> SoapService:
    application = ServiceApplication([EgiszAttachments], tns=NAMESPACE, name="EgiszAttachments", provides=facade)
    return SoapService(SERVICE_NAME, application, wsdl_dir / f"{SERVICE_NAME}.wsdl")
