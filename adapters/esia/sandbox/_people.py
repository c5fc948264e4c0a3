"""The sandbox ЕСИА's test people: who can log in on its consent page, and what /rs/prns tells about them.

All of it is synthetic (invented names, numbers with valid check digits, addresses in Барнаул),
deterministic (fixed oids and ids), and shaped like the real person API (reference/esia.md §2):
SNILS as ``000-000-600 06``, dates as ``ДД.ММ.ГГГГ``, contacts MBT/EML, addresses PRG/PLV,
documents RF_PASSPORT and MDCL_PLCY (16-digit ЕНП), children with RF_BRTH_CERT and MDCL_PLCY.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.identifiers import snils_check_digits

__all__ = [
    "PEOPLE",
    "Address",
    "Contact",
    "Document",
    "Kid",
    "Person",
    "enp",
    "enp_check_digit",
    "inn_personal",
    "snils",
]


def snils(first9: str) -> str:
    """``XXX-XXX-XXX YY`` with valid check digits for the 9-digit number ``first9``."""
    check = snils_check_digits(first9)
    return f"{first9[:3]}-{first9[3:6]}-{first9[6:9]} {check}"


def enp_check_digit(first15: str) -> str:
    """Check digit of a 16-digit ЕНП (единый номер полиса ОМС), reference/egisz.md §4.3.

    Of the first 15 digits: those at odd positions counted from the right, read right to left,
    form a number that is doubled; those at even positions (read the same way) are prepended;
    the check digit tops the sum of all the digits up to the next multiple of 10.
    ``845199912289999`` → ``0``.
    """
    if len(first15) != 15 or not (first15.isascii() and first15.isdigit()):
        raise ValueError("an ЕНП without its check digit must be exactly 15 digits")
    from_right = first15[::-1]
    odd, even = from_right[0::2], from_right[1::2]
    combined = even + str(int(odd) * 2)
    total = sum(int(digit) for digit in combined)
    return str((10 - total % 10) % 10)


def enp(first15: str) -> str:
    return first15 + enp_check_digit(first15)


def inn_personal(first10: str) -> str:
    """A 12-digit personal ИНН: ``first10`` and its two check digits."""
    weights11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
    weights12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
    n11 = sum(int(d) * w for d, w in zip(first10, weights11, strict=True)) % 11 % 10
    with11 = first10 + str(n11)
    n12 = sum(int(d) * w for d, w in zip(with11, weights12, strict=True)) % 11 % 10
    return with11 + str(n12)


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    type: str  # MBT | EML | PHN
    value: str
    verified: bool = True

    def fields(self) -> dict[str, Any]:
        return {
            "stateFacts": ["Identifiable"],
            "id": self.id,
            "type": self.type,
            "vrfStu": "VERIFIED" if self.verified else "NOT_VERIFIED",
            "value": self.value,
        }


@dataclass(frozen=True, slots=True)
class Address:
    id: int
    type: str  # PRG (registration) | PLV (residence)
    region: str
    city: str
    street: str
    street_kind: str
    house: str
    flat: str
    zip_code: str
    fias_code: str

    def fields(self) -> dict[str, Any]:
        text = f"{self.region}, г {self.city}, {self.street_kind} {self.street}, д. {self.house}"
        if self.flat:
            text += f", кв. {self.flat}"
        return {
            "stateFacts": ["Identifiable"],
            "id": self.id,
            "type": self.type,
            "addressStr": text,
            "fiasCode": self.fias_code,
            "flat": self.flat,
            "countryId": "RUS",
            "house": self.house,
            "zipCode": self.zip_code,
            "city": self.city,
            "street": self.street,
            "region": self.region,
        }


@dataclass(frozen=True, slots=True)
class Document:
    id: int
    type: str  # RF_PASSPORT | MDCL_PLCY | RF_BRTH_CERT
    number: str
    series: str | None = None
    issue_date: str | None = None
    issue_id: str | None = None
    issued_by: str | None = None

    def fields(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"stateFacts": ["EntityRoot"], "id": self.id, "type": self.type, "vrfStu": "VERIFIED"}
        if self.series is not None:
            answer["series"] = self.series
        answer["number"] = self.number
        if self.issue_date is not None:
            answer["issueDate"] = self.issue_date
        if self.issue_id is not None:
            answer["issueId"] = self.issue_id
        if self.issued_by is not None:
            answer["issuedBy"] = self.issued_by
        return answer


@dataclass(frozen=True, slots=True)
class Kid:
    id: int
    last_name: str
    first_name: str
    middle_name: str
    birth_date: str
    gender: str
    snils: str
    documents: tuple[Document, ...] = ()


@dataclass(frozen=True, slots=True)
class Person:
    oid: int
    last_name: str
    first_name: str
    middle_name: str
    birth_date: str
    birth_place: str
    gender: str
    trusted: bool
    snils: str
    inn: str
    updated_on: int
    r_id_doc: int
    contacts: tuple[Contact, ...] = ()
    addresses: tuple[Address, ...] = ()
    documents: tuple[Document, ...] = ()
    kids: tuple[Kid, ...] = field(default=())

    @property
    def display_name(self) -> str:
        return f"{self.last_name} {self.first_name} {self.middle_name}".strip()


_REGION = "Алтайский край"
_BARNAUL = "Барнаул"
_ZAGS = "Отдел ЗАГС по Центральному району г. Барнаула управления юстиции Алтайского края"
_MVD = "ГУ МВД России по Алтайскому краю"


def _address(id_: int, kind: str, street_kind: str, street: str, house: str, flat: str, zip_code: str,
             fias: str) -> Address:
    return Address(id_, kind, _REGION, _BARNAUL, street, street_kind, house, flat, zip_code, fias)


PEOPLE: tuple[Person, ...] = (
    Person(
        oid=1000900101, last_name="Смирнова", first_name="Анна", middle_name="Сергеевна",
        birth_date="14.03.1988", birth_place="г. Барнаул", gender="F", trusted=True,
        snils=snils("137482915"), inn=inn_personal("2224150378"), updated_on=1761904800, r_id_doc=5101,
        contacts=(
            Contact(5201, "MBT", "+7(913)2456718"),
            Contact(5202, "EML", "anna.smirnova.test@example.ru"),
        ),
        addresses=(
            _address(5301, "PRG", "пр-кт", "Ленина", "41", "17", "656049", "b4d1c5a2-6f3e-4c8b-9a21-0d7e5f3c9a01"),
            _address(5302, "PLV", "ул", "Попова", "105", "212", "656057", "c8e2a7f1-3b5d-4e9a-8c42-1f6d2b7e4a02"),
        ),
        documents=(
            Document(5101, "RF_PASSPORT", "482916", series="0108", issue_date="21.03.2008", issue_id="220001",
                     issued_by="Отделом УФМС России по Алтайскому краю в Центральном районе г. Барнаула"),
            Document(5102, "MDCL_PLCY", enp("225380874102931")),
        ),
        kids=(
            Kid(5401, "Смирнов", "Артём", "Дмитриевич", "09.09.2015", "M", snils("174893226"),
                documents=(
                    Document(5411, "RF_BRTH_CERT", "584213", series="III-ТО", issue_date="18.09.2015",
                             issued_by=_ZAGS),
                    Document(5412, "MDCL_PLCY", enp("225390915047712")),
                )),
            Kid(5402, "Смирнова", "Полина", "Дмитриевна", "21.06.2026", "F", snils("198320457"),
                documents=(
                    Document(5421, "RF_BRTH_CERT", "731905", series="IV-ТО", issue_date="02.07.2026",
                             issued_by=_ZAGS),
                    Document(5422, "MDCL_PLCY", enp("225399626061803")),
                )),
        ),
    ),
    Person(
        oid=1000900102, last_name="Кузнецов", first_name="Игорь", middle_name="Владимирович",
        birth_date="02.11.1979", birth_place="г. Бийск Алтайского края", gender="M", trusted=True,
        snils=snils("126538704"), inn=inn_personal("2204087213"), updated_on=1758312000, r_id_doc=6101,
        contacts=(
            Contact(6201, "MBT", "+7(962)8104395"),
            Contact(6202, "EML", "i.kuznetsov.test@example.ru"),
            Contact(6203, "PHN", "+7(3852)634718", verified=False),
        ),
        addresses=(
            _address(6301, "PRG", "ул", "Малахова", "86", "54", "656056", "d2f9b3c4-7a1e-4d5b-8e63-2a9c4d1f5b03"),
            _address(6302, "PLV", "ул", "Малахова", "86", "54", "656056", "d2f9b3c4-7a1e-4d5b-8e63-2a9c4d1f5b03"),
        ),
        documents=(
            Document(6101, "RF_PASSPORT", "317540", series="0124", issue_date="14.11.2024", issue_id="220005",
                     issued_by=_MVD),
            Document(6102, "MDCL_PLCY", enp("225170902283645")),
        ),
        kids=(
            Kid(6401, "Кузнецова", "Мария", "Игоревна", "15.06.2018", "F", snils("185640392"),
                documents=(
                    Document(6411, "RF_BRTH_CERT", "265017", series="II-ТО", issue_date="26.06.2018",
                             issued_by=_ZAGS),
                    Document(6412, "MDCL_PLCY", enp("225380618094420")),
                )),
        ),
    ),
    Person(
        oid=1000900103, last_name="Петрова", first_name="Елена", middle_name="Николаевна",
        birth_date="27.07.1996", birth_place="с. Павловск Павловского района Алтайского края", gender="F",
        trusted=False, snils=snils("152907318"), inn=inn_personal("2261093147"), updated_on=1763114400,
        r_id_doc=7101,
        contacts=(Contact(7201, "MBT", "+7(905)9837162"),),
        addresses=(
            _address(7301, "PRG", "ул", "Советской Армии", "62", "8", "656065",
                     "e5a1c8d2-9b4f-4a6c-b174-3c0d5e2a6c04"),
        ),
        documents=(
            Document(7101, "RF_PASSPORT", "905128", series="0116", issue_date="12.08.2016", issue_id="220012",
                     issued_by="Отделом УФМС России по Алтайскому краю в Павловском районе"),
        ),
    ),
    Person(
        oid=1000900104, last_name="Морозов", first_name="Виктор", middle_name="Павлович",
        birth_date="30.01.1956", birth_place="г. Рубцовск Алтайского края", gender="M", trusted=True,
        snils=snils("041276593"), inn=inn_personal("2209011846"), updated_on=1740736800, r_id_doc=8101,
        contacts=(Contact(8201, "MBT", "+7(923)1650284"),),
        addresses=(
            _address(8301, "PRG", "ул", "Антона Петрова", "219", "33", "656062",
                     "f7b2d9e3-1c5a-4b7d-9285-4d1e6f3b7d05"),
        ),
        documents=(
            Document(8101, "RF_PASSPORT", "610472", series="0101", issue_date="15.02.2001", issue_id="222002",
                     issued_by="Рубцовским ГОВД Алтайского края"),
            Document(8102, "MDCL_PLCY", enp("225560130076219")),
        ),
    ),
)
"""Смирнова (two children: a schoolboy and an infant), Кузнецов (one child), Петрова (unconfirmed
account, ``trusted: false``), Морозов (pensioner, no children)."""
