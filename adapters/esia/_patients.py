"""Seed 000's four buttons, as operations on a МИС patient.

    CheckPatient     «Сверка с ЕСИА»         NOT_FOUND / MATCH / MISMATCH with the differing fields
    RegisterPatient  «Регистрировать в ЕСИА» only when not found; the mobile phone is required
    UpdatePatient    «Обновить в ЕСИА»       only when registered and the data differ
    ResetPassword    «Сброс пароля в ЕСИА»   only when registered and the data match

A МИС patient is a dict keyed by SOAP element names; the ``esia.account`` mapping turns
it into ЕСИА's shape and back, so field names and formats live in YAML, not here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from adapters.esia._client import (
    AccountOperationFailed,
    AccountOperations,
    AccountRequestInvalid,
    EsiaAccount,
    IssuedPassword,
    OperationStillRunning,
)
from bridge.errors import InvalidField, RuleViolation, ServiceUnavailable, UpstreamRefused
from bridge.mapping import Mapping, MappingValueError
from bridge.store import OperationJournal, Pseudonymizer

UPSTREAM = "esia"
NOT_FOUND, MATCH, MISMATCH = "NOT_FOUND", "MATCH", "MISMATCH"
REGISTER, UPDATE, RESET_PASSWORD = "REGISTER", "UPDATE", "RESET_PASSWORD"
_ALLOWED = {NOT_FOUND: [REGISTER], MISMATCH: [UPDATE], MATCH: [RESET_PASSWORD]}
_NAME = re.compile(r"^[A-Za-zА-Яа-яЁё][A-Za-zА-Яа-яЁё' .-]{0,59}$")
_T = TypeVar("_T")
PHONE_REQUIRED = "Для регистрации в ЕСИА необходимо указать номер мобильного телефона пациента"


@dataclass(frozen=True, slots=True)
class Difference:
    field: str
    label: str
    mis_value: str = dataclasses.field(repr=False)
    esia_value: str = dataclasses.field(repr=False)


@dataclass(frozen=True, slots=True)
class CheckResult:
    outcome: str
    account_confirmed: bool | None
    differences: list[Difference]
    allowed_actions: list[str]
    message: str


def _normalise(value: Any) -> str:
    return " ".join(str(value).split()).casefold().replace("ё", "е")


class PatientAccounts:
    def __init__(
        self,
        operations: AccountOperations,
        mapping: Mapping,
        journal: OperationJournal,
        pseudonym: Pseudonymizer,
    ) -> None:
        self._operations = operations
        self._mapping = mapping
        self._journal = journal
        self._pseudonym = pseudonym

    # --- the four operations ----------------------------------------------------------------

    def check(self, patient: dict[str, Any]) -> CheckResult:
        person = self._to_upstream(patient)
        account = self._find(person)
        if account is None:
            return CheckResult(NOT_FOUND, None, [], _ALLOWED[NOT_FOUND],
                               "Информация о пациенте с указанным СНИЛС в ЕСИА не обнаружена")
        differences = self._differences(patient, account)
        if differences:
            return CheckResult(MISMATCH, account.trusted, differences, _ALLOWED[MISMATCH],
                               "В ЕСИА имеется отличающаяся информация; необходимо обновить информацию в ЕСИА")
        return CheckResult(MATCH, account.trusted, [], _ALLOWED[MATCH], "Информация о пациенте в ЕСИА актуальна")

    def register(self, patient: dict[str, Any]) -> IssuedPassword:
        if not _present(patient.get("MobilePhone")):
            raise InvalidField("MobilePhone", PHONE_REQUIRED)
        person = self._to_upstream(patient)
        operation = self._journal.begin(UPSTREAM, "register", self._subject(person))
        if not operation.reused:
            try:
                existing = self._find(person)
            except BaseException:
                self._journal.finish(operation.id, False, "find_failed")
                raise
            if existing is not None:
                self._journal.finish(operation.id, False, "already_registered")
                raise RuleViolation(
                    "RegisterPatient",
                    "пациент уже зарегистрирован в ЕСИА: выполните сверку; для нового временного "
                    "пароля используйте сброс пароля",
                )
        return self._complete(operation.id, lambda: self._operations.register(person, operation.idempotency_key))

    def update(self, patient: dict[str, Any]) -> None:
        person = self._to_upstream(patient)
        account = self._require_account(person, "UpdatePatient")
        if not self._differences(patient, account):
            raise RuleViolation("UpdatePatient", "данные пациента в МИС и ЕСИА совпадают, обновлять нечего")
        operation = self._journal.begin(UPSTREAM, "update", self._subject(person))
        self._complete(operation.id, lambda: self._operations.update(account.oid, person, operation.idempotency_key))

    def reset_password(self, patient: dict[str, Any]) -> IssuedPassword:
        person = self._to_upstream(patient)
        account = self._require_account(person, "ResetPassword")
        if self._differences(patient, account):
            raise RuleViolation(
                "ResetPassword", "данные пациента в МИС и ЕСИА расходятся: сначала обновите данные в ЕСИА"
            )
        operation = self._journal.begin(UPSTREAM, "recover", self._subject(person))
        return self._complete(
            operation.id,
            lambda: self._operations.recover(account.oid, person["snils"], operation.idempotency_key),
        )

    # --- helpers ------------------------------------------------------------------------------

    def _to_upstream(self, patient: dict[str, Any]) -> dict[str, Any]:
        patient.update({k: v.strip() for k, v in patient.items() if isinstance(v, str)})
        validate_patient(patient)
        try:
            return self._mapping.to_upstream(patient)
        except MappingValueError as exc:
            raise InvalidField(exc.field, exc.reason) from None

    def _subject(self, person: dict[str, Any]) -> str:
        return self._pseudonym("snils", str(person["snils"]))

    def _find(self, person: dict[str, Any]) -> EsiaAccount | None:
        try:
            return self._operations.find(person)
        except AccountRequestInvalid as exc:
            raise UpstreamRefused("ЕСИА", exc.code, exc.text) from None
        except AccountOperationFailed as exc:
            raise UpstreamRefused("ЕСИА", exc.code, exc.text) from None
        except OperationStillRunning:
            raise ServiceUnavailable("ЕСИА не ответила на поиск учётной записи вовремя; повторите позже") from None

    def _require_account(self, person: dict[str, Any], operation: str) -> EsiaAccount:
        account = self._find(person)
        if account is None:
            raise RuleViolation(operation, "учётная запись пациента в ЕСИА не найдена: сначала зарегистрируйте её")
        return account

    def _differences(self, patient: dict[str, Any], account: EsiaAccount) -> list[Difference]:
        try:
            esia = self._mapping.to_mis(account.person)
        except MappingValueError as exc:
            raise ServiceUnavailable(
                f"ЕСИА вернула данные, которые шлюз не может разобрать (поле {exc.field})"
            ) from None
        found = []
        for fm in self._mapping.compare_fields:
            mis_value = patient.get(fm.mis)
            if not _present(mis_value):
                continue  # a field the МИС does not know is not compared (docs/esia-accounts.md)
            esia_value = esia.get(fm.mis)
            if not _present(esia_value) or _normalise(mis_value) != _normalise(esia_value):
                found.append(Difference(fm.mis, fm.label or fm.mis, str(mis_value), str(esia_value or "")))
        return found

    def _complete(self, operation_id: str, call: Callable[[], _T]) -> _T:
        """Run an upstream write recorded in the journal, and translate its failures.

        While the outcome is unknown (timeout, upstream down, still validating) the journal
        entry stays pending: the МИС's next attempt reuses its idempotency key, so ЕСИА
        sees the same operation again instead of a second one.
        """
        try:
            result = call()
        except AccountOperationFailed as exc:
            self._journal.finish(operation_id, False, exc.code)
            raise UpstreamRefused("ЕСИА", exc.code, exc.text) from None
        except AccountRequestInvalid as exc:
            self._journal.finish(operation_id, False, exc.code)
            raise UpstreamRefused("ЕСИА", exc.code, exc.text) from None
        except OperationStillRunning:
            raise ServiceUnavailable(
                "ЕСИА ещё обрабатывает запрос; повторите вызов позже (повтор не создаст вторую операцию)"
            ) from None
        self._journal.finish(operation_id, True)
        return result


def _present(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def validate_patient(patient: dict[str, Any]) -> None:
    """Input rules the mapping does not cover: presence, names, a possible birth date.

    Formats (SNILS checksum, 8XXXXXXXXXX phones, dd.MM.yyyy dates) are checked by the
    mapping's transforms, which name the field and the expected format.
    """
    for name in ("MisPatientId", "LastName", "FirstName", "BirthDate", "Snils"):
        if not _present(patient.get(name)):
            raise InvalidField(name, "обязательное поле не заполнено")
    if len(str(patient["MisPatientId"])) > 64:
        raise InvalidField("MisPatientId", "длиннее 64 символов")
    for name in ("LastName", "FirstName", "MiddleName"):
        value = patient.get(name)
        if _present(value) and not _NAME.match(str(value).strip()):
            raise InvalidField(name, "допустимы только буквы, пробел, дефис, апостроф и точка (до 60 символов)")
    try:
        born = datetime.strptime(str(patient["BirthDate"]).strip(), "%d.%m.%Y").date()
    except ValueError:
        raise InvalidField("BirthDate", "ожидается существующая дата в формате ДД.ММ.ГГГГ") from None
    if not date(1900, 1, 1) <= born <= date.today():
        raise InvalidField("BirthDate", "дата рождения должна быть между 01.01.1900 и сегодняшним днём")
