"""What ``bridge demo`` prints must read as Russian: numbers agree with their nouns (held against
Babel's CLDR plural rules, not our own helper), steps go up one by one, no placeholder values."""

from __future__ import annotations

import re

from babel import Locale

# Nouns the demo counts, by their one/few/many forms.
NOUNS = [("тестовый пользователь", "тестовых пользователя", "тестовых пользователей"),
         ("область", "области", "областей"), ("символ", "символа", "символов"),
         ("заявление", "заявления", "заявлений")]


def assert_reads_right(text: str) -> None:
    ru = Locale.parse("ru")
    counted = 0
    for forms in NOUNS:
        for number, form in re.findall(rf"(\d+) ({'|'.join(map(re.escape, forms))})\b", text):
            expected = forms[("one", "few", "many").index(ru.plural_form(int(number)))]
            assert form == expected, f"«{number} {form}»: CLDR says «{number} {expected}»"
            counted += 1
    assert counted >= 4, "the demo no longer counts what it used to: update NOUNS"
    assert "XXXX" not in text, "a placeholder where a value belongs"
    for section in re.split(r"^═══ .* ═══$", text, flags=re.MULTILINE):
        steps = [int(n) for n in re.findall(r"^── (\d+)\. ", section, flags=re.MULTILINE)]
        assert steps == list(range(1, len(steps) + 1)), f"steps numbered {steps}"
