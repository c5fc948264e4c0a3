"""Who the bot books for: the ЕСИА-verified user, their children from ЕСИА, the people the МИС says they represent.

A ``Person`` is personal data (152-ФЗ): it lives sealed in the store, is never logged, and its
``repr`` shows nothing but the initials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bridge.identifiers import snils_checksum_ok


@dataclass(frozen=True)
class Person:
    surname: str = field(repr=False)
    name: str = field(repr=False)
    patronymic: str = field(repr=False)
    birth_date: date = field(repr=False)
    snils: str = field(repr=False)          # 11 digits

    def __repr__(self) -> str:
        return f"Person({self.surname[:1]}. {self.name[:1]}.)"

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.surname, self.name, self.patronymic) if p)

    @property
    def short_name(self) -> str:
        """«Смирнова А. С.»"""
        initials = " ".join(f"{p[0]}." for p in (self.name, self.patronymic) if p)
        return f"{self.surname} {initials}".strip()

    def age_on(self, day: date) -> int:
        return day.year - self.birth_date.year - ((day.month, day.day) < (self.birth_date.month,
                                                                          self.birth_date.day))

    def to_json(self) -> dict[str, str]:
        return {"surname": self.surname, "name": self.name, "patronymic": self.patronymic,
                "birth_date": self.birth_date.isoformat(), "snils": self.snils}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Person:
        return cls(str(data["surname"]), str(data["name"]), str(data.get("patronymic") or ""),
                   date.fromisoformat(str(data["birth_date"])), str(data["snils"]))

    @classmethod
    def from_esia(cls, data: dict[str, Any]) -> Person:
        """From the МИС-side ЕСИА mapping (mappings/esia/person.yaml, child.yaml). Raises ValueError."""
        snils = "".join(ch for ch in str(data.get("Snils") or "") if ch.isdigit())
        if len(snils) != 11 or not snils_checksum_ok(snils):
            raise ValueError("ЕСИА gave no valid SNILS")
        birth = datetime.strptime(str(data.get("BirthDate") or ""), "%d.%m.%Y").date()
        surname, name = str(data.get("LastName") or "").strip(), str(data.get("FirstName") or "").strip()
        if not surname or not name:
            raise ValueError("ЕСИА gave no full name")
        return cls(surname, name, str(data.get("MiddleName") or "").strip(), birth, snils)


@dataclass(frozen=True)
class Account:
    """A MAX user linked to an ЕСИА-verified person, with the children ЕСИА lists for them."""

    user: Person
    children: tuple[Person, ...]
    phone: str = field(repr=False)           # 7XXXXXXXXXX, confirmed by ЕСИА and shared from MAX

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user.to_json(), "children": [c.to_json() for c in self.children], "phone": self.phone}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Account:
        return cls(Person.from_json(data["user"]), tuple(Person.from_json(c) for c in data.get("children", [])),
                   str(data.get("phone", "")))


def normalise_phone(value: str | None) -> str | None:
    """Russian mobile numbers as 7XXXXXXXXXX (+7…, 8…, with any punctuation); None when not one."""
    digits = "".join(ch for ch in value or "" if ch.isdigit())
    if len(digits) == 11 and digits[0] in "78":
        return "7" + digits[1:]
    if len(digits) == 10 and digits[0] == "9":
        return "7" + digits
    return None
