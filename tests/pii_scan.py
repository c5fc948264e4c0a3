"""152-ФЗ over the whole test suite: every planted personal value, in every format, looked for in every
bridge.log / sandbox.log the session wrote under pytest's basetemp.

The planted values are the ones the tests use: the patients of tests/conftest.py (make_patient) and of
tests/integration/test_pii_logs.py, the ЕСИА sandbox's people (adapters/esia/sandbox/_people.py), the
sandbox МИС's people and doctors (adapters/hubservice/sandbox/_data.py), the bot tests' family and phones
(tests/unit/test_tmk_dialog.py), and the sandboxes' tokens and secrets. Each comes in the formats it may
take on the way (SNILS with and without separators, phones as 8…, 7…, +7…, +7(…)…, dates as ДД.ММ.ГГГГ and
ГГГГ-ММ-ДД). Shapes are looked for too: any SNILS written XXX-XXX-XXX YY with a valid checksum, any phone
written +7(XXX)XXXXXXX (the random ones of make_patient).

The test that scans is tests/integration/test_pii_suite.py, marked ``session_last`` so that
tests/conftest.py runs it after every other test of the session. A report names the file, the line,
the kind of value and where it was planted — never the value itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bridge.identifiers import snils_checksum_ok

LOG_NAMES = ("bridge.log", "sandbox.log")


@dataclass(frozen=True)
class Planted:
    value: str
    kind: str        # snils | phone | name | birth_date | email | inn | secret
    source: str      # where the tests plant it


@dataclass(frozen=True)
class Leak:
    file: Path
    line: int
    kind: str
    source: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind} planted by {self.source}"


# --- the planted values, in every format -----------------------------------------------------------


def snils_forms(snils: str) -> list[str]:
    digits = re.sub(r"\D", "", snils)
    if len(digits) != 11:
        return [snils]
    a, b, c, d = digits[:3], digits[3:6], digits[6:9], digits[9:]
    return [digits, f"{a}-{b}-{c} {d}", f"{a}-{b}-{c}-{d}", f"{a} {b} {c} {d}", f"{a}-{b}-{c}"]


def phone_forms(phone: str) -> list[str]:
    digits = re.sub(r"\D", "", phone)
    core = digits[-10:]
    if len(core) != 10:
        return [phone]
    code, rest = core[:3], core[3:]
    return [f"8{core}", f"7{core}", f"+7{core}", f"+7({code}){rest}", f"+7 ({code}) {rest[:3]}-{rest[3:5]}-{rest[5:]}",
            f"8 ({code}) {rest[:3]}-{rest[3:5]}-{rest[5:]}", f"+7 {code} {rest[:3]}-{rest[3:5]}-{rest[5:]}", core]


def date_forms(value: str | date) -> list[str]:
    if isinstance(value, str):
        found = re.fullmatch(r"(\d{2})\.(\d{2})\.(\d{4})", value) or re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value)
        if found is None:
            return [value]
        parts = found.groups()
        day, month, year = parts if len(parts[0]) == 2 else (parts[2], parts[1], parts[0])
    else:
        day, month, year = f"{value.day:02d}", f"{value.month:02d}", f"{value.year:04d}"
    return [f"{day}.{month}.{year}", f"{year}-{month}-{day}", f"{day}/{month}/{year}"]


def _person(found: list[Planted], source: str, *, last: str | None = None, first: str | None = None,
            middle: str | None = None, birth: str | date | None = None, snils: str | None = None,
            phones: Iterable[str] = ()) -> None:
    if last:
        found.append(Planted(last, "name", source))
        if first:
            found.append(Planted(f"{last} {first}", "name", source))
            found.append(Planted(f"{first} {last}", "name", source))
    if middle:
        found.append(Planted(middle, "name", source))
    if birth:
        found.extend(Planted(v, "birth_date", source) for v in date_forms(birth))
    if snils:
        found.extend(Planted(v, "snils", source) for v in snils_forms(snils))
    for phone in phones:
        found.extend(Planted(v, "phone", source) for v in phone_forms(phone))


def planted_values() -> list[Planted]:
    """Every personal value and secret the test suite plants, in every format."""
    from adapters.esia.sandbox import PEOPLE as ESIA_PEOPLE
    from adapters.hubservice.sandbox import DOCTORS
    from adapters.hubservice.sandbox._data import PEOPLE as MIS_PEOPLE
    from adapters.tmk import sandbox as tmk_sandbox
    from tests.conftest import make_patient

    found: list[Planted] = []
    patient = make_patient()
    _person(found, "tests/conftest.py make_patient", last=patient["LastName"], first=patient["FirstName"],
            middle=patient["MiddleName"], birth=patient["BirthDate"])
    from tests.integration.test_pii_logs import PLANTED

    _person(found, "tests/integration/test_pii_logs.py", last=PLANTED["LastName"], first=PLANTED["FirstName"],
            middle=PLANTED["MiddleName"], birth=PLANTED["BirthDate"], snils=PLANTED["Snils"],
            phones=[PLANTED["MobilePhone"]])
    for person in ESIA_PEOPLE:
        source = "adapters/esia/sandbox/_people.py"
        _person(found, source, last=person.last_name, first=person.first_name, middle=person.middle_name,
                birth=person.birth_date, snils=person.snils,
                phones=[c.value for c in person.contacts if c.type in ("MBT", "PHN", "CPH")])
        found.extend(Planted(c.value, "email", source) for c in person.contacts if c.type == "EML")
        found.append(Planted(person.inn, "inn", source))
        for kid in person.kids:
            _person(found, source, last=kid.last_name, first=kid.first_name, middle=kid.middle_name,
                    birth=kid.birth_date, snils=kid.snils)
    for mis in MIS_PEOPLE:
        _person(found, "adapters/hubservice/sandbox/_data.py", last=mis.surname, first=mis.name,
                middle=mis.second_name, birth=mis.birthday, snils=mis.snils)
    for doctor in DOCTORS:
        surname, name, *middle = doctor.name.split()
        _person(found, "adapters/hubservice/sandbox/_data.py (doctors)", last=f"{surname} {name} {' '.join(middle)}",
                snils=doctor.snils, phones=[doctor.phone] if doctor.phone else [])
    for planted in _tmk_dialog_people():
        found.append(planted)
    for secret in (tmk_sandbox.TOKEN, tmk_sandbox.WEBHOOK_SECRET, tmk_sandbox.SCHEDULE_GUID, tmk_sandbox.SFERUM_TOKEN,
                   "integration-test-pseudonym-key-0123456789"):
        found.append(Planted(secret, "secret", "sandbox settings (adapters/tmk/sandbox, tests/bridgeproc.py)"))
    unique: dict[str, Planted] = {}
    for planted in found:
        if len(planted.value) >= 5:   # shorter values are not specific enough to mean a leak
            unique.setdefault(planted.value, planted)
    return list(unique.values())


def _tmk_dialog_people() -> list[Planted]:
    found: list[Planted] = []
    try:
        from tests.unit import test_tmk_dialog as dialog
    except ImportError:
        return found
    source = "tests/unit/test_tmk_dialog.py"
    for person in (getattr(dialog, "MOTHER", None), getattr(dialog, "SON", None)):
        if person is not None:
            _person(found, source, last=person.surname, first=person.name, middle=person.patronymic,
                    birth=person.birth_date, snils=person.snils)
    _person(found, source, phones=["79132456718"])
    return found


# --- the scan -------------------------------------------------------------------------------------------

_SNILS_SHAPE = re.compile(r"(?<!\d)(\d{3})-(\d{3})-(\d{3}) (\d{2})(?!\d)")
_PHONE_SHAPE = re.compile(r"\+7\(\d{3}\)\d{7}(?!\d)")


def _pattern(values: list[Planted]) -> re.Pattern[str]:
    parts = []
    for planted in sorted(values, key=lambda p: -len(p.value)):
        edge_l = r"(?<!\d)" if planted.value[:1].isdigit() or planted.value[:1] == "+" else r"(?<!\w)"
        edge_r = r"(?!\d)" if planted.value[-1:].isdigit() else r"(?!\w)"
        parts.append(f"{edge_l}{re.escape(planted.value)}{edge_r}")
    return re.compile("|".join(parts))


def scan_text(text: str, file: Path, planted: list[Planted] | None = None) -> list[Leak]:
    """Leaks in one log's text: planted values, SNILS-shaped and phone-shaped strings."""
    values = planted if planted is not None else planted_values()
    by_value = {p.value: p for p in values}
    leaks: list[Leak] = []

    def line_of(position: int) -> int:
        return text.count("\n", 0, position) + 1

    if values:
        for found in _pattern(values).finditer(text):
            hit = by_value[found.group(0)]
            leaks.append(Leak(file, line_of(found.start()), hit.kind, hit.source))
    for found in _SNILS_SHAPE.finditer(text):
        if snils_checksum_ok("".join(found.groups())):
            leaks.append(Leak(file, line_of(found.start()), "snils", "a SNILS-shaped value (XXX-XXX-XXX YY)"))
    for found in _PHONE_SHAPE.finditer(text):
        leaks.append(Leak(file, line_of(found.start()), "phone", "a phone-shaped value (+7(XXX)XXXXXXX)"))
    return sorted(set(leaks), key=lambda leak: (str(leak.file), leak.line, leak.kind))


def session_logs(basetemp: Path) -> list[Path]:
    """Every bridge.log / sandbox.log under ``basetemp`` (the session's tmp_path_factory.getbasetemp())."""
    return sorted(path for name in LOG_NAMES for path in basetemp.rglob(name) if path.is_file())


def scan_logs(paths: Iterable[Path], planted: list[Planted] | None = None) -> list[Leak]:
    values = planted if planted is not None else planted_values()
    leaks: list[Leak] = []
    for path in paths:
        leaks.extend(scan_text(path.read_text(encoding="utf-8", errors="replace"), path, values))
    return leaks


def report(leaks: list[Leak], limit: int = 50) -> str:
    if not leaks:
        return ""
    lines = [f"personal data or secrets in the test suite's logs: {len(leaks)} finding(s)"]
    lines.extend(f"  {leak}" for leak in leaks[:limit])
    if len(leaks) > limit:
        lines.append(f"  … and {len(leaks) - limit} more")
    return "\n".join(lines)
