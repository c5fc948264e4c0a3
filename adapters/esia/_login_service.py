"""The SOAP face of ЕСИА login for the МИС: EsiaLogin (wsdl/esia-login.wsdl)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from spyne import Array, ComplexModel, DateTime, Unicode

from adapters.esia._login import EsiaLogin
from bridge.errors import InvalidField
from bridge.soap import BridgeServiceBase, ServiceApplication, SoapService, provided, rpc, text_element

NAMESPACE = "urn:misbridge:esia:login:1"
SERVICE_NAME = "esia-login"


class Document(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Series", text_element("Серия")),
        ("Number", text_element("Номер")),
        ("IssueDate", text_element("Дата выдачи, ДД.ММ.ГГГГ")),
        ("IssuedBy", text_element("Кем выдан")),
        ("IssuerCode", text_element("Код подразделения")),
    ]


class OmsPolicy(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [("Series", text_element("Серия (полисы старого образца)")), ("Number", text_element("Номер (ЕНП)"))]


def _who() -> list[tuple[str, Any]]:
    """The elements that say who a person is, in the contract's order (fresh spyne types for each model)."""
    return [("LastName", text_element("Фамилия")), ("FirstName", text_element("Имя")),
            ("MiddleName", text_element("Отчество")), ("BirthDate", text_element("Дата рождения, ДД.ММ.ГГГГ")),
            ("Gender", text_element("Пол: 1 мужской, 2 женский")), ("Snils", text_element("СНИЛС, 11 цифр"))]


class EsiaChild(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Oid", text_element("Идентификатор ребёнка в ЕСИА")),
        *_who(),
        ("BirthCertificate", Document.customize(min_occurs=0)),
        ("OmsPolicy", OmsPolicy.customize(min_occurs=0)),
    ]


class EsiaPerson(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Oid", text_element("Идентификатор пользователя в ЕСИА", required=True)),
        ("AccountConfirmed", text_element("Учётная запись подтверждена: true/false")),
        *_who(),
        ("Inn", text_element("ИНН")),
        ("BirthPlace", text_element("Место рождения")),
        ("MobilePhone", text_element("Мобильный телефон, 8XXXXXXXXXX")),
        ("Email", text_element("Электронная почта")),
        ("Passport", Document.customize(min_occurs=0)),
        ("OmsPolicy", OmsPolicy.customize(min_occurs=0)),
        ("RegistrationAddress", text_element("Адрес регистрации")),
        ("ResidenceAddress", text_element("Адрес фактического проживания")),
        ("Children", Array(EsiaChild).customize(min_occurs=0)),
    ]


class EsiaToken(ComplexModel):  # type: ignore[misc]
    """What the bridge verified in ЕСИА's access token (the token itself never leaves the bridge)."""

    __namespace__ = NAMESPACE
    _type_info = [
        ("Subject", text_element("oid пользователя (urn:esia:sbj_id)", required=True)),
        ("Algorithm", text_element("Алгоритм подписи маркера: RS256 или GOST3410_2012_256", required=True)),
        ("Issuer", text_element("Издатель маркера (iss)", required=True)),
        ("ExpiresAt", DateTime(min_occurs=1, nillable=False, doc="Срок действия маркера")),
        ("Scopes", Array(Unicode).customize(min_occurs=1, nillable=False, doc="Предоставленные области доступа")),
    ]


class EsiaLoginResult(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Person", EsiaPerson.customize(min_occurs=1, nillable=False)),
        ("Token", EsiaToken.customize(min_occurs=1, nillable=False)),
    ]


class LoginUrl(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Url", text_element("Адрес страницы входа ЕСИА, куда перенаправить пользователя", required=True)),
        ("State", text_element("Идентификатор попытки входа; передайте его в CompleteEsiaLogin", required=True)),
        ("ExpiresAt", DateTime(min_occurs=1, nillable=False, doc="До какого момента можно завершить вход")),
    ]


def _person(data: dict[str, Any]) -> EsiaPerson:
    def document(cls: type[ComplexModel], value: Any) -> Any:
        return cls(**value) if isinstance(value, dict) else None

    children = [
        EsiaChild(**{**kid, "BirthCertificate": document(Document, kid.get("BirthCertificate")),
                     "OmsPolicy": document(OmsPolicy, kid.get("OmsPolicy"))})
        for kid in data.get("Children", [])
    ]
    fields = {k: v for k, v in data.items() if k not in ("Children", "Passport", "OmsPolicy")}
    return EsiaPerson(**fields, Passport=document(Document, data.get("Passport")),
                      OmsPolicy=document(OmsPolicy, data.get("OmsPolicy")), Children=children or None)


def _result(login: dict[str, Any]) -> EsiaLoginResult:
    token = login["Token"]
    return EsiaLoginResult(
        Person=_person(login["Person"]),
        Token=EsiaToken(Subject=token["Subject"], Algorithm=token["Algorithm"], Issuer=token["Issuer"],
                        ExpiresAt=datetime.fromisoformat(token["ExpiresAt"]), Scopes=token["Scopes"]),
    )


def _login(ctx: Any) -> EsiaLogin:
    return provided(ctx, EsiaLogin, absent="вход через ЕСИА не настроен (adapter_settings.esia.login)")


def _required(name: str, value: str | None) -> str:
    if value is None or not value.strip():
        raise InvalidField(name, "обязательное поле не заполнено")
    return value.strip()


class EsiaLoginService(BridgeServiceBase):
    """Вход пациента через Госуслуги (ЕСИА): OAuth 2.0 / OpenID Connect."""

    @rpc(text_element("Адрес возврата после входа (зарегистрирован для ИС в ЕСИА)", required=True),
         text_element("Цель входа, для журнала: например, запись на ТМК"), _returns=LoginUrl)
    def GetEsiaLoginUrl(ctx: Any, ReturnUrl: str, Purpose: str | None) -> Any:
        """Адрес входа в ЕСИА и state для CompleteEsiaLogin."""
        start = _login(ctx).start(_required("ReturnUrl", ReturnUrl), Purpose)
        return LoginUrl(Url=start.url, State=start.state, ExpiresAt=start.expires_at)

    @rpc(text_element("Код авторизации из адреса возврата (code)", required=True),
         text_element("state из адреса возврата", required=True), _returns=EsiaLoginResult)
    def CompleteEsiaLogin(ctx: Any, Code: str, State: str) -> Any:
        """Завершить вход: данные пользователя, его документы, полис ОМС и дети; проверенный маркер."""
        return _result(_login(ctx).complete(_required("Code", Code), _required("State", State)))

    @rpc(text_element("Одноразовый билет, с которым браузер вернулся на портал", required=True),
         _returns=EsiaLoginResult)
    def RedeemEsiaTicket(ctx: Any, Ticket: str) -> Any:
        """Данные пользователя по билету после входа через /esia/login."""
        return _result(_login(ctx).redeem_ticket(_required("Ticket", Ticket)))

    @rpc(text_element("Адрес возврата после выхода", required=True),
         _returns=text_element("Адрес выхода из ЕСИА", required=True))
    def GetEsiaLogoutUrl(ctx: Any, ReturnUrl: str) -> Any:
        """Адрес выхода из ЕСИА."""
        return _login(ctx).logout_url(_required("ReturnUrl", ReturnUrl))


def build_login_service(login: EsiaLogin | None, wsdl_dir: Path) -> SoapService:
    application = ServiceApplication([EsiaLoginService], tns=NAMESPACE, name="EsiaLogin", provides=login)
    return SoapService(SERVICE_NAME, application, wsdl_dir / f"{SERVICE_NAME}.wsdl")
