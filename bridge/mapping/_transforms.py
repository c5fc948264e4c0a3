"""Named value transforms, and value tables.

A transform is a pair of functions, one per direction, registered in :data:`TRANSFORMS`.  Each
function takes the source value (already known to be present: not ``None``, not ``""``) and
returns the converted value, or ``None`` to leave the target unset.  A value it cannot convert
makes it raise :class:`~bridge.mapping.TransformError` whose reason names the expected format –
and never contains the value (personal data, 152-ФЗ).

To add a transform: write the two functions, add one ``Transform(...)`` line to ``_REGISTRY``
and a section to ``docs/mappings.md``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from bridge.identifiers import snils_checksum_ok
from bridge.mapping._errors import TransformError

__all__ = ["TRANSFORMS", "Converter", "Transform", "table_transform"]

Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class Transform:
    """A named pair of converters; ``mis_format``/``upstream_format`` are for humans (docs, CLI)."""

    name: str
    to_upstream: Converter
    to_mis: Converter
    mis_format: str
    upstream_format: str


def _text(value: Any, expected: str) -> str:
    if not isinstance(value, str):
        raise TransformError(f"{expected}; got {type(value).__name__}, not a string")
    return value


def _identity(value: Any) -> Any:
    return value


# --- СНИЛС ------------------------------------------------------------------------------------

_SNILS_MIS = re.compile(r"[0-9]{11}")
_SNILS_UPSTREAM = re.compile(r"([0-9]{3})-([0-9]{3})-([0-9]{3}) ([0-9]{2})")
_SNILS_MIS_REASON = "ожидается СНИЛС из 11 цифр без разделителей (XXXXXXXXXXX)"
_SNILS_UPSTREAM_REASON = "ожидается СНИЛС в виде XXX-XXX-XXX YY"
_SNILS_CHECK_REASON = "неверная контрольная сумма СНИЛС"


def snils_to_upstream(value: Any) -> str:
    text = _text(value, _SNILS_MIS_REASON)
    if _SNILS_MIS.fullmatch(text) is None:
        raise TransformError(_SNILS_MIS_REASON)
    if not snils_checksum_ok(text):
        raise TransformError(_SNILS_CHECK_REASON)
    return f"{text[0:3]}-{text[3:6]}-{text[6:9]} {text[9:11]}"


def snils_to_mis(value: Any) -> str:
    match = _SNILS_UPSTREAM.fullmatch(_text(value, _SNILS_UPSTREAM_REASON))
    if match is None:
        raise TransformError(_SNILS_UPSTREAM_REASON)
    digits = "".join(match.groups())
    if not snils_checksum_ok(digits):
        raise TransformError(_SNILS_CHECK_REASON)
    return digits


# --- телефон ----------------------------------------------------------------------------------

_PHONE_MIS = re.compile(r"8([0-9]{3})([0-9]{7})")
_PHONE_UPSTREAM = re.compile(r"\+7\(([0-9]{3})\)([0-9]{7})")
_PHONE_MIS_REASON = "ожидается номер из 11 цифр, начинающийся с 8, без пробелов и тире (8XXXXXXXXXX)"
_PHONE_UPSTREAM_REASON = "ожидается телефон в виде +7(XXX)XXXXXXX"


def phone_ru_to_upstream(value: Any) -> str:
    match = _PHONE_MIS.fullmatch(_text(value, _PHONE_MIS_REASON))
    if match is None:
        raise TransformError(_PHONE_MIS_REASON)
    return f"+7({match[1]}){match[2]}"


def phone_ru_to_mis(value: Any) -> str:
    match = _PHONE_UPSTREAM.fullmatch(_text(value, _PHONE_UPSTREAM_REASON))
    if match is None:
        raise TransformError(_PHONE_UPSTREAM_REASON)
    return f"8{match[1]}{match[2]}"


# --- даты -------------------------------------------------------------------------------------

_DATE_RU = re.compile(r"([0-9]{2})\.([0-9]{2})\.([0-9]{4})")
_DATE_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATE_RU_REASON = "ожидается существующая дата в формате ДД.ММ.ГГГГ"
_DATE_ISO_REASON = "ожидается существующая дата в формате ГГГГ-ММ-ДД"


# Every month and day that exists in some year ("0229" included), as MMDD: checking the
# matched digits against it (and 29 February against the year) is what ``datetime.date`` would
# accept, at a third of the cost of building one (docs/performance.md).
_MONTH_DAYS = frozenset(
    f"{month:02d}{day:02d}" for month in range(1, 13) for day in range(1, calendar.monthrange(2000, month)[1] + 1)
)


def _real_date(year: str, month: str, day: str, reason: str) -> None:
    """Raise unless ``year``-``month``-``day`` (4, 2 and 2 ASCII digits) is a date (year 0001–9999)."""
    month_day = month + day
    if month_day not in _MONTH_DAYS or year == "0000" or (month_day == "0229" and not calendar.isleap(int(year))):
        raise TransformError(f"такой даты не существует ({reason})")


def date_ru_to_iso(value: Any) -> str:
    match = _DATE_RU.fullmatch(_text(value, _DATE_RU_REASON))
    if match is None:
        raise TransformError(_DATE_RU_REASON)
    day, month, year = match.groups()
    _real_date(year, month, day, _DATE_RU_REASON)
    return f"{year}-{month}-{day}"


def date_ru(value: Any) -> str:
    """ДД.ММ.ГГГГ on both sides (ЕСИА's commons dateType): checked, not converted."""
    match = _DATE_RU.fullmatch(_text(value, _DATE_RU_REASON))
    if match is None:
        raise TransformError(_DATE_RU_REASON)
    day, month, year = match.groups()
    _real_date(year, month, day, _DATE_RU_REASON)
    return match.group(0)


def date_iso_to_ru(value: Any) -> str:
    match = _DATE_ISO.fullmatch(_text(value, _DATE_ISO_REASON))
    if match is None:
        raise TransformError(_DATE_ISO_REASON)
    year, month, day = match.groups()
    _real_date(year, month, day, _DATE_ISO_REASON)
    return f"{day}.{month}.{year}"


# --- текст ------------------------------------------------------------------------------------


def upper(value: Any) -> str:
    return _text(value, "expected text").upper()


def strip(value: Any) -> str | None:
    return _text(value, "expected text").strip() or None


def digits(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    kept = "".join(ch for ch in _text(value, "expected text") if "0" <= ch <= "9")
    return kept or None


_REGISTRY = (
    Transform("snils", snils_to_upstream, snils_to_mis, "05462367360", "054-623-673 60"),
    Transform("phone_ru", phone_ru_to_upstream, phone_ru_to_mis, "89161234567", "+7(916)1234567"),
    Transform("date_ru_iso", date_ru_to_iso, date_iso_to_ru, "17.08.1979", "1979-08-17"),
    Transform("date_iso_ru", date_iso_to_ru, date_ru_to_iso, "1979-08-17", "17.08.1979"),
    Transform("date_ru", date_ru, date_ru, "17.08.1979", "17.08.1979"),
    Transform("upper", upper, _identity, "Иванова", "ИВАНОВА"),
    Transform("strip", strip, _identity, " Иванова ", "Иванова"),
    Transform("digits", digits, _identity, "+7 (916) 123-45-67", "79161234567"),
)

TRANSFORMS: Mapping[str, Transform] = MappingProxyType({t.name: t for t in _REGISTRY})
"""Every transform a mapping file may name in ``transform:``, by name."""


# --- таблицы значений -------------------------------------------------------------------------

_MAX_LISTED = 20


def _lookup(table: Mapping[str, str]) -> Converter:
    codes = [repr(code) for code in table]
    listed = ", ".join(codes[:_MAX_LISTED])
    if len(codes) > _MAX_LISTED:
        listed += f", ... ({len(codes)} values)"
    reason = f"значение не из справочника; допустимы: {listed}"
    not_text = f"expected a string, one of {listed}"
    get = dict(table).get

    def lookup(value: Any) -> str:
        if not isinstance(value, str):
            raise TransformError(not_text)
        result = get(value)
        if result is None:
            raise TransformError(reason)
        return result

    return lookup


def table_transform(table: Mapping[str, str]) -> Transform:
    """A transform for a one-to-one value table ``{mis value: upstream value}``.

    The caller (the loader) has checked that keys and values are strings and values unique.
    """
    inverse = {upstream: mis for mis, upstream in table.items()}
    return Transform(
        name="table",
        to_upstream=_lookup(table),
        to_mis=_lookup(inverse),
        mis_format=" | ".join(table),
        upstream_format=" | ".join(inverse),
    )
