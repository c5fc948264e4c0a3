"""The sandbox МИС's reference data: MOs, specialties, doctors, patients (deterministic)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bridge.identifiers import snils_check_digits


@dataclass(frozen=True)
class Lpu:
    id: int
    short_name: str
    full_name: str
    district: int
    oid: str


@dataclass(frozen=True)
class Speciality:
    id: str
    fer_id: str
    name: str
    tmk: bool                  # has telemedicine slots
    online: bool               # booking through the Internet allowed
    sex: str | None = None     # "F": women only
    max_age: int | None = None  # younger than this (years) only
    min_age: int | None = None  # this age (years) or older only
    by_area: bool = False      # district doctors: only the patient's own area
    repeat_days: int = 14      # no second booking to this specialty within N days


@dataclass(frozen=True)
class Doctor:
    id: str
    lpu_id: int
    speciality_id: str
    name: str
    snils: str
    messenger_id: str | None   # MAX user id, None when the doctor has none
    area: str | None = None
    phone: str | None = None   # mobile, for Sferum consultation chats


@dataclass(frozen=True)
class Person:
    no: int
    surname: str
    name: str
    second_name: str
    birthday: date
    sex: str                   # "M" | "F"
    snils: str
    area: str
    died: date | None = None
    representative: int | None = None   # the legal representative (a parent), by person no


def snils(first9: str) -> str:
    return first9 + snils_check_digits(first9)


LPUS = (
    Lpu(101, "ГП № 1", "СПб ГБУЗ «Городская поликлиника № 1»", 1, "1.2.643.5.1.13.13.12.2.78.101"),
    Lpu(102, "ДП № 7", "СПб ГБУЗ «Детская поликлиника № 7»", 1, "1.2.643.5.1.13.13.12.2.78.102"),
    Lpu(103, "КДЦ «Северный»", "СПб ГБУЗ «Консультативно-диагностический центр „Северный“»", 2,
        "1.2.643.5.1.13.13.12.2.78.103"),
)

SPECIALITIES = (
    Speciality("27", "109", "Терапия", tmk=True, online=True, min_age=18, by_area=True),
    Speciality("36", "122", "Кардиология", tmk=True, online=True),
    Speciality("11", "18", "Акушерство и гинекология", tmk=True, online=True, sex="F"),
    Speciality("38", "136", "Педиатрия", tmk=True, online=True, max_age=18, by_area=True),
    Speciality("41", "9", "Эндокринология", tmk=True, online=False),
    Speciality("56", "49", "Хирургия", tmk=False, online=True),
)

DOCTORS = (
    Doctor("d1011", 101, "27", "Смирнова Ольга Петровна", snils("112233445"), "501001", area="3", phone="79211011000"),
    Doctor("d1012", 101, "27", "Кузнецов Андрей Викторович", snils("112233446"), None, area="4"),
    Doctor("d1013", 101, "36", "Попов Сергей Николаевич", snils("112233447"), "501003", phone="79211013000"),
    Doctor("d1014", 101, "11", "Васильева Марина Игоревна", snils("112233448"), "501004", phone="79211014000"),
    Doctor("d1015", 101, "41", "Петрова Елена Сергеевна", snils("112233449"), "501005", phone="79211015000"),
    Doctor("d1016", 101, "56", "Соколов Игорь Олегович", snils("112233450"), None),
    Doctor("d1021", 102, "38", "Михайлова Анна Дмитриевна", snils("112233451"), "502001", area="3",
           phone="79211021000"),
    Doctor("d1022", 102, "38", "Новиков Павел Юрьевич", snils("112233452"), None, area="5"),
    Doctor("d1031", 103, "36", "Фёдоров Алексей Михайлович", snils("112233453"), "503001", phone="79211031000"),
    Doctor("d1032", 103, "11", "Морозова Татьяна Васильевна", snils("112233454"), "503002", phone="79211032000"),
)

PEOPLE = (
    # The ЕСИА sandbox's family (adapters/esia/sandbox/_people.py): a mother and her son, so that a
    # user logged in through the ЕСИА sandbox is found in the МИС and can book for the child.
    Person(1, "Смирнова", "Анна", "Сергеевна", date(1988, 3, 14), "F", snils("137482915"), "3"),
    Person(2, "Смирнов", "Артём", "Дмитриевич", date(2015, 9, 9), "M", snils("174893226"), "3", representative=1),
    Person(3, "Сидоров", "Николай", "Иванович", date(1958, 11, 30), "M", snils("123456791"), "4"),
    Person(4, "Козлов", "Виктор", "Павлович", date(1940, 1, 5), "M", snils("123456792"), "3",
           died=date(2024, 1, 20)),
    Person(5, "Лебедев", "Иван", "Иванович", date(1980, 1, 1), "M", snils("123456793"), "3"),
    Person(6, "Лебедев", "Иван", "Иванович", date(1980, 1, 1), "M", snils("123456794"), "4"),
    Person(7, "Кузнецов", "Игорь", "Владимирович", date(1979, 11, 2), "M", snils("126538704"), "4"),
    Person(8, "Кузнецова", "Мария", "Игоревна", date(2018, 6, 15), "F", snils("185640392"), "4", representative=7),
)
