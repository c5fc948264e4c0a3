"""Seed 000's story, told through the bridge's SOAP face with a real SOAP client (zeep); the bridge
speaks to ЕСИА's registration service through the sandbox СМЭВ node. What the sandbox ЕСИА "sent" to the
patient's phone and the SendRequests the node counted are read from their control APIs."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import httpx
import zeep
from zeep.exceptions import Fault

from bridge.identifiers import snils_check_digits


def _fresh_snils() -> str:
    first9 = f"{random.randint(2_000_000, 999_999_999):09d}"
    return first9 + snils_check_digits(first9)


def yes_no(value: bool | None) -> str:
    """A yes/no field as the МИС's registrar reads it («—»: ЕСИА has no account to say it of)."""
    return "—" if value is None else "да" if value else "нет"


def _sandbox_json(url: str | None, path: str) -> Any:
    if not url:
        return None
    try:
        return httpx.get(f"{url}{path}", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return None


def run_demo(bridge_url: str, say: Callable[[str], None], sandbox_urls: dict[str, str] | None = None) -> None:
    urls = sandbox_urls or {}
    client = zeep.Client(f"{bridge_url}/soap/esia-accounts?wsdl")  # type: ignore[no-untyped-call]
    service = client.service
    snils = _fresh_snils()
    patient: dict[str, Any] = {
        "MisPatientId": "UGRA-2015-000417", "LastName": "Тарасенко", "FirstName": "Ольга",
        "MiddleName": "Викторовна", "BirthDate": "17.08.1979", "Snils": snils, "Gender": "2",
        "PassportSeries": "6710", "PassportNumber": f"{random.randint(0, 999_999):06d}",
        "PassportIssueDate": "01.09.2004", "PassportIssuerCode": "862-010", "PassportIssuedBy": "ОВД г. Сургута",
    }

    def sms() -> None:
        outbox = _sandbox_json(urls.get("esia"), "/_sandbox/reg-service/outbox")
        if outbox:
            say(f"   (песочница ЕСИА: пароль отправлен SMS на {outbox[-1]['address']})")

    def step(title: str) -> None:
        say("")
        say(f"── {title}")

    def show_check(answer: Any) -> None:
        say(f"   Результат: {answer.Result}; учётная запись подтверждена: {yes_no(answer.AccountConfirmed)}")
        say(f"   {answer.Message}")
        for diff in (answer.Differences.FieldDifference if answer.Differences else []):
            say(f"   • {diff.Label}: в МИС {diff.MisValue}, в ЕСИА {diff.EsiaValue}")
        say(f"   Активные кнопки: {', '.join(answer.AllowedActions.AllowedAction)}")

    say(f"Пациент: {patient['LastName']} {patient['FirstName']} {patient['MiddleName']}, "
        f"д.р. {patient['BirthDate']}, СНИЛС {snils[:3]}-{snils[3:6]}-{snils[6:9]} {snils[9:]}")
    step("1. «Сверка с ЕСИА»")
    show_check(service.CheckPatient(patient))

    step("2. «Регистрировать в ЕСИА» без мобильного телефона")
    try:
        service.RegisterPatient(patient)
    except Fault as fault:
        say(f"   Ошибка ({fault.code}): {fault.message}")

    patient["MobilePhone"] = phone = "8916" + f"{random.randint(0, 9_999_999):07d}"
    step(f"3. Регистратор вносит мобильный телефон {phone} "
         "и снова нажимает «Регистрировать в ЕСИА»")
    issued = service.RegisterPatient(patient)
    say(f"   {issued.Message}")
    say(f"   Логин: {issued.Login}   Временный пароль в ответе: «{issued.TemporaryPassword or ''}» "
        "(ЕСИА его не сообщает)")
    sms()

    patient["MobilePhone"] = phone = "8903" + f"{random.randint(0, 9_999_999):07d}"
    step(f"4. У пациента новый телефон {phone} в МИС; «Сверка с ЕСИА»")
    show_check(service.CheckPatient(patient))

    step("5. «Обновить в ЕСИА»")
    updated = service.UpdatePatient(patient)
    say(f"   {getattr(updated, 'Message', updated)}")

    step("6. «Сверка с ЕСИА»")
    show_check(service.CheckPatient(patient))

    step("7. «Сброс пароля в ЕСИА»")
    reset = service.ResetPassword(patient)
    say(f"   {reset.Message}")
    sms()
    stats = _sandbox_json(urls.get("smev"), "/_sandbox/smev/stats")
    if stats:
        sent = {kind.rsplit("/", 2)[-2]: counts.get("SendRequest", 0) for kind, counts in stats["by_kind"].items()}
        say(f"   (песочница СМЭВ: SendRequest по видам сведений: {sent})")
