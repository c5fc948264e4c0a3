"""bridge.russian against Babel's CLDR plural rules for Russian (a source we did not write)."""

from __future__ import annotations

import pytest
from babel import Locale

from bridge.russian import plural, quantity

FORMS = {"one": "символ", "few": "символа", "many": "символов"}


@pytest.mark.parametrize("n", [*range(130), 1001, 1011, 1021, 1112, 10_000, 100_004])
def test_the_form_is_cldrs(n: int) -> None:
    expected = Locale.parse("ru").plural_form(n)
    assert plural(n, FORMS["one"], FORMS["few"], FORMS["many"]) == FORMS[expected]


@pytest.mark.parametrize(("n", "text"), [(4, "4 тестовых пользователя"), (22, "22 тестовых пользователя"),
                                         (11, "11 тестовых пользователей"), (21, "21 тестовый пользователь")])
def test_quantity_reads_as_russian(n: int, text: str) -> None:
    words = quantity(n, "тестовый пользователь", "тестовых пользователя", "тестовых пользователей")
    assert words == text


@pytest.mark.parametrize("n", [1, 2, 5, 11, 15, 21, 24, 30])
def test_the_bots_minutes_agree_with_their_number(n: int) -> None:
    """The ТМК bot's texts with a configured number of minutes, against CLDR's category of n."""
    from adapters.tmk._screens import Screens

    category = Locale.parse("ru").plural_form(n)
    accusative = {"one": "минуту", "few": "минуты", "many": "минут"}[category]     # «действует 21 минуту»
    genitive = {"one": "минуты", "few": "минут", "many": "минут"}[category]        # «больше 21 минуты»
    screens = Screens("s")
    assert f"Ссылка действует {n} {accusative} " in (screens.login("https://esia.example.ru/", n).text or "")
    assert f"прошло больше {n} {genitive} без" in (screens.expired(n, "Смирнова А. С.").text or "")
