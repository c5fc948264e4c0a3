"""What the sandbox ЕСИА accepts, and its error codes.

Formats follow the СМЭВ reg_service request samples (reference/esia.md §4.2): SNILS as
``xxx-xxx-xxx xx`` with a valid checksum, mobile as ``+7(xxx)xxxxxxx``, gender M/F,
RoutingCode from the EnvType enum. Birth dates are ISO ``yyyy-MM-dd`` in our REST model.
The REG-* codes are our model's (no public list exists); docs/esia-accounts.md lists them.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from bridge.identifiers import snils_checksum_ok

ERRORS = {
    "REG-001": "Не указан обязательный параметр",
    "REG-002": "Неверный формат параметра",
    "REG-003": "Значение RoutingCode недопустимо в тестовой среде",
    "REG-004": "Idempotency-Key уже использован с другим запросом",
    "REG-010": "Учетная запись с указанным СНИЛС уже зарегистрирована",
    "REG-011": "Учетная запись не найдена",
    "REG-012": "СНИЛС не соответствует учетной записи",
    "REG-020": "Сведения не подтверждены СФР",
    "REG-404": "Запрос не найден",
}

ROUTING_CODES = frozenset({"DEV", "UAT", "TESIA", "TCOD", "PROD"})
_SNILS = re.compile(r"^\d{3}-\d{3}-\d{3} \d{2}$")
_MOBILE = re.compile(r"^\+7\(\d{3}\)\d{7}$")
_NAME = re.compile(r"^[А-Яа-яЁё][А-Яа-яЁё' -]{0,59}$")
_COMMON = ("RoutingCode", "SnilsOperator", "ra")
_REQUIRED = {
    "find_account": (*_COMMON, "snils"),
    "register": (*_COMMON, "snils", "lastName", "firstName", "birthDate", "mobile", "mode"),
    "update_account": (*_COMMON, "oid", "snils", "lastName", "firstName", "birthDate"),
    "recover": (*_COMMON, "oid", "snils"),
}
OPERATIONS = frozenset(_REQUIRED)


class RequestInvalid(Exception):
    def __init__(self, code: str, parameter: str) -> None:
        super().__init__(f"{ERRORS[code]}: {parameter}")
        self.code = code
        self.parameter = parameter

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": f"{ERRORS[self.code]}: {self.parameter}"}


def _check(name: str, ok: bool) -> None:
    if not ok:
        raise RequestInvalid("REG-002", name)


def validate_request(operation: str, body: dict[str, Any]) -> None:
    for name in _REQUIRED[operation]:
        if body.get(name) in (None, ""):
            raise RequestInvalid("REG-001", name)
    _check("RoutingCode", body["RoutingCode"] in ROUTING_CODES)
    if body["RoutingCode"] == "PROD":
        raise RequestInvalid("REG-003", "RoutingCode")
    _check("SnilsOperator", isinstance(body["SnilsOperator"], str) and bool(_SNILS.match(body["SnilsOperator"])))
    _check("ra", isinstance(body["ra"], int) and body["ra"] > 0)
    snils = body["snils"]
    _check("snils", isinstance(snils, str) and bool(_SNILS.match(snils)) and snils_checksum_ok(
        re.sub(r"\D", "", snils)))
    if "oid" in _REQUIRED[operation]:
        _check("oid", isinstance(body["oid"], int) and body["oid"] > 0)
    for name in ("lastName", "firstName", "middleName"):
        if body.get(name) is not None:
            _check(name, isinstance(body[name], str) and bool(_NAME.match(body[name])))
    if body.get("birthDate") is not None:
        try:
            born = date.fromisoformat(body["birthDate"])
        except (TypeError, ValueError):
            raise RequestInvalid("REG-002", "birthDate") from None
        _check("birthDate", date(1900, 1, 1) <= born <= date.today())
    if body.get("mobile") is not None:
        _check("mobile", isinstance(body["mobile"], str) and bool(_MOBILE.match(body["mobile"])))
    if body.get("gender") is not None:
        _check("gender", body["gender"] in ("M", "F"))
    if body.get("mode") is not None:
        _check("mode", body["mode"] in ("mobile", "email"))
