"""What the patient sees: every screen of the bot as text and buttons (pure functions, no I/O).

Callback payloads are ``<session>|<action>``: a press from an older session (a message left
above in the chat) is recognised as stale instead of acting on a dialog that moved on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from adapters.max import Button, CallbackButton, InlineKeyboard, LinkButton, NewMessage, RequestContactButton
from bridge.russian import quantity

WEEKDAYS = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")
MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
          "ноября", "декабря")
BACK, MENU = "back", "menu"


@dataclass(frozen=True)
class Option:
    action: str       # e.g. "s:27"
    label: str


def day_text(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} ({WEEKDAYS[day.weekday()]})"


def moment_text(moment: datetime) -> str:
    return f"{day_text(moment.date())}, {moment:%H:%M}"


def _label(text: str, limit: int = 64) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Screens:
    """Builds messages for one dialog session."""

    def __init__(self, session: str) -> None:
        self.session = session

    def button(self, label: str, action: str) -> CallbackButton:
        return CallbackButton(_label(label), f"{self.session}|{action}")

    def _nav(self, back: bool = True, menu: bool = True) -> list[Button]:
        row: list[Button] = []
        if back:
            row.append(self.button("← Назад", BACK))
        if menu:
            row.append(self.button("Главное меню", MENU))
        return row

    def choices(self, text: str, options: Sequence[Option], per_row: int = 1, back: bool = True) -> NewMessage:
        rows: list[list[Button]] = []
        for i in range(0, len(options), per_row):
            rows.append([self.button(o.label, o.action) for o in options[i:i + per_row]])
        nav = self._nav(back=back)
        if nav:
            rows.append(nav)
        return NewMessage(text, keyboard=InlineKeyboard.of(*rows))

    def problem(self, text: str, back: bool = True) -> NewMessage:
        """An error at a step: what went wrong, and the way back."""
        return NewMessage(text, keyboard=InlineKeyboard.of(self._nav(back=back)))

    # --- identity -------------------------------------------------------------------------------

    @staticmethod
    def welcome() -> NewMessage:
        return NewMessage(
            "Здравствуйте! Здесь можно записаться на телемедицинскую консультацию (ТМК) врача — "
            "для себя, ребёнка или человека, чьим законным представителем вы являетесь.\n\n"
            "Для записи нужен вход через Госуслуги. Сначала поделитесь номером телефона: он должен совпадать "
            "с подтверждённым номером в Госуслугах.",
            keyboard=InlineKeyboard.of([RequestContactButton("Поделиться номером телефона")]))

    def login(self, url: str, minutes: int) -> NewMessage:
        return NewMessage(
            "Спасибо! Теперь войдите через Госуслуги: бот получит ваши ФИО, дату рождения, СНИЛС и сведения "
            "о детях, чтобы записать вас к врачу. "
            f"Ссылка действует {quantity(minutes, 'минуту', 'минуты', 'минут')} и только для вас.",
            keyboard=InlineKeyboard.of([LinkButton("Войти через Госуслуги", url)],
                                       [self.button("Получить новую ссылку", "relink")]))

    @staticmethod
    def phone_invalid() -> NewMessage:
        return NewMessage("Не удалось прочитать номер телефона из контакта. Нажмите кнопку ещё раз.",
                          keyboard=InlineKeyboard.of([RequestContactButton("Поделиться номером телефона")]))

    # --- menu and steps ---------------------------------------------------------------------------

    def main_menu(self, who: str, note: str | None = None) -> NewMessage:
        head = f"{note}\n\n" if note else ""
        return NewMessage(
            f"{head}Главное меню. Вы вошли через Госуслуги: {who}\nЧто хотите сделать?",
            keyboard=InlineKeyboard.of([self.button("Записать себя на ТМК", "p:self")],
                                       [self.button("Записать другого человека", "p:other")],
                                       [self.button("Предстоящие записи", "up")]))

    def summary(self, lines: Sequence[tuple[str, str]], conditions: str) -> NewMessage:
        body = "\n".join(f"{k}: {v}" for k, v in lines)
        return NewMessage(
            f"Проверьте запись на ТМК:\n{body}\n\nПорядок и условия: {conditions}\n\n"
            "Нажимая «Согласен, записаться», вы подтверждаете согласие на проведение консультации "
            "с применением телемедицинских технологий.",
            keyboard=InlineKeyboard.of([self.button("Согласен, записаться", "ok")], self._nav()))

    def booked(self, number: str, lines: Sequence[tuple[str, str]], conditions: str) -> NewMessage:
        body = "\n".join(f"{k}: {v}" for k, v in lines)
        return NewMessage(
            f"Вы записаны на ТМК. Номер записи: {number}\n{body}\n\nПорядок и условия: {conditions}\n\n"
            "Напомним о консультации за сутки и за 15 минут до начала; во втором напоминании будет ссылка на чат.",
            keyboard=InlineKeyboard.of([self.button("Предстоящие записи", "up")],
                                       [self.button("Главное меню", MENU)]))

    def upcoming(self, entries: Sequence[tuple[str, str | None]]) -> NewMessage:
        """``entries``: (text of a booking, its consultation chat link when it is open)."""
        if not entries:
            return NewMessage("Предстоящих записей на ТМК нет.",
                              keyboard=InlineKeyboard.of([self.button("Главное меню", MENU)]))
        rows: list[list[Button]] = [[LinkButton(f"Чат консультации № {i}", link)]
                                    for i, (_, link) in enumerate(entries, 1) if link]
        rows.append([self.button("Главное меню", MENU)])
        text = "Предстоящие записи на ТМК:\n\n" + "\n\n".join(f"{i}. {t}" for i, (t, _) in enumerate(entries, 1))
        return NewMessage(text, keyboard=InlineKeyboard.of(*rows))

    def expired(self, minutes: int, who: str) -> NewMessage:
        waited = quantity(minutes, "минуты", "минут", "минут")   # after «больше»: the genitive
        return self.main_menu(who, f"Запись прервана: прошло больше {waited} без действий. Начните заново.")

    def stale(self, who: str) -> NewMessage:
        return self.main_menu(who, "Эта кнопка из прежнего меню и больше не действует.")
