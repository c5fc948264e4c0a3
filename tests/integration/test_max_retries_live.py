"""Our MAX client against the sandbox MAX process when every answer is lost after MAX processed the call.

The sandbox's ``drop_after`` fault processes the request for real, then closes the connection mid-answer:
the case where a repeat is a second action. Each POST must be repeated exactly as docs/max.md ("Retries")
says, and the sandbox's state shows what the repeats did.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.max import CallbackButton, InlineKeyboard, MaxBot, NewMessage
from bridge.delivery import RetryPolicy, Upstream, UpstreamConfig, UpstreamUnavailable
from tests.maxproc import sandbox_max_process

TOKEN = "sandbox-max-token"
ATTEMPTS = 3
USER, GROUP = 501, -70000000000007


@pytest.fixture
def sandbox_max(tmp_path: Path) -> Iterator[str]:
    with sandbox_max_process(tmp_path) as url:
        yield url


def _bot(url: str) -> MaxBot:
    config = UpstreamConfig(name="max", base_url=url, retry=RetryPolicy(max_attempts=ATTEMPTS, backoff_initial=0.01))
    return MaxBot(Upstream(config), TOKEN)


def _processed_then_lost(control: httpx.Client, call: Any) -> int:
    """Run ``call`` with every answer lost after processing; how many times MAX processed it."""
    control.put("/_sandbox/faults", json={"rate": 1.0, "kinds": ["drop_after"], "seed": 1}).raise_for_status()
    try:
        with pytest.raises(UpstreamUnavailable):
            call()
    finally:
        injected = control.get("/_sandbox/faults").json()["injected"]
        control.put("/_sandbox/faults", json={"rate": 0.0}).raise_for_status()
    return int(injected.get("drop_after", 0))


def test_each_post_is_repeated_only_where_max_makes_a_repeat_harmless(sandbox_max: str) -> None:
    with httpx.Client(base_url=sandbox_max, timeout=10) as control:
        control.post(f"/_sandbox/max/users/{USER}/start", json={}).raise_for_status()
        control.post("/_sandbox/max/chats", json={"chat_id": GROUP}).raise_for_status()

        assert _processed_then_lost(control, lambda: _bot(sandbox_max).send_message("Напоминание",
                                                                                     user_id=USER)) == 1
        assert [m["text"] for m in control.get(f"/_sandbox/max/users/{USER}/messages").json()] == ["Напоминание"]

        assert _processed_then_lost(control, lambda: _bot(sandbox_max).add_chat_members(GROUP, [USER])) == ATTEMPTS
        assert control.get(f"/_sandbox/max/chats/{GROUP}").json()["members"].count(USER) == 1

        hook = "https://bridge.example/max/webhook"
        assert _processed_then_lost(control, lambda: _bot(sandbox_max).subscribe(hook)) == ATTEMPTS
        subscriptions = control.get("/subscriptions", headers={"Authorization": TOKEN}).json()["subscriptions"]
        assert [s["url"] for s in subscriptions] == [hook]

        keyboard = InlineKeyboard.of([CallbackButton("Да", "yes")])
        _bot(sandbox_max).send_message(NewMessage(text="Подтвердите", keyboard=keyboard), user_id=USER)
        press = control.post(f"/_sandbox/max/users/{USER}/press", json={"payload": "yes"}).json()
        callback_id = press["callback"]["callback_id"]
        assert _processed_then_lost(control, lambda: _bot(sandbox_max).answer_callback(
            callback_id, notification="Принято")) == 1
        assert _processed_then_lost(control, lambda: _bot(sandbox_max).answer_callback(
            callback_id, message=NewMessage(text="Вы записаны", keyboard=keyboard))) == ATTEMPTS
        assert control.get(f"/_sandbox/max/users/{USER}/last").json()["text"] == "Вы записаны"
