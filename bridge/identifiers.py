"""Check digits of Russian personal identifiers.

СНИЛС (insurance number of an individual personal account) is 11 digits: a 9-digit number and
2 check digits, printed as ``XXX-XXX-XXX YY``.  The check digits are computed from the number
as follows (Pension Fund of Russia rules):

* s = Σ dᵢ·(9 − i) for the digits d₀…d₈ left to right (weights 9, 8, …, 1);
* s < 100 → the check number is s; s = 100 or 101 → 00;
  otherwise s mod 101, where a result of 100 again gives 00.

Numbers up to ``001-001-998`` were issued before the check digits existed and are not checked:
any check digits are accepted for them.

These functions work on plain digit strings and never put the number into an exception
message (СНИЛС is personal data under 152-ФЗ).
"""

from __future__ import annotations

from operator import mul

__all__ = ["SNILS_UNCHECKED_MAX", "snils_check_digits", "snils_checksum_ok"]

SNILS_UNCHECKED_MAX = 1_001_998
"""The largest 9-digit number (``001-001-998``) whose check digits are not verified."""

_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, 1)
_ZERO_CODES = ord("0") * sum(_WEIGHTS)


def _is_ascii_digits(text: str, length: int) -> bool:
    return len(text) == length and text.isascii() and text.isdigit()


def snils_check_digits(first9: str) -> str:
    """The two check digits for the 9-digit number ``first9``, e.g. ``"054623673"`` → ``"60"``.

    Computed by the algorithm above even for numbers ≤ 001-001-998 (where they are not checked).

    :raises ValueError: if ``first9`` is not exactly 9 ASCII digits (the message omits the value).
    """
    if not _is_ascii_digits(first9, 9):
        raise ValueError("a SNILS number must be exactly 9 digits (without check digits)")
    # Σ digit × weight over the ASCII codes (each digit is its code − 48): a quarter of the time of
    # int() per digit, and this runs for every SNILS the mappings check (docs/performance.md).
    total = sum(map(mul, first9.encode("ascii"), _WEIGHTS)) - _ZERO_CODES
    # below 100 as it is; 100 and 101 give 00; above, the remainder by 101, with 100 as 00
    check = total if total < 100 else total % 101 % 100
    return f"{check:02d}"


def snils_checksum_ok(digits: str) -> bool:
    """Whether ``digits`` (11 ASCII digits, no separators) is a SNILS with valid check digits.

    ``False`` for anything that is not exactly 11 digits.  For numbers ≤ 001-001-998 any check
    digits are accepted.
    """
    if not _is_ascii_digits(digits, 11):
        return False
    if int(digits[:9]) <= SNILS_UNCHECKED_MAX:
        return True
    return snils_check_digits(digits[:9]) == digits[9:]
