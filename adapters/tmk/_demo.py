"""``bridge demo`` for the bot: a parent books a ТМК for their child, screen by screen, as text with buttons."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from adapters.tmk.sandbox import MessengerUser, Screen

PHONE = "+79132456718"   # the sandbox ЕСИА's mother's verified mobile


def _show(say: Callable[[str], None], title: str, screen: Screen) -> None:
    say(f"── {title} " + "─" * max(0, 60 - len(title)))
    for line in screen.text.splitlines():
        say(f"   {line}")
    if screen.buttons:
        say("   " + "  ".join(f"[{b['text']}]" for b in screen.buttons))


def run_demo(bridge_url: str, sandbox_urls: dict[str, str], say: Callable[[str], None]) -> None:
    max_url = sandbox_urls.get("max")
    if not max_url:
        say("MAX: no sandbox MAX (run `bridge serve --sandbox` with the tmk adapter)")
        return
    token = {"Authorization": "sandbox-max-token"}
    deadline = time.monotonic() + 15
    while not httpx.get(f"{max_url}/subscriptions", headers=token).json().get("subscriptions"):
        if time.monotonic() > deadline:
            say("MAX: the bridge has not subscribed its webhook yet")
            return
        time.sleep(0.3)
    say("ТМК в MAX: мама записывает сына на телемедицинскую консультацию")
    user = MessengerUser(max_url, 800000 + int(time.time()) % 100000)
    try:
        _show(say, "пользователь запускает бота", user.start())
        _show(say, "делится номером телефона", user.share_phone(PHONE))
        user.login_with_esia()
        _show(say, "вошла через Госуслуги (песочница ЕСИА)", user.screen())
        for label, title in (("Записать другого", "записать другого человека"), ("Смирнов А.", "ребёнок из Госуслуг"),
                             ("Повторная", "цель"), ("Педиатрия", "специальность"), ("ДП", "медицинская организация"),
                             ("Михайлова", "врач")):
            _show(say, title, user.press(label))
        day = user.screen().buttons[0]["text"]
        _show(say, f"дата: {day}", user.press(day))
        slot = user.screen().buttons[0]["text"]
        _show(say, f"время: {slot}", user.press(slot))
        _show(say, "согласие и запись", user.press("Согласен"))
        _show(say, "предстоящие записи", user.press("Предстоящие записи"))
        say("   Напоминания придут за сутки и за 15 минут (см. /admin/outbox?kind=tmk.reminder).")
    finally:
        user.close()
