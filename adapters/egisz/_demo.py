"""Seed 002's day in the registry, told through the bridge's SOAP face against the sandbox ЕГИСЗ."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import zeep

from bridge.russian import quantity

REPLIES: dict[str, dict[str, str]] = {
    "CHOICE": {"Outcome": "SERVICE_PROVIDED", "Comment": "Прикреплён к участку 7", "DistrictNumber": "7",
               "DoctorLastName": "Иванова", "DoctorFirstName": "Анна", "DoctorMiddleName": "Петровна",
               "DoctorSnils": "11223344595", "DoctorSpecialty": "врач-педиатр участковый"},
    "CANCELLATION": {"Outcome": "CANCEL_APPROVED", "Comment": "Отмена одобрена по просьбе заявителя"},
    "DETACHMENT": {"Outcome": "DETACHED", "Comment": "Откреплён", "ReplyDate": ""},
}


def run_demo(bridge_url: str, say: Callable[[str], None], upstreams: dict[str, str] | None = None) -> None:
    service = zeep.Client(f"{bridge_url}/soap/egisz-attachments?wsdl").service  # type: ignore[no-untyped-call]
    today = datetime.now(UTC).date()
    say("── 1. RunIntake: приём заявлений из ЕГИСЗ (обычно раз в сутки по расписанию)")
    run = service.RunIntake(PeriodFrom=(today - timedelta(days=2)).strftime("%d.%m.%Y"),
                            PeriodTo=today.strftime("%d.%m.%Y"))
    say(f"   Запуск {run.RunId[:8]}: {run.State}, принято "
        f"{quantity(run.Processed, 'заявление', 'заявления', 'заявлений')}")
    say("── 2. SearchApplications за два дня")
    rows = service.SearchApplications(Criteria={"PeriodFrom": (today - timedelta(days=2)).strftime("%d.%m.%Y"),
                                                "PeriodTo": today.strftime("%d.%m.%Y")}) or []
    for row in rows[:6]:
        say(f"   {row.ApplicationDate}  {row.FullName:<36} {row.AttachmentType:<13} {row.ApplicationType:<12} "
            f"{row.Status} {row.StatusName}")
    say(f"   … всего {len(rows)}")
    picked: dict[str, Any] = {}
    for row in rows:
        if row.Status in (21, 6):  # waiting for an answer
            picked.setdefault(row.ApplicationType, row)
    step = itertools.count(3)   # the steps go on from 3: a card and its answer for each kind
    for kind in ("CHOICE", "CANCELLATION", "DETACHMENT"):
        row = picked.get(kind)
        if row is None:
            continue
        card = service.GetApplication(Id=row.Id)
        say(f"── {next(step)}. GetApplication {kind}: {card.LastName} {card.FirstName}, д.р. {card.BirthDate}, "
            f"полис {card.OmsPolicy}")
        say(f"   МО {card.MoOid}, {card.Department}, участок {card.DistrictNumber}; заявитель: "
            f"{card.ApplicantLastName or '—'} ({card.RelationName or 'сам'})")
        reply = dict(REPLIES[kind], Employee="Сидорова В. В.")
        if kind == "DETACHMENT":
            reply["ReplyDate"] = today.strftime("%d.%m.%Y")
        if kind == "CANCELLATION" and card.RelatedApplicationType == "DETACHMENT":
            # a cancellation of a detachment can only be refused; the detachment is still executed
            reply.update(Outcome="CANCEL_FAILED", Comment="Открепление выполняется, отмена невозможна")
        receipt = service.ReplyToApplication(Id=row.Id, Reply=reply)
        say(f"── {next(step)}. ReplyToApplication «{reply['Outcome']}»: {receipt.Message}")
        card = _wait(service, row.Id, card.Status)
        say(f"   Статус теперь: {card.Status} {card.StatusName}")
        for change in card.History.StatusChange:
            say(f"     {change.At:%H:%M:%S} {change.StatusName:<15} {change.Author:<26} {change.Note or ''}")
        if upstreams and "egisz" in upstreams:
            task = httpx.get(f"{upstreams['egisz']}/api/AttachMO/v1/tasks/{row.Id}").json()
            say(f"   ЕГИСЗ (песочница) сообщает: {task['status']}, "
                f"{(task.get('result') or {}).get('statusComment', '—')}")


def _wait(service: Any, application_id: str, before: int, seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    card = service.GetApplication(Id=application_id)
    while card.Status == before and time.monotonic() < deadline:
        time.sleep(0.3)
        card = service.GetApplication(Id=application_id)
    return card


__all__ = ["run_demo"]
