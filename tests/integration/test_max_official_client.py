"""MAX's official TypeScript client (npm @maxhub/max-bot-api 0.3.1) drives the sandbox MAX, a real process.

The client is MAX's own (github.com/max-messenger/max-bot-api-client-ts): what it sends is what bots send
to MAX, and the sandbox must take it as MAX does. tests/interop/node/max_bot_api.js runs a bot's life:
start-up reads (GET /me, the chat, its members, the bot's membership and the admins, the pin), a pin and
an unpin, ``bot.start()`` (subscriptions cleared, long polling), a reply with an inline keyboard to
``bot_started``, a press answered (POST /answers), the message edited (PUT /messages), then deleted. Before
the schema corrections, its first send was refused (400: ``text``/``attachments``/``link`` required) and
its start-up failed on ``GET /me`` (FastAPI's ``{"detail": "Not Found"}``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.max.sandbox._openapi import default_checker
from tests.maxproc import sandbox_max_process

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "interop" / "node"
SCRIPT = NODE_DIR / "max_bot_api.js"
TOKEN = "sandbox-max-token"  # MaxWorld's default
USER, GROUP, OWNER = 501, -70000000000005, 123123123


@pytest.fixture
def sandbox_max(tmp_path: Path) -> Iterator[str]:
    with sandbox_max_process(tmp_path) as url:
        yield url


def _run_bot(url: str) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: Node.js >= 20.19 with npm is required (see tests/interop/README.md)")
    if not (NODE_DIR / "node_modules" / "@maxhub" / "max-bot-api" / "package.json").is_file():
        pytest.fail("tests/interop/node/node_modules lacks @maxhub/max-bot-api: npm ci --prefix tests/interop/node")
    done = subprocess.run([node, str(SCRIPT)], input=json.dumps(
        {"base_url": url, "token": TOKEN, "user_id": USER, "group_id": GROUP}),
        capture_output=True, text=True, encoding="utf-8", timeout=90, cwd=ROOT)
    if done.returncode != 0:
        pytest.fail(f"the bot failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_official_client_runs_a_bot_against_the_sandbox(sandbox_max: str) -> None:
    with httpx.Client(base_url=f"{sandbox_max}/_sandbox/max", timeout=10) as control:
        group = {"chat_id": GROUP, "title": "Консультация ТМК", "owner_id": OWNER}
        control.post("/chats", json=group).raise_for_status()
        out = _run_bot(sandbox_max)
        callback = control.get(f"/callbacks/{out['pressed']['callback_id']}").json()
        messages = control.get(f"/users/{USER}/messages").json()

    assert out["errors"] == []
    checker = default_checker()  # what the library got is what MAX answers (the corrected schema)
    for key, (method, template) in {"me": ("GET", "/me"), "chat": ("GET", "/chats/{chatId}"),
                                    "members": ("GET", "/chats/{chatId}/members"),
                                    "membership": ("GET", "/chats/{chatId}/members/me"),
                                    "admins": ("GET", "/chats/{chatId}/members/admins"),
                                    "pin_after": ("GET", "/chats/{chatId}/pin")}.items():
        checker.check_answer(method, template, out[key])
    assert out["me"]["is_bot"] is True and out["me"]["username"] == "sandbox_bot"
    assert out["chat"]["chat_id"] == GROUP and out["chat"]["link"].startswith("https://max.ru/join/")
    assert {m["user_id"] for m in out["admins"]["members"]} == {out["me"]["user_id"], OWNER}
    assert "pin_message" in out["membership"]["permissions"]
    assert out["pin_before"] == {"message": None} and out["pin"] == {"success": True}
    assert out["pin_after"]["message"]["body"]["text"] == "Консультация начнётся в 10:00"
    assert out["unpin"] == {"success": True}
    assert out["unknown"]["status"] == 404 and out["unknown"]["data"]["code"] == "method.not.found"

    # The reply with a keyboard went to the dialog by its chat_id, as ctx.reply sends it.
    sent = out["sent"]
    assert sent["recipient"]["chat_type"] == "dialog" and sent["recipient"]["user_id"] == USER
    buttons = sent["body"]["attachments"][0]["payload"]["buttons"]
    assert [b["payload"] for b in buttons[0]] == ["yes", "no"] and buttons[1][0]["url"]

    pressed = out["pressed"]
    assert pressed["answer"] == {"success": True} and pressed["edit"] == {"success": True}
    assert callback["answer"] == {"notification": "Запись подтверждена"}
    assert out["delete"] == {"success": True}
    [message] = messages
    assert message["mid"] == pressed["mid"] == sent["body"]["mid"]
    assert message["text"] == "Вы записаны на 10:00" and message["buttons"] == []
    assert message["edits"] == 1 and message["deleted"] is True
