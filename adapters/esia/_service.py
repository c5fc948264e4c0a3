"""The SOAP service the МИС calls: EsiaAccounts (document/literal wrapped, WSDL in wsdl/)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from spyne import Application, Array, Boolean, ComplexModel, Enum, Unicode
from spyne import rpc as _spyne_rpc
from spyne.protocol.soap import Soap11

from adapters.esia._patients import CheckResult, PatientAccounts
from bridge.soap import SoapService
from bridge.soap._endpoint import BridgeServiceBase

NAMESPACE = "urn:misbridge:esia:accounts:1"
SERVICE_NAME = "esia-accounts"


# spyne is untyped; its decorator is given a type here, once.
rpc: Callable[..., Callable[[Callable[..., Any]], Any]] = _spyne_rpc


def _text(doc: str, required: bool = False) -> Any:
    # Optional elements accept xsi:nil, which clients such as node's soap send for null.
    return Unicode(min_occurs=1 if required else 0, nillable=not required, doc=doc)


class Patient(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    __doc__ = "Пациент, как он записан в МИС"
    _type_info = [
        ("MisPatientId", _text("Идентификатор пациента в МИС", required=True)),
        ("LastName", _text("Фамилия", required=True)),
        ("FirstName", _text("Имя", required=True)),
        ("MiddleName", _text("Отчество (если есть)")),
        ("BirthDate", _text("Дата рождения, ДД.ММ.ГГГГ", required=True)),
        ("Snils", _text("СНИЛС, 11 цифр без разделителей", required=True)),
        ("MobilePhone", _text("Мобильный телефон, 8XXXXXXXXXX (11 цифр); обязателен для регистрации")),
        ("Gender", _text("Пол по НСИ 1.2.643.5.1.13.13.11.1040: 1 мужской, 2 женский")),
    ]


CheckOutcome = Enum("NOT_FOUND", "MATCH", "MISMATCH", type_name="CheckOutcome")
AllowedAction = Enum("REGISTER", "UPDATE", "RESET_PASSWORD", type_name="AllowedAction")


class FieldDifference(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Field", _text("Элемент Patient, в котором данные расходятся", required=True)),
        ("Label", _text("Название поля для оператора", required=True)),
        ("MisValue", _text("Значение в МИС", required=True)),
        ("EsiaValue", _text("Значение в ЕСИА (в формате МИС)", required=True)),
    ]


class CheckPatientResult(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Result", CheckOutcome.customize(min_occurs=1, nillable=False)),
        ("AccountConfirmed", Boolean(min_occurs=0, nillable=False)),
        ("Differences", Array(FieldDifference).customize(min_occurs=0, nillable=False)),
        ("AllowedActions", Array(AllowedAction).customize(min_occurs=1, nillable=False)),
        ("Message", _text("Сообщение для оператора", required=True)),
    ]


class TemporaryPasswordResult(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Login", _text("Логин пациента на Госуслугах (СНИЛС)", required=True)),
        ("TemporaryPassword", _text("Временный пароль; пациент сменит его при первом входе", required=True)),
        ("Message", _text("Сообщение для оператора", required=True)),
    ]


class UpdatePatientResult(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [("Message", _text("Сообщение для оператора", required=True))]


_PATIENT_FIELDS: tuple[str, ...] = tuple(str(name) for name in Patient.get_flat_type_info(Patient))


def _patient(ctx: Any, patient: Patient | None) -> tuple[PatientAccounts, dict[str, Any]]:
    data = {} if patient is None else {name: getattr(patient, name) for name in _PATIENT_FIELDS}
    return ctx.app.patient_accounts, data


def _check_result(result: CheckResult) -> CheckPatientResult:
    return CheckPatientResult(
        Result=result.outcome,
        AccountConfirmed=result.account_confirmed,
        Differences=[
            FieldDifference(Field=d.field, Label=d.label, MisValue=d.mis_value, EsiaValue=d.esia_value)
            for d in result.differences
        ] or None,
        AllowedActions=result.allowed_actions,
        Message=result.message,
    )




class EsiaAccounts(BridgeServiceBase):
    """Учётные записи пациентов в ЕСИА: сверка, регистрация, обновление, сброс пароля."""

    @rpc(Patient.customize(min_occurs=1, nillable=False), _returns=CheckPatientResult)
    def CheckPatient(ctx: Any, Patient: Patient) -> Any:
        """Сверка с ЕСИА."""
        accounts, patient = _patient(ctx, Patient)
        return _check_result(accounts.check(patient))

    @rpc(Patient.customize(min_occurs=1, nillable=False), _returns=TemporaryPasswordResult)
    def RegisterPatient(ctx: Any, Patient: Patient) -> Any:
        """Регистрировать в ЕСИА: временный пароль, логин — СНИЛС."""
        accounts, patient = _patient(ctx, Patient)
        issued = accounts.register(patient)
        return TemporaryPasswordResult(
            Login=patient["Snils"], TemporaryPassword=issued.temporary_password,
            Message="Регистрация информации о пациенте в ЕСИА успешно выполнена! "
            "Сообщите пациенту временный пароль; логин — СНИЛС.",
        )

    @rpc(Patient.customize(min_occurs=1, nillable=False), _returns=UpdatePatientResult)
    def UpdatePatient(ctx: Any, Patient: Patient) -> Any:
        """Обновить в ЕСИА данные пациента из МИС."""
        accounts, patient = _patient(ctx, Patient)
        accounts.update(patient)
        return UpdatePatientResult(Message="Обновление в ЕСИА информации о пациенте успешно выполнено!")

    @rpc(Patient.customize(min_occurs=1, nillable=False), _returns=TemporaryPasswordResult)
    def ResetPassword(ctx: Any, Patient: Patient) -> Any:
        """Сброс пароля в ЕСИА: новый временный пароль."""
        accounts, patient = _patient(ctx, Patient)
        issued = accounts.reset_password(patient)
        return TemporaryPasswordResult(
            Login=patient["Snils"], TemporaryPassword=issued.temporary_password,
            Message="Сброс пароля пациента в ЕСИА успешно выполнен! Сообщите пациенту новый временный пароль.",
        )


def build_application(accounts: PatientAccounts | None) -> Application:
    application = Application(
        [EsiaAccounts],
        tns=NAMESPACE,
        name="EsiaAccounts",
        in_protocol=Soap11(validator="lxml"),
        out_protocol=Soap11(),
    )
    application.patient_accounts = accounts
    return application


def build_service(accounts: PatientAccounts | None, wsdl_dir: Path) -> SoapService:
    return SoapService(SERVICE_NAME, build_application(accounts), wsdl_dir / f"{SERVICE_NAME}.wsdl")
