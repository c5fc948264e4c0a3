"""The whole story across real processes: a parent books a ТМК for their child in the sandbox MAX;
with a shifted clock the 24-hour reminder comes at its time; the bridge is killed; after the restart
the 15-minute reminder comes with the consultation chat (doctor and parent in it), and nothing is
sent twice or after the start. The sandboxes run in their own process, so they outlive the bridge."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.tmk.sandbox import MessengerUser
from bridge.clock import FileClock
from tests.bridgeproc import BridgeProcess, SandboxProcess, free_port, start_bridge, start_sandbox

USER = 880001
MOTHER_PHONE = "+79132456718"   # the sandbox ЕСИА's mother (Смирнова А. С.) has this verified mobile
DOCTOR_MAX_ID = 502001          # Михайлова А. Д., pediatrician of ДП № 7, in the sandbox МИС


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("tmk")
    port = free_port()
    sandbox = start_sandbox(tmp / "sandbox", ("esia", "tmk"), bridge_port=port)
    clock = tmp / "clock"
    config = {**sandbox.bridge_config, "port": port, "adapters": ["esia", "tmk"], "test_clock_file": str(clock),
              "database_url": f"sqlite:///{tmp / 'bridge.db'}"}
    state: dict[str, Any] = {"tmp": tmp, "sandbox": sandbox, "config": config, "clock": clock}
    state["bridge"] = start_bridge(tmp / "bridge", config=config, sandbox=False)
    yield state
    state["bridge"].stop()
    sandbox.stop()


def _wait(condition: Any, timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _subscribed(sandbox: SandboxProcess) -> bool:
    answer = httpx.get(f"{sandbox.sandbox_urls['max']}/subscriptions", headers={"Authorization": "sandbox-max-token"})
    return bool(answer.json().get("subscriptions"))


def _reminders(user: MessengerUser) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {"24h": [], "15m": []}
    for message in user.messages():
        for button in message["buttons"]:
            payload = str(button.get("payload", ""))
            if payload.startswith("remind|"):
                found[payload.rsplit("|", 1)[1]].append(message)
    return found


def test_child_booking_reminders_and_chat_survive_a_kill(world: dict[str, Any]) -> None:
    sandbox: SandboxProcess = world["sandbox"]
    bridge: BridgeProcess = world["bridge"]
    clock: Path = world["clock"]
    _wait(lambda: _subscribed(sandbox), what="the webhook subscription")
    user = MessengerUser(sandbox.sandbox_urls["max"], USER)
    try:
        _story(world, sandbox, bridge, clock, user)
    finally:
        user.close()


def _story(world: dict[str, Any], sandbox: SandboxProcess, bridge: BridgeProcess, clock: Path,
           user: MessengerUser) -> None:

    # The dialog, as the parent sees it.
    assert user.start().labels() == ["Поделиться номером телефона"]
    assert user.share_phone(MOTHER_PHONE).text.startswith("Спасибо! Теперь войдите через Госуслуги")
    assert "Вход через Госуслуги выполнен" in user.login_with_esia()
    assert user.screen().text.startswith("Вход через Госуслуги выполнен")
    user.press("Записать другого")
    user.press("Смирнов А.")
    user.press("Повторная")
    user.press("Педиатрия")
    user.press("ДП")
    user.press("Михайлова")
    user.press(user.choices("t")[-1])     # the last date offered: days ahead, so both reminders lie in the future
    user.press(user.screen().buttons[0]["text"])
    assert "Смирнов А. Д." in user.screen().text
    assert user.press("Согласен").text.startswith("Вы записаны на ТМК")

    booking = httpx.get(f"{bridge.url}/admin/tmk/bookings").json()[0]
    start = datetime.fromisoformat(booking["start_at"])
    assert booking["visit_id"] and booking["state"] == "booked"

    # Not before its time…
    FileClock.shift_to(clock, start - timedelta(hours=24, minutes=1))
    time.sleep(2.0)
    assert _reminders(user) == {"24h": [], "15m": []}
    # …and at its time.
    FileClock.shift_to(clock, start - timedelta(hours=24) + timedelta(seconds=2))
    sent = _wait(lambda: _reminders(user)["24h"], what="the 24-hour reminder")
    assert "завтра" in sent[0]["text"] and "Смирнов А. Д." in sent[0]["text"]
    assert not any(b["type"] == "link" for b in sent[0]["buttons"])   # the chat link comes 15 minutes before

    # A crash between the reminders, and a restart on the same store.
    bridge.kill()
    FileClock.shift_to(clock, start - timedelta(minutes=15) + timedelta(seconds=2))
    bridge = world["bridge"] = start_bridge(world["tmp"] / "bridge", config=world["config"], sandbox=False)
    fifteen = _wait(lambda: _reminders(user)["15m"], what="the 15-minute reminder")[0]
    link = next(b["url"] for b in fifteen["buttons"] if b["type"] == "link")
    chat_id = httpx.get(f"{bridge.url}/admin/tmk/bookings").json()[0]["chat"]["chat_id"]
    chat = httpx.get(f"{sandbox.sandbox_urls['max']}/_sandbox/max/chats/{chat_id}").json()
    assert chat["link"] == link
    assert {DOCTOR_MAX_ID, USER} <= set(chat["members"])

    # «Предстоящие записи» shows the chat link now.
    upcoming = user.press("Предстоящие записи")
    assert any(b.get("url") == link for b in upcoming.buttons)

    # After the start nothing more; each reminder exactly once.
    FileClock.shift_to(clock, start + timedelta(minutes=1))
    time.sleep(2.0)
    final = _reminders(user)
    assert len(final["24h"]) == 1 and len(final["15m"]) == 1
    metrics = httpx.get(f"{bridge.url}/metrics").text
    assert 'bridge_tmk_reminders_total{kind="15m",outcome="sent"} 1.0' in metrics


def test_bridge_demo_shows_the_booking_screen_by_screen(bridge: BridgeProcess) -> None:
    import subprocess
    import sys

    from tests.bridgeproc import ROOT
    from tests.demotext import assert_reads_right

    out = subprocess.run([sys.executable, "-m", "bridge", "demo", "--url", bridge.url], capture_output=True,
                         text=True, cwd=ROOT, timeout=240, env=bridge.env)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    for screen in ("── пользователь запускает бота", "── ребёнок из Госуслуг", "Выберите врача:",
                   "Проверьте запись на ТМК:", "Вы записаны на ТМК. Номер записи: ТМК-",
                   "[Предстоящие записи]  [Главное меню]"):
        assert screen in text, screen
    assert_reads_right(text)   # every adapter's demo, not only the bot's (tests/demotext.py)
