"""Russian words after a number: «1 заявление», «2 заявления», «5 заявлений».

The rule is CLDR's for ``ru`` integers (one: n%10 = 1 and n%100 != 11; few: n%10 in 2..4 and
n%100 not in 12..14; many: the rest), https://www.unicode.org/cldr/charts/latest/supplemental/language_plural_rules.html;
tests/unit/test_russian.py holds it against Babel's copy of CLDR.
"""

from __future__ import annotations

__all__ = ["plural", "quantity"]


def plural(n: int, one: str, few: str, many: str) -> str:
    """The form of a noun after the integer ``n``: ``plural(21, "символ", "символа", "символов")``."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def quantity(n: int, one: str, few: str, many: str) -> str:
    """The number and its noun: ``quantity(4, "пользователь", "пользователя", "пользователей")``."""
    return f"{n} {plural(n, one, few, many)}"
