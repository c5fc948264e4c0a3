"""The table-driven checks behind the transforms, against straightforward reference versions.

SNILS check digits are summed by 3-digit groups from look-up tables (``bridge.identifiers``) and
dates are checked against a set of month-days (``bridge.mapping._transforms``); both must agree
with the plain algorithm and with ``datetime.date`` on every input that can reach them.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools

import pytest

from bridge.identifiers import SNILS_UNCHECKED_MAX, snils_check_digits, snils_checksum_ok
from bridge.mapping import TRANSFORMS, TransformError


def reference_check_digits(first9: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first9, range(9, 0, -1), strict=True))
    if total < 100:
        return f"{total:02d}"
    if total in (100, 101):
        return "00"
    return f"{total % 101 % 100:02d}"


def reference_checksum_ok(digits: str) -> bool:
    if not (len(digits) == 11 and digits.isascii() and digits.isdigit()):
        return False
    return int(digits[:9]) <= SNILS_UNCHECKED_MAX or reference_check_digits(digits[:9]) == digits[9:]


@pytest.mark.parametrize("position", [0, 3, 6])
def test_check_digits_every_triple_at_every_position(position: int) -> None:
    for n in range(1000):
        first9 = ("000000000"[:position] + f"{n:03d}" + "000000000")[:9]
        assert snils_check_digits(first9) == reference_check_digits(first9), first9


def test_check_digits_every_sum() -> None:
    for total in range(9 * 45 + 1):           # 0 … 405 (999999999)
        digits, rest = "", total
        for weight in range(9, 0, -1):        # greedily: the largest digits for the largest weights
            digit = min(9, rest // weight)
            digits, rest = digits + str(digit), rest - digit * weight
        assert rest == 0
        assert snils_check_digits(digits) == reference_check_digits(digits), digits


@pytest.mark.parametrize(
    "digits",
    ["00100199800", "00100199899", "00100199900", "00100199999", "00000000000", "99999999999", "11223344595",
     "0010019989", "001001998000", "0010019a800", "١١٢٢٣٣٤٤٥٩٥", "", "²1223344595"],
)
def test_checksum_ok_near_the_unchecked_bound_and_bad_input(digits: str) -> None:
    assert snils_checksum_ok(digits) == reference_checksum_ok(digits)


def test_checksum_ok_every_check_pair() -> None:
    for first9 in ("001001999", "054623673", "112233445", "999999999", "532971373"):
        for check in range(100):
            digits = f"{first9}{check:02d}"
            assert snils_checksum_ok(digits) == reference_checksum_ok(digits), digits


def date_exists(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("year", [0, 1, 4, 100, 1900, 1979, 2000, 2015, 2023, 2024, 2100, 2400, 9999])
def test_dates_exist_exactly_as_datetime_says(year: int) -> None:
    iso_to_ru = TRANSFORMS["date_iso_ru"].to_upstream
    ru_to_iso = TRANSFORMS["date_ru_iso"].to_upstream
    ru_checked = TRANSFORMS["date_ru"].to_upstream
    for month, day in itertools.product(range(100), range(100)):
        iso, ru = f"{year:04d}-{month:02d}-{day:02d}", f"{day:02d}.{month:02d}.{year:04d}"
        if date_exists(year, month, day):
            assert iso_to_ru(iso) == ru and ru_to_iso(ru) == iso and ru_checked(ru) == ru
            continue
        with pytest.raises(TransformError) as err:
            ru_checked(ru)
        assert err.value.reason == "такой даты не существует (ожидается существующая дата в формате ДД.ММ.ГГГГ)"
        with pytest.raises(TransformError) as err:
            iso_to_ru(iso)
        assert err.value.reason == "такой даты не существует (ожидается существующая дата в формате ГГГГ-ММ-ДД)"
        with pytest.raises(TransformError) as err:
            ru_to_iso(ru)
        assert err.value.reason == "такой даты не существует (ожидается существующая дата в формате ДД.ММ.ГГГГ)"


def test_leap_days() -> None:
    ru_to_iso = TRANSFORMS["date_ru_iso"].to_upstream
    for year in range(1, 10000):
        text = f"29.02.{year:04d}"
        if calendar.isleap(year):
            assert ru_to_iso(text) == f"{year:04d}-02-29"
        else:
            with pytest.raises(TransformError):
                ru_to_iso(text)
