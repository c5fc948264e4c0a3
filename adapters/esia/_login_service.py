"""The SOAP face of ЕСИА login for the МИС: EsiaLogin (wsdl/esia-login.wsdl)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from spyne import Application, Array, ComplexModel, DateTime, Unicode
from spyne import rpc as _spyne_rpc
from spyne.protocol.soap import Soap11

from adapters.esia._login import EsiaLogin
from bridge.soap import BridgeServiceBase, SoapService

NAMESPACE = "urn:misbridge:esia:login:1"
SERVICE_NAME = "esia-login"
rpc: Callable[..., Callable[[Callable[..., Any]], Any]] = _spyne_rpc


def _text(doc: str, required: bool = False) -> Any:
    return Unicode(min_occurs=1 if required else 0, nillable=not required, doc=doc)


class Document(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Series", _text("Серия")),
        ("Number", _text("Номер")),
        ("IssueDate", _text("Дата выдачи, ДД.ММ.ГГГГ")),
        ("IssuedBy", _text("Кем выдан")),
        ("IssuerCode", _text("Код подразделения")),
    ]


class OmsPolicy(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [("Series", _text("Серия (полисы старого образца)")), ("Number", _text("Номер (ЕНП)"))]


class EsiaChild(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Oid", _text("Идентификатор ребёнка в ЕСИА")),
        ("LastName", _text("Фамилия")),
        ("FirstName", _text("Имя")),
        ("MiddleName", _text("Отчество")),
        ("BirthDate", _text("Дата рождения, ДД.ММ.ГГГГ")),
        ("Gender", _text("Пол: 1 мужской, 2 женский")),
        ("Snils", _text("СНИЛС, 11 цифр")),
        ("BirthCertificate", Document.customize(min_occurs=0)),
        ("OmsPolicy", OmsPolicy.customize(min_occurs=0)),
    ]


class EsiaPerson(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Oid", _text("Идентификатор пользователя в ЕСИА", required=True)),
        ("AccountConfirmed", _text("Учётная запись подтверждена: true/false")),
        ("LastName", _text("Фамилия")),
        ("FirstName", _text("Имя")),
        ("MiddleName", _text("Отчество")),
        ("BirthDate", _text("Дата рождения, ДД.ММ.ГГГГ")),
        ("Gender", _text("Пол: 1 мужской, 2 женский")),
        ("Snils", _text("СНИЛС, 11 цифр")),
        ("Inn", _text("ИНН")),
        ("BirthPlace", _text("Место рождения")),
        ("MobilePhone", _text("Мобильный телефон, 8XXXXXXXXXX")),
        ("Email", _text("Электронная почта")),
        ("Passport", Document.customize(min_occurs=0)),
        ("OmsPolicy", OmsPolicy.customize(min_occurs=0)),
        ("RegistrationAddress", _text("Адрес регистрации")),
        ("ResidenceAddress", _text("Адрес фактического проживания")),
        ("Children", Array(EsiaChild).customize(min_occurs=0)),
    ]


class EsiaToken(ComplexModel):  # type: ignore[misc]
    """What the bridge verified in ЕСИА's access token (the token itself never leaves the bridge)."""

    __namespace__ = NAMESPACE
    _type_info = [
        ("Subject", _text("oid пользователя (urn:esia:sbj_id)", required=True)),
        ("Algorithm", _text("Алгоритм подписи маркера: RS256 или GOST3410_2012_256", required=True)),
        ("Issuer", _text("Издатель маркера (iss)", required=True)),
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
        ("Url", _text("Адрес страницы входа ЕСИА, куда перенаправить пользователя", required=True)),
        ("State", _text("Идентификатор попытки входа; передайте его в CompleteEsiaLogin", required=True)),
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
    login: EsiaLogin | None = ctx.app.esia_login
    if login is None:
        from bridge.errors import ServiceUnavailable

        raise ServiceUnavailable("вход через ЕСИА не настроен (adapter_settings.esia.login)")
    return login


def _required(name: str, value: str | None) -> str:
    from bridge.errors import InvalidField

    if value is None or not value.strip():
        raise InvalidField(name, "обязательное поле не заполнено")
    return value.strip()


class EsiaLoginService(BridgeServiceBase):
    """Вход пациента через Госуслуги (ЕСИА): OAuth 2.0 / OpenID Connect."""

    @rpc(_text("Адрес возврата после входа (зарегистрирован для ИС в ЕСИА)", required=True),
         _text("Цель входа, для журнала: например, запись на ТМК"), _returns=LoginUrl)
    def GetEsiaLoginUrl(ctx: Any, ReturnUrl: str, Purpose: str | None) -> Any:
        """Адрес входа в ЕСИА и state для CompleteEsiaLogin."""
        start = _login(ctx).start(_required("ReturnUrl", ReturnUrl), Purpose)
        return LoginUrl(Url=start.url, State=start.state, ExpiresAt=start.expires_at)

    @rpc(_text("Код авторизации из адреса возврата (code)", required=True),
         _text("state из адреса возврата", required=True), _returns=EsiaLoginResult)
    def CompleteEsiaLogin(ctx: Any, Code: str, State: str) -> Any:
        """Завершить вход: данные пользователя, его документы, полис ОМС и дети; проверенный маркер."""
        return _result(_login(ctx).complete(_required("Code", Code), _required("State", State)))

    @rpc(_text("Одноразовый билет, с которым браузер вернулся на портал", required=True),
         _returns=EsiaLoginResult)
    def RedeemEsiaTicket(ctx: Any, Ticket: str) -> Any:
        """Данные пользователя по билету после входа через /esia/login."""
        return _result(_login(ctx).redeem_ticket(_required("Ticket", Ticket)))

    @rpc(_text("Адрес возврата после выхода", required=True), _returns=_text("Адрес выхода из ЕСИА", required=True))
    def GetEsiaLogoutUrl(ctx: Any, ReturnUrl: str) -> Any:
        """Адрес выхода из ЕСИА."""
        return _login(ctx).logout_url(_required("ReturnUrl", ReturnUrl))


def build_login_service(login: EsiaLogin | None, wsdl_dir: Path) -> SoapService:
    application = Application([EsiaLoginService], tns=NAMESPACE, name="EsiaLogin",
                              in_protocol=Soap11(validator="lxml"), out_protocol=Soap11())
    application.esia_login = login
    return SoapService(SERVICE_NAME, application, wsdl_dir / f"{SERVICE_NAME}.wsdl")
