"""The booking steps of seed 004 §6: goal → specialty → MO → doctor → date → slot → summary.

Each step asks the МИС (HubService) afresh and answers a screen: the choices, or what went wrong
and the way back (``StepProblem``). Dialog state holds ids and the labels offered, never the
patient's personal data: the patient is named by a choice (``self``, ``child:0``, ``ward:1``) and
found again in the sealed account when needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from adapters.hubservice import PatientData, PatientRef, ScheduleClient, ScheduleRefused
from adapters.tmk._people import Account, Person
from adapters.tmk._screens import Option, day_text
from bridge.delivery import UpstreamUnavailable
from bridge.russian import quantity

T = TypeVar("T")
UNAVAILABLE = ("Расписание медицинских организаций сейчас недоступно. Попробуйте через несколько минут "
               "или вернитесь назад.")


class StepProblem(Exception):
    """A step cannot offer choices: ``text`` for the patient; the dialog shows it with the way back."""

    def __init__(self, step: str, text: str) -> None:
        super().__init__(text)
        self.step = step
        self.text = text


@dataclass(frozen=True)
class Step:
    """What a step offers: the question and the options (action → label)."""

    name: str
    text: str
    options: tuple[Option, ...]
    per_row: int = 1


class BookingFlow:
    def __init__(self, schedule: ScheduleClient, goals: list[str], platform: str, days_ahead: int,
                 clock: Callable[[], datetime], local_now: Callable[[], datetime],
                 represented: Callable[[str], list[Person]]) -> None:
        self._schedule = schedule
        self._goals = goals
        self._platform = platform
        self._days = days_ahead
        self._clock = clock
        self._local_now = local_now              # now in the МИС's local time (naive), for its schedule
        self._represented = represented

    # --- who -------------------------------------------------------------------------------------

    def others(self, account: Account) -> list[tuple[str, Person]]:
        """Children from ЕСИА, then the people the МИС lists the user as legal representative of."""
        found = [(f"child:{i}", c) for i, c in enumerate(account.children)]
        known = {c.snils for c in account.children}
        found += [(f"ward:{i}", p) for i, p in enumerate(self._represented(account.user.snils))
                  if p.snils not in known]
        return found

    def patient(self, account: Account, choice: str) -> Person:
        if choice == "self":
            return account.user
        for key, person in self.others(account):
            if key == choice:
                return person
        raise StepProblem("identity", "Пациент больше не доступен для записи: сведения о нём изменились. "
                                      "Начните запись заново.")

    def patient_step(self, account: Account) -> Step:
        options = tuple(Option(f"p:{key}", f"{p.short_name}, {p.birth_date:%d.%m.%Y}")
                        for key, p in self.others(account))
        if not options:
            raise StepProblem("identity", "В Госуслугах у вас нет детей, и медицинская организация не указала вас "
                                          "законным представителем другого пациента. Записать можно только себя.")
        return Step("patient", "Кого записываем на ТМК?", options)

    # --- the steps -------------------------------------------------------------------------------

    def goal_step(self) -> Step:
        if not self._goals:
            raise StepProblem("goal", "Сейчас нет целей консультации, доступных для записи на ТМК. "
                                      "Попробуйте позже или обратитесь в регистратуру.")
        return Step("goal", "Выберите цель консультации:",
                    tuple(Option(f"g:{i}", g) for i, g in enumerate(self._goals)))

    def speciality_step(self) -> Step:
        names: dict[str, str] = {}
        for lpu in self._ask("speciality", self._schedule.lpus):
            for spec in self._ask("speciality", partial(self._schedule.specialities, lpu.id)):
                if spec.free > 0:
                    names.setdefault(str(spec.id), spec.name)
        if not names:
            raise StepProblem("speciality", "Сейчас нет специальностей со свободным временем для ТМК. "
                                            "Попробуйте позже.")
        ordered = sorted(names.items(), key=lambda kv: kv[1])
        return Step("speciality", "Выберите специальность врача:", tuple(Option(f"s:{k}", v) for k, v in ordered))

    def mo_step(self, speciality_id: str, speciality_name: str) -> Step:
        options = []
        for lpu in self._ask("mo", self._schedule.lpus):
            specs = self._ask("mo", partial(self._schedule.specialities, lpu.id))
            if any(str(s.id) == speciality_id and s.free > 0 for s in specs):
                options.append(Option(f"m:{lpu.id}", lpu.short_name or lpu.full_name))
        if not options:
            raise StepProblem("mo", f"Нет медицинских организаций, где можно записаться на ТМК к врачу "
                                    f"по специальности «{speciality_name}». Выберите другую специальность.")
        return Step("mo", "Выберите медицинскую организацию:", tuple(options))

    def identify(self, lpu_id: int, person: Person) -> PatientRef:
        """CheckPatient in the chosen MO (the patient's card there: idPat is per MO)."""
        data = PatientData(birthday=person.birth_date, snils=person.snils, surname=person.surname, name=person.name,
                           second_name=person.patronymic or None)
        return self._ask("mo", lambda: self._schedule.check_patient(lpu_id, data))

    def doctor_step(self, lpu_id: int, speciality_id: str, patient: PatientRef) -> tuple[Step, dict[str, Any]]:
        doctors = self._ask("doctor", lambda: self._schedule.doctors(lpu_id, speciality_id, patient))
        usable = [d for d in doctors if d.free > 0 and self._reachable(d.messenger_id, d.phone)]
        if not usable:
            where = "в мессенджере" if self._platform == "max" else "в Сферуме"
            raise StepProblem("doctor", f"В этой медицинской организации нет врачей этой специальности, которые "
                                        f"проводят ТМК {where} и принимают вас. Выберите другую организацию.")
        known = {d.id: {"name": d.name, "messenger": d.messenger_id, "phone": d.phone} for d in usable}
        return Step("doctor", "Выберите врача:", tuple(Option(f"d:{d.id}", d.name) for d in usable)), known

    def _reachable(self, messenger_id: str | None, phone: str | None) -> bool:
        return bool(messenger_id) if self._platform == "max" else bool(phone)

    def date_step(self, lpu_id: int, doctor_id: str, patient: PatientRef) -> Step:
        today = self._local_now().date()
        last = today + timedelta(days=self._days)
        offered = self._ask("date", lambda: self._schedule.dates(lpu_id, doctor_id, today, last, patient))
        days = set()
        if offered:
            slots = self._ask("date", lambda: self._schedule.slots_between(lpu_id, doctor_id, min(offered),
                                                                            max(offered), patient))
            now = self._local_now()
            days = {s.start.date() for s in slots if s.telemedicine and s.start > now}
        usable = sorted(d for d in offered if d in days)
        if not usable:
            ahead = quantity(self._days, "день", "дня", "дней")
            raise StepProblem("date", f"У врача нет свободных дат для ТМК на {ahead} вперёд. Выберите другого врача.")
        return Step("date", "Выберите дату консультации:",
                    tuple(Option(f"t:{d.isoformat()}", day_text(d)) for d in usable), per_row=2)

    def slot_step(self, lpu_id: int, doctor_id: str, day: date, patient: PatientRef) -> tuple[Step, dict[str, Any]]:
        now = self._local_now()
        slots = [s for s in self._ask("slot", lambda: self._schedule.slots(lpu_id, doctor_id, day, patient))
                 if s.telemedicine and s.start > now]
        if not slots:
            raise StepProblem("slot", "На эту дату свободного времени для ТМК не осталось. Выберите другую дату.")
        known = {s.id: {"start": s.start.isoformat(), "end": s.end.isoformat()} for s in slots}
        return Step("slot", f"Выберите время ({day_text(day)}):",
                    tuple(Option(f"a:{s.id}", f"{s.start:%H:%M}") for s in slots), per_row=3), known

    def _ask(self, step: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except ScheduleRefused as refused:
            raise StepProblem(step, refused.message) from None
        except UpstreamUnavailable:
            raise StepProblem(step, UNAVAILABLE) from None
