"""Seed 000's four buttons, as operations on a МИС patient, over ЕСИА's registration service.

    CheckPatient     «Сверка с ЕСИА»         find_account: NOT_FOUND / MATCH / MISMATCH (fields ЕСИА says differ)
    RegisterPatient  «Регистрировать в ЕСИА» register, mode mobile: only when not found; phone and passport required
    UpdatePatient    «Обновить в ЕСИА»       confirm (register_by_simplified for a simplified account): only on MISMATCH
    ResetPassword    «Сброс пароля в ЕСИА»   recover, mode mobile: only when registered and the data match

A МИС patient is a dict keyed by SOAP element names; the ``esia.account`` mapping turns it into the
kinds' element names and formats, so those live in YAML, not here.  ЕСИА's search answer carries no
personal data (docs/esia-accounts.md): a difference is what ``matches`` does not confirm.

Every upstream operation is a journal entry (``bridge.store.OperationJournal``): while its answer is
unknown, a repeat press for the same patient reuses it, and its СМЭВ business key, so the exchange
returns the answer to the first send instead of sending again.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from lxml import etree

from adapters.esia._client import (
    AccountAnswerUnreadable,
    AccountOperationFailed,
    AccountOperations,
    AccountRequestInvalid,
    EsiaAccount,
    OperationStillRunning,
)
from adapters.esia._reg_service import CONFIRM, FIND_ACCOUNT, RECOVER, REGISTER, REGISTER_BY_SIMPLIFIED, ContentInvalid
from bridge.errors import InvalidField, RuleViolation, ServiceUnavailable, UpstreamRefused
from bridge.mapping import Mapping as FieldMap
from bridge.mapping import MappingValueError
from bridge.store import OperationJournal, OperationRecord, Pseudonymizer

UPSTREAM = "esia"
NOT_FOUND, MATCH, MISMATCH = "NOT_FOUND", "MATCH", "MISMATCH"
REGISTER_ACTION, UPDATE, RESET_PASSWORD = "REGISTER", "UPDATE", "RESET_PASSWORD"
_ALLOWED = {NOT_FOUND: [REGISTER_ACTION], MISMATCH: [UPDATE], MATCH: [RESET_PASSWORD]}
_NAME = re.compile(r"^[A-Za-zА-Яа-яЁё][A-Za-zА-Яа-яЁё' .-]{0,59}$")
_T = TypeVar("_T")
PHONE_REQUIRED = "Для регистрации в ЕСИА необходимо указать номер мобильного телефона пациента"
#: an upstream element (first path segment) -> the ``match`` value ЕСИА's search answer uses for it
MATCH_NAMES = {"snils": "snils", "mobile": "mobile", "email": "email", "doc": "idoc"}
NOT_CONFIRMED = "другое (ЕСИА значение не сообщает)"   # ЕСИА reports that a value differs, never the value it holds
SIMPLIFIED = frozenset({"unverified", "verified"})   # stuType of a simplified / standard account
#: journal operation -> kind of information
_OPERATIONS = {"find_account": FIND_ACCOUNT, "register": REGISTER, "confirm": CONFIRM,
               "register_by_simplified": REGISTER_BY_SIMPLIFIED, "recover": RECOVER}
_STATUS_TEXT = {
    "VALIDATION_FAILED": "ЕСИА не подтвердила данные пациента при проверке в государственных реестрах",
    "CONFIRMATION_FAILED": "ЕСИА не смогла создать или подтвердить учётную запись",
    "REJECTED": "СМЭВ отклонила запрос, не передав его в ЕСИА",
}


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


class PatientAccounts:
    def __init__(
        self,
        operations: AccountOperations,
        mapping: FieldMap,
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
        differences = self._differences(patient, person, account)
        if differences:
            return CheckResult(MISMATCH, account.trusted, differences, _ALLOWED[MISMATCH],
                               "В ЕСИА имеется отличающаяся информация; необходимо обновить информацию в ЕСИА")
        return CheckResult(MATCH, account.trusted, [], _ALLOWED[MATCH], "Информация о пациенте в ЕСИА актуальна")

    def register(self, patient: dict[str, Any]) -> str:
        """Register the patient; the oid. ЕСИА sends the first-login password to the patient's phone."""
        if not _present(patient.get("MobilePhone")):
            raise InvalidField("MobilePhone", PHONE_REQUIRED)
        person = self._to_upstream(patient)
        content = self._content("register", person)  # a missing passport is the caller's mistake, before any search
        # A repeat press while the registration is in flight joins it, without a search; otherwise the
        # search first, and the registration is recorded only once it is to be sent (a search still
        # waiting for its answer leaves nothing behind: the next press, or the parked call's repeat,
        # searches again and finds the stored answer).
        entry = self._journal.pending(UPSTREAM, "register", self._subject(person))
        if entry is None:
            if self._find(person) is not None:
                raise RuleViolation(
                    "RegisterPatient",
                    "пациент уже зарегистрирован в ЕСИА: выполните сверку; для нового пароля используйте сброс пароля",
                )
            entry = self._journal.begin(UPSTREAM, "register", self._subject(person))
        return self._run(entry, "register", person, content, lambda key: self._operations.register(person, key))

    def update(self, patient: dict[str, Any]) -> None:
        person = self._to_upstream(patient)
        account = self._require_account(person, "UpdatePatient")
        if not self._differences(patient, person, account):
            raise RuleViolation("UpdatePatient", "данные пациента в МИС и ЕСИА совпадают, обновлять нечего")
        if account.stu in SIMPLIFIED:
            self._write("register_by_simplified", person,
                        lambda key: self._operations.register_by_simplified(account.oid, person, key), oid=account.oid)
        else:
            self._write("confirm", person, lambda key: self._operations.confirm(account.oid, person, key),
                        oid=account.oid)

    def reset_password(self, patient: dict[str, Any]) -> None:
        """Recover access; ЕСИА sends the new password to the patient's phone."""
        person = self._to_upstream(patient)
        account = self._require_account(person, "ResetPassword")
        if self._differences(patient, person, account):
            raise RuleViolation(
                "ResetPassword", "данные пациента в МИС и ЕСИА расходятся: сначала обновите данные в ЕСИА"
            )
        self._write("recover", person, lambda key: self._operations.recover(person, key))

    # --- helpers ------------------------------------------------------------------------------

    def _to_upstream(self, patient: dict[str, Any]) -> dict[str, Any]:
        patient.update({k: v.strip() for k, v in patient.items() if isinstance(v, str)})
        validate_patient(patient)
        try:
            return self._mapping.to_upstream(patient)
        except MappingValueError as exc:
            raise InvalidField(exc.field, exc.reason) from None

    def _content(self, operation: str, person: Mapping[str, Any], oid: str | None = None) -> etree._Element:
        """The request content, validated against its kind; a schema refusal names the МИС field."""
        try:
            return self._operations.content(_OPERATIONS[operation], person, oid)
        except ContentInvalid as exc:
            field_name, label = self._mis_field(exc.path)
            if exc.reason.startswith("обязательный"):
                raise InvalidField(field_name, f"{label}: обязательно для операции в ЕСИА") from None
            raise InvalidField(field_name, f"{label}: {exc.reason}") from None

    def _mis_field(self, path: str) -> tuple[str, str]:
        upstream = path.replace("/", ".")
        fields = [fm for fm in self._mapping.fields if fm.upstream == upstream]
        fields = fields or [fm for fm in self._mapping.fields if fm.upstream.startswith(upstream + ".")]
        fields.sort(key=lambda fm: not fm.upstream.endswith(".number"))
        if not fields:
            return path, path
        return fields[0].mis, fields[0].label or fields[0].mis

    def _business_key(self, operation: str, person: Mapping[str, Any], generation: str,
                      content: etree._Element) -> str:
        """A pseudonym of the operation, the SNILS, the journal entry and what is sent: never the SNILS."""
        sent = etree.tostring(content, method="c14n").decode()
        return f"esia.{operation}:" + self._pseudonym(f"esia.{operation}", f"{person['snils']}|{generation}|{sent}")

    def _find(self, person: dict[str, Any]) -> EsiaAccount | None:
        return self._write("find_account", person, lambda key: self._operations.find(person, key))

    def _require_account(self, person: dict[str, Any], operation: str) -> EsiaAccount:
        account = self._find(person)
        if account is None:
            raise RuleViolation(operation, "учётная запись пациента в ЕСИА не найдена: сначала зарегистрируйте её")
        return account

    def _differences(self, patient: Mapping[str, Any], person: Mapping[str, Any],
                     account: EsiaAccount) -> list[Difference]:
        """The compared fields the МИС filled and ЕСИА's search did not confirm (``matches``).

        An answer without ``matches`` confirms nothing and contradicts nothing: no differences.
        """
        if not account.matches:
            return []
        found = []
        if "snils" not in account.matches:
            # found by the passport or the phone, but ЕСИА holds another SNILS for that person
            snils = self._mapping.field("Snils")
            found.append(Difference("Snils", snils.label or "Snils", str(patient.get("Snils", "")), NOT_CONFIRMED))
        for fm in self._mapping.compare_fields:
            match = MATCH_NAMES.get(fm.upstream.split(".", 1)[0])
            if match is None or not _present(patient.get(fm.mis)) or not _present(person.get(fm.upstream)):
                continue
            if match not in account.matches:
                found.append(Difference(fm.mis, fm.label or fm.mis, str(patient[fm.mis]), NOT_CONFIRMED))
        return found

    def _subject(self, person: Mapping[str, Any]) -> str:
        return self._pseudonym("snils", str(person["snils"]))

    def _write(self, operation: str, person: Mapping[str, Any], call: Callable[[str], _T],
               oid: str | None = None) -> _T:
        content = self._content(operation, person, oid)
        entry = self._journal.begin(UPSTREAM, operation, self._subject(person))
        return self._run(entry, operation, person, content, call)

    def _run(self, entry: OperationRecord, operation: str, person: Mapping[str, Any], content: etree._Element,
             call: Callable[[str], _T]) -> _T:
        """Run one upstream operation recorded in the journal, and translate its failures.

        While the outcome is unknown (no answer yet, upstream down, still validating) the journal
        entry stays pending: the МИС's next press reuses it and its business key, so the СМЭВ
        exchange returns the first send's answer instead of sending a second request.
        """
        key = self._business_key(operation, person, entry.idempotency_key, content)
        try:
            result = call(key)
        except AccountOperationFailed as exc:
            self._journal.finish(entry.id, False, exc.code)
            if exc.status == "FAULT":
                raise ServiceUnavailable(
                    f"ЕСИА не смогла выполнить запрос (FAULT, {exc.code}); повторите позже"
                ) from None
            raise UpstreamRefused("ЕСИА", exc.code, _refusal(exc.status, exc.text)) from None
        except AccountRequestInvalid as exc:
            self._journal.finish(entry.id, False, exc.code)
            raise UpstreamRefused("ЕСИА", exc.code, _refusal("REJECTED", exc.text)) from None
        except AccountAnswerUnreadable:
            self._journal.finish(entry.id, False, "answer_unreadable")
            raise ServiceUnavailable(
                "ЕСИА вернула ответ, который шлюз не может разобрать; обратитесь в поддержку шлюза"
            ) from None
        except OperationStillRunning:
            raise ServiceUnavailable(
                "ЕСИА ещё проверяет данные пациента; нажмите кнопку ещё раз через минуту "
                "(повтор не создаст второй запрос)"
            ) from None
        self._journal.finish(entry.id, True)
        return result


def _refusal(status: str, text: str) -> str:
    plain = _STATUS_TEXT.get(status, "ЕСИА отказала в операции")
    return f"{plain}: {text}" if text and text != plain else plain


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
