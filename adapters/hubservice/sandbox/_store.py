"""The sandbox МИС's own store: an in-memory SQLite schedule, seeded, and its booking rules."""

from __future__ import annotations

import random
import sqlite3
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from adapters.hubservice.sandbox._data import DOCTORS, LPUS, PEOPLE, SPECIALITIES, Doctor, Lpu, Person, Speciality

DAYS_AHEAD = 14
SLOT_MINUTES = 30
TMK_ROOM = "ТМК"

# IdError codes. 1, 4, 20-22, 33-39, 75, 99 follow a production МИС-side implementation of the
# contract; 24 and 31 are this sandbox's own (the platform list was not available; see docs/hubservice.md).
ERRORS = {
    1: "Доступ запрещен",
    4: "Получен не полный набор данных.",
    20: "Пациент с заданными параметрами не найден",
    21: "Данные пациента не являются уникальными",
    22: "Несоответствие записи акта гражданского состояния",
    24: "Пациент умер (установлена дата смерти)",
    31: "Запись через Интернет к врачам этой специальности запрещена",
    34: "Запись запрещена по возрасту пациента",
    35: "Пациент имеет предстоящую запись к данному врачу/врачу этой специальности",
    36: "Пациент не имеет прикрепления к данному врачебному участку",
    38: "Указан недопустимый идентификатор талона на запись",
    39: "Талон к врачу занят/заблокирован",
    75: "Талон с указанным номером не существует или уже отменен",
    99: "Неверно указаны параметры",
}


class MisRefusal(Exception):
    """A МИС check failed: answered as Success=false with this IdError."""

    def __init__(self, code: int, description: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.description = description or ERRORS[code]


@dataclass(frozen=True)
class Slot:
    id: str
    doctor_id: str
    start: datetime
    end: datetime
    room: str
    num: int
    taken: bool


@dataclass(frozen=True)
class Visit:
    id: str
    slot: Slot
    created: datetime
    cancelled: bool


_SCHEMA = """
CREATE TABLE slot (id TEXT PRIMARY KEY, doctor_id TEXT NOT NULL, start TEXT NOT NULL, "end" TEXT NOT NULL,
                   room TEXT NOT NULL, num INTEGER NOT NULL, person INTEGER);
CREATE INDEX slot_doctor ON slot (doctor_id, start);
CREATE TABLE visit (id TEXT PRIMARY KEY, slot_id TEXT NOT NULL REFERENCES slot (id), lpu_id INTEGER NOT NULL,
                    person INTEGER NOT NULL, created TEXT NOT NULL, cancelled INTEGER NOT NULL DEFAULT 0);
"""


def age_on(birthday: date, day: date) -> int:
    return day.year - birthday.year - ((day.month, day.day) < (birthday.month, birthday.day))


class ScheduleStore:
    """Clinics, doctors and a 14-day schedule from ``today``; free and taken slots drawn from ``seed``."""

    def __init__(self, today: date | None = None, seed: int = 78) -> None:
        self.today = today or date.today()
        self.lpus = {lpu.id: lpu for lpu in LPUS}
        self.specialities = {s.id: s for s in SPECIALITIES}
        self.doctors = {d.id: d for d in DOCTORS}
        self.people = {p.no: p for p in PEOPLE}
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.executescript(_SCHEMA)
        self._visits = 0
        self._seed_slots(random.Random(seed))

    def _seed_slots(self, rng: random.Random) -> None:
        rows = []
        number = 0
        for doctor in DOCTORS:
            room = TMK_ROOM if self.specialities[doctor.speciality_id].tmk else f"каб. {rng.randint(101, 330)}"
            for offset in range(DAYS_AHEAD):
                day = self.today + timedelta(days=offset)
                if day.weekday() >= 5:
                    continue
                start = datetime.combine(day, time(9, 0))
                for num in range(1, 7):
                    number += 1
                    end = start + timedelta(minutes=SLOT_MINUTES)
                    taken = rng.random() < 0.3
                    rows.append((f"A{number:06d}", doctor.id, start.isoformat(), end.isoformat(), room, num,
                                 0 if taken else None))   # person 0: booked by someone outside the sandbox
                    start = end
        self._db.executemany("INSERT INTO slot VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    # --- reading ------------------------------------------------------------------------------

    def lpu(self, lpu_id: int) -> Lpu:
        if lpu_id not in self.lpus:
            raise MisRefusal(99, "Неверно указан идентификатор ЛПУ")
        return self.lpus[lpu_id]

    def doctor(self, lpu_id: int, doctor_id: str | None) -> Doctor:
        doctor = self.doctors.get(doctor_id or "")
        if doctor is None or doctor.lpu_id != lpu_id:
            raise MisRefusal(99, "Неверно указан идентификатор врача")
        return doctor

    def doctors_of(self, lpu_id: int, speciality_id: str | None) -> list[Doctor]:
        self.lpu(lpu_id)
        return [d for d in DOCTORS
                if d.lpu_id == lpu_id and (speciality_id is None or d.speciality_id == speciality_id)]

    def slots(self, doctor_ids: list[str], start: datetime, end: datetime, free_only: bool = True) -> list[Slot]:
        if not doctor_ids:
            return []
        marks = ",".join("?" * len(doctor_ids))
        query = (f'SELECT id, doctor_id, start, "end", room, num, person FROM slot WHERE doctor_id IN ({marks}) '
                 "AND start >= ? AND start <= ?" + (" AND person IS NULL" if free_only else "") + " ORDER BY start, id")
        with self._lock:
            rows = self._db.execute(query, [*doctor_ids, start.isoformat(), end.isoformat()]).fetchall()
        return [_slot(row) for row in rows]

    def slot(self, slot_id: str | None) -> Slot:
        with self._lock:
            row = self._db.execute('SELECT id, doctor_id, start, "end", room, num, person FROM slot WHERE id = ?',
                                   (slot_id or "",)).fetchone()
        if row is None:
            raise MisRefusal(38)
        return _slot(row)

    # --- patients -----------------------------------------------------------------------------

    def find_person(self, lpu_id: int, snils: str | None, surname: str | None, name: str | None,
                    second_name: str | None, birthday: date | None) -> str:
        self.lpu(lpu_id)
        digits = "".join(ch for ch in snils or "" if ch.isdigit())
        if digits:
            found = [p for p in PEOPLE if p.snils == digits and (birthday is None or p.birthday == birthday)]
        elif surname and name and birthday:
            found = [p for p in PEOPLE if (p.surname.lower(), p.name.lower(), p.birthday)
                     == (surname.strip().lower(), name.strip().lower(), birthday)
                     and (not second_name or p.second_name.lower() == second_name.strip().lower())]
        else:
            raise MisRefusal(4)
        if not found:
            raise MisRefusal(20)
        if len(found) > 1:
            raise MisRefusal(21)
        return id_pat(lpu_id, found[0])

    def person(self, lpu_id: int, patient_id: str | None) -> Person:
        for person in PEOPLE:
            if id_pat(lpu_id, person) == patient_id:
                return person
        raise MisRefusal(20)

    # --- booking ------------------------------------------------------------------------------

    def book(self, lpu_id: int, slot_id: str | None, patient_id: str | None, now: datetime) -> Speciality:
        """SetAppointment with the МИС's checks, in the order a МИС makes them."""
        self.lpu(lpu_id)
        slot = self.slot(slot_id)
        doctor = self.doctors[slot.doctor_id]
        if doctor.lpu_id != lpu_id:
            raise MisRefusal(38)
        if slot.taken:
            raise MisRefusal(39)
        person = self.person(lpu_id, patient_id)
        speciality = self.specialities[doctor.speciality_id]
        day = slot.start.date()
        if person.died is not None:
            raise MisRefusal(24)
        if not speciality.online:
            raise MisRefusal(31)
        if speciality.sex is not None and person.sex != speciality.sex:
            raise MisRefusal(22)
        age = age_on(person.birthday, day)
        if speciality.max_age is not None and age >= speciality.max_age:
            raise MisRefusal(34, f"Запись запрещена (только до {speciality.max_age} лет)")
        if speciality.min_age is not None and age < speciality.min_age:
            raise MisRefusal(34, f"Запись запрещена (только с {speciality.min_age} лет)")
        if speciality.by_area and doctor.area != person.area:
            raise MisRefusal(36)
        with self._lock:
            if self._has_repeat(lpu_id, person.no, speciality, slot.start):
                raise MisRefusal(35)
            claimed = self._db.execute("UPDATE slot SET person = ? WHERE id = ? AND person IS NULL",
                                       (person.no, slot.id)).rowcount
            if claimed != 1:
                raise MisRefusal(39)
            self._visits += 1
            self._db.execute("INSERT INTO visit (id, slot_id, lpu_id, person, created) VALUES (?, ?, ?, ?, ?)",
                             (f"V{self._visits:06d}", slot.id, lpu_id, person.no, now.isoformat()))
        return speciality

    def take_all(self, doctor_id: str | None = None, speciality_id: str | None = None, day: date | None = None) -> int:
        """Scenario control: every free slot of a doctor (or of a specialty's doctors, or all; on one day) is taken."""
        ids = [d.id for d in DOCTORS if (doctor_id is None or d.id == doctor_id)
               and (speciality_id is None or d.speciality_id == speciality_id)]
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        with self._lock:
            on_day = " AND substr(start, 1, 10) = ?" if day is not None else ""
            args = [*ids, day.isoformat()] if day is not None else ids
            return self._db.execute(f"UPDATE slot SET person = 0 WHERE person IS NULL AND doctor_id IN ({marks})"
                                    + on_day, args).rowcount

    def _has_repeat(self, lpu_id: int, person: int, speciality: Speciality, start: datetime) -> bool:
        window = timedelta(days=speciality.repeat_days)
        rows = self._db.execute(
            "SELECT slot.doctor_id, slot.start FROM visit JOIN slot ON slot.id = visit.slot_id "
            "WHERE visit.lpu_id = ? AND visit.person = ? AND visit.cancelled = 0", (lpu_id, person)).fetchall()
        for doctor_id, visit_start in rows:
            same = self.doctors[doctor_id].speciality_id == speciality.id
            if same and abs(datetime.fromisoformat(visit_start) - start) < window:
                return True
        return False

    def cancel(self, lpu_id: int, patient_id: str | None, visit_id: str | None) -> None:
        person = self.person(lpu_id, patient_id)
        with self._lock:
            row = self._db.execute("SELECT slot_id FROM visit WHERE id = ? AND lpu_id = ? AND person = ? "
                                   "AND cancelled = 0", (visit_id or "", lpu_id, person.no)).fetchone()
            if row is None:
                raise MisRefusal(75)
            self._db.execute("UPDATE visit SET cancelled = 1 WHERE id = ?", (visit_id,))
            self._db.execute("UPDATE slot SET person = NULL WHERE id = ?", (row[0],))

    def visits(self, lpu_id: int, patient_id: str | None, now: datetime) -> list[Visit]:
        """The patient's visits from ``now`` on, cancelled ones included (flagged)."""
        person = self.person(lpu_id, patient_id)
        with self._lock:
            rows = self._db.execute(
                'SELECT visit.id, visit.created, visit.cancelled, slot.id, slot.doctor_id, slot.start, slot."end", '
                "slot.room, slot.num FROM visit JOIN slot ON slot.id = visit.slot_id WHERE visit.lpu_id = ? "
                "AND visit.person = ? AND slot.start >= ? ORDER BY slot.start",
                (lpu_id, person.no, now.isoformat())).fetchall()
        return [Visit(r[0], Slot(r[3], r[4], datetime.fromisoformat(r[5]), datetime.fromisoformat(r[6]), r[7], r[8],
                                 True), datetime.fromisoformat(r[1]), bool(r[2])) for r in rows]


def id_pat(lpu_id: int, person: Person) -> str:
    """idPat is the patient's card in one MO: re-identify for each MO."""
    return f"{lpu_id}{person.no:05d}"


def _slot(row: tuple[str, str, str, str, str, int, int | None]) -> Slot:
    return Slot(row[0], row[1], datetime.fromisoformat(row[2]), datetime.fromisoformat(row[3]), row[4], row[5],
                row[6] is not None)
