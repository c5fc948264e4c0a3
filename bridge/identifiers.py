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

__all__ = ["SNILS_UNCHECKED_MAX", "snils_check_digits", "snils_checksum_ok"]

SNILS_UNCHECKED_MAX = 1_001_998
"""The largest 9-digit number (``001-001-998``) whose check digits are not verified."""

_UNCHECKED_MAX_TEXT = f"{SNILS_UNCHECKED_MAX:09d}"   # the same bound, compared as 9 digit characters
_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, 1)

# The sum is computed by triples: for each 3-digit group of the number ("054", "623", "673"),
# its part of Σ dᵢ·(9 − i) is looked up (three dicts of 1,000 entries sharing their keys), and
# the two check digits for each possible sum (0…405) are a tuple.  Three look-ups instead of
# nine multiplications: this runs for every SNILS the mappings convert (docs/performance.md).
_TRIPLES = tuple(f"{n:03d}" for n in range(1000))
_PART = tuple(
    {t: sum(int(d) * w for d, w in zip(t, _WEIGHTS[k : k + 3], strict=True)) for t in _TRIPLES}
    for k in (0, 3, 6)
)
# the sum below 100 as it is; 100 and 101 give 00; above, the remainder by 101, with 100 as 00
_CHECK = tuple(f"{s if s < 100 else s % 101 % 100:02d}" for s in range(9 * sum(_WEIGHTS) + 1))


def _is_ascii_digits(text: str, length: int) -> bool:
    return len(text) == length and text.isascii() and text.isdigit()


def _check_of(first9: str) -> str:
    """The check digits of ``first9``, already known to be 9 ASCII digits."""
    first, second, third = _PART
    return _CHECK[first[first9[0:3]] + second[first9[3:6]] + third[first9[6:9]]]


def snils_check_digits(first9: str) -> str:
    """The two check digits for the 9-digit number ``first9``, e.g. ``"054623673"`` → ``"60"``.

    Computed by the algorithm above even for numbers ≤ 001-001-998 (where they are not checked).

    :raises ValueError: if ``first9`` is not exactly 9 ASCII digits (the message omits the value).
    """
    if not _is_ascii_digits(first9, 9):
        raise ValueError("a SNILS number must be exactly 9 digits (without check digits)")
    return _check_of(first9)


def snils_checksum_ok(digits: str) -> bool:
    """Whether ``digits`` (11 ASCII digits, no separators) is a SNILS with valid check digits.

    ``False`` for anything that is not exactly 11 digits.  For numbers ≤ 001-001-998 any check
    digits are accepted.
    """
    if not (len(digits) == 11 and digits.isascii() and digits.isdigit()):
        return False
    first9 = digits[:9]
    return first9 <= _UNCHECKED_MAX_TEXT or _check_of(first9) == digits[9:]
