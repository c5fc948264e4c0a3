"""The SOAP service the МИС calls: EsiaAccounts (document/literal wrapped, WSDL in wsdl/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spyne import Array, Boolean, ComplexModel, Enum

from adapters.esia._patients import CheckResult, PatientAccounts
from bridge.soap import BridgeServiceBase, ServiceApplication, SoapService, provided, rpc, text_element

NAMESPACE = "urn:misbridge:esia:accounts:1"
SERVICE_NAME = "esia-accounts"
NOT_CONFIGURED = ("Операции с учётными записями ЕСИА не настроены: укажите узел СМЭВ "
                  "(adapter_settings.esia.smev, docs/esia-accounts.md)")
REGISTERED = ("Регистрация пациента в ЕСИА успешно выполнена. Пароль для первого входа ЕСИА отправила SMS "
              "на мобильный телефон пациента (шлюзу и МИС он не сообщается). Логин — СНИЛС.")
PASSWORD_RESET = ("Сброс пароля в ЕСИА выполнен. Новый пароль для входа ЕСИА отправила SMS на мобильный "
                  "телефон пациента (шлюзу и МИС он не сообщается). Логин — СНИЛС.")


class Patient(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    __doc__ = "Пациент, как он записан в МИС"
    _type_info = [
        ("MisPatientId", text_element("Идентификатор пациента в МИС", required=True)),
        ("LastName", text_element("Фамилия", required=True)),
        ("FirstName", text_element("Имя", required=True)),
        ("MiddleName", text_element("Отчество (если есть)")),
        ("BirthDate", text_element("Дата рождения, ДД.ММ.ГГГГ", required=True)),
        ("Snils", text_element("СНИЛС, 11 цифр без разделителей", required=True)),
        ("MobilePhone", text_element("Мобильный телефон, 8XXXXXXXXXX (11 цифр); обязателен для регистрации")),
        ("Gender", text_element("Пол по НСИ 1.2.643.5.1.13.13.11.1040: 1 мужской, 2 женский; "
                                "обязателен для регистрации")),
        ("PassportSeries", text_element("Серия паспорта гражданина РФ (4 цифры); для регистрации и обновления")),
        ("PassportNumber", text_element("Номер паспорта гражданина РФ (6 цифр); "
                                        "обязателен для регистрации и обновления")),
        ("PassportIssueDate", text_element("Дата выдачи паспорта, ДД.ММ.ГГГГ; "
                                           "обязательна для регистрации и обновления")),
        ("PassportIssuerCode", text_element("Код подразделения, выдавшего паспорт (XXX-XXX)")),
        ("PassportIssuedBy", text_element("Кем выдан паспорт")),
    ]


CheckOutcome = Enum("NOT_FOUND", "MATCH", "MISMATCH", type_name="CheckOutcome")
AllowedAction = Enum("REGISTER", "UPDATE", "RESET_PASSWORD", type_name="AllowedAction")


class FieldDifference(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Field", text_element("Элемент Patient, в котором данные расходятся", required=True)),
        ("Label", text_element("Название поля для оператора", required=True)),
        ("MisValue", text_element("Значение в МИС", required=True)),
        ("EsiaValue", text_element("Значение в ЕСИА (в формате МИС)", required=True)),
    ]


class CheckPatientResult(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Result", CheckOutcome.customize(min_occurs=1, nillable=False)),
        ("AccountConfirmed", Boolean(min_occurs=0, nillable=False)),
        ("Differences", Array(FieldDifference).customize(min_occurs=0, nillable=False)),
        ("AllowedActions", Array(AllowedAction).customize(min_occurs=1, nillable=False)),
        ("Message", text_element("Сообщение для оператора", required=True)),
    ]


class TemporaryPasswordResult(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [
        ("Login", text_element("Логин пациента на Госуслугах (СНИЛС)", required=True)),
        ("TemporaryPassword", text_element(
            "Временный пароль. Через СМЭВ ЕСИА отправляет пароль SMS на мобильный телефон пациента и шлюзу его "
            "не сообщает: поле пустое", required=True)),
        ("Message", text_element("Сообщение для оператора", required=True)),
    ]


class UpdatePatientResult(ComplexModel):  # type: ignore[misc]
    __namespace__ = NAMESPACE
    _type_info = [("Message", text_element("Сообщение для оператора", required=True))]


_PATIENT_FIELDS: tuple[str, ...] = tuple(str(name) for name in Patient.get_flat_type_info(Patient))


def _patient(ctx: Any, patient: Patient | None) -> tuple[PatientAccounts, dict[str, Any]]:
    data = {} if patient is None else {name: getattr(patient, name) for name in _PATIENT_FIELDS}
    return provided(ctx, PatientAccounts, NOT_CONFIGURED), data


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
        """Регистрировать в ЕСИА: пароль для первого входа ЕСИА отправит SMS пациенту; логин — СНИЛС."""
        accounts, patient = _patient(ctx, Patient)
        accounts.register(patient)
        return TemporaryPasswordResult(Login=patient["Snils"], TemporaryPassword="", Message=REGISTERED)

    @rpc(Patient.customize(min_occurs=1, nillable=False), _returns=UpdatePatientResult)
    def UpdatePatient(ctx: Any, Patient: Patient) -> Any:
        """Обновить в ЕСИА данные пациента из МИС."""
        accounts, patient = _patient(ctx, Patient)
        accounts.update(patient)
        return UpdatePatientResult(Message="Обновление в ЕСИА информации о пациенте успешно выполнено!")

    @rpc(Patient.customize(min_occurs=1, nillable=False), _returns=TemporaryPasswordResult)
    def ResetPassword(ctx: Any, Patient: Patient) -> Any:
        """Сброс пароля в ЕСИА: новый пароль ЕСИА отправит SMS пациенту."""
        accounts, patient = _patient(ctx, Patient)
        accounts.reset_password(patient)
        return TemporaryPasswordResult(Login=patient["Snils"], TemporaryPassword="", Message=PASSWORD_RESET)


def build_service(accounts: PatientAccounts | None, wsdl_dir: Path) -> SoapService:
    application = ServiceApplication([EsiaAccounts], tns=NAMESPACE, name="EsiaAccounts", provides=accounts)
    return SoapService(SERVICE_NAME, application, wsdl_dir / f"{SERVICE_NAME}.wsdl")
