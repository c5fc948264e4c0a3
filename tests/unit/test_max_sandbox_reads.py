"""The sandbox MAX's read surface, error shape and long polling; every answer held to the (corrected) schema."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.max.sandbox import MaxWorld, create_sandbox_app
from adapters.max.sandbox._openapi import default_checker
from adapters.max.sandbox._world import BOT_USER_ID

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TOKEN = "sandbox-max-token"
AUTH = {"Authorization": TOKEN}
GROUP = -70000000000005
OWNER, USER = 123123123, 501


@pytest.fixture
def sandbox() -> Iterator[TestClient]:
    with TestClient(create_sandbox_app(MaxWorld(token=TOKEN))) as client:
        yield client


def _call(sandbox: TestClient, method: str, template: str, path: dict[str, Any] | None = None,
          status: int = 200, **kwargs: Any) -> Any:
    """One Bot API call; a 200 answer must be what the schema says that call answers."""
    response = sandbox.request(method, template.format(**(path or {})), headers=AUTH, **kwargs)
    assert response.status_code == status, response.text
    if status == 200:
        default_checker().check_answer(method, template.replace("{chat_id}", "{chatId}"), response.json())
    else:
        assert set(response.json()) == {"code", "message"}
    return response.json()


def _group(sandbox: TestClient) -> None:
    sandbox.post(f"/_sandbox/max/users/{USER}/start", json={})
    assert sandbox.post("/_sandbox/max/chats", json={"chat_id": GROUP, "title": "ТМК", "owner_id": OWNER}).is_success
    _call(sandbox, "POST", "/chats/{chatId}/members", {"chatId": GROUP}, json={"user_ids": [USER]})


def test_me_is_the_bot(sandbox: TestClient) -> None:
    me = _call(sandbox, "GET", "/me")
    assert me["user_id"] == BOT_USER_ID and me["is_bot"] is True and me["username"]
    assert sandbox.get("/me").json()["code"] == "verify.token"


def test_unknown_paths_and_methods_answer_in_max_shape(sandbox: TestClient) -> None:
    unknown = sandbox.get("/no/such/path", headers=AUTH)
    assert unknown.status_code == 404
    assert unknown.json() == {"code": "method.not.found", "message": "Path /no/such/path is not recognized"}
    wrong = sandbox.patch("/subscriptions", headers=AUTH)
    assert wrong.status_code == 405 and wrong.json()["code"] == "method.not.allowed"
    assert "detail" in sandbox.get("/_sandbox/max/users/1/last").json()  # the control API is ours


def test_members_admins_and_membership_of_a_group(sandbox: TestClient) -> None:
    _group(sandbox)
    members = _call(sandbox, "GET", "/chats/{chatId}/members", {"chatId": GROUP})
    assert sorted(m["user_id"] for m in members["members"]) == [USER, BOT_USER_ID]
    user = next(m for m in members["members"] if m["user_id"] == USER)
    assert user["is_admin"] is False and "permissions" not in user
    page = _call(sandbox, "GET", "/chats/{chatId}/members", {"chatId": GROUP}, params={"count": "1"})
    assert len(page["members"]) == 1 and page["marker"] == 1
    rest = _call(sandbox, "GET", "/chats/{chatId}/members", {"chatId": GROUP},
                 params={"count": "1", "marker": str(page["marker"])})
    assert len(rest["members"]) == 1 and rest["marker"] is None
    only = _call(sandbox, "GET", "/chats/{chatId}/members", {"chatId": GROUP}, params={"user_ids": str(USER)})
    assert [m["user_id"] for m in only["members"]] == [USER]
    me = _call(sandbox, "GET", "/chats/{chatId}/members/me", {"chatId": GROUP})
    assert me["user_id"] == BOT_USER_ID and "add_remove_members" in me["permissions"]
    admins = _call(sandbox, "GET", "/chats/{chatId}/members/admins", {"chatId": GROUP})
    assert {a["user_id"]: a["is_owner"] for a in admins["members"]} == {BOT_USER_ID: False, OWNER: True}
    _call(sandbox, "GET", "/chats/{chatId}/members", {"chatId": GROUP}, params={"count": "101"}, status=400)
    _call(sandbox, "GET", "/chats/{chatId}/members/me", {"chatId": -1}, status=404)


def test_pin_read_and_unpin(sandbox: TestClient) -> None:
    _group(sandbox)
    assert _call(sandbox, "GET", "/chats/{chatId}/pin", {"chatId": GROUP}) == {"message": None}
    sent = _call(sandbox, "POST", "/messages", params={"chat_id": str(GROUP)}, json={"text": "Ссылка на приём"})
    mid = sent["message"]["body"]["mid"]
    pinned = _call(sandbox, "PUT", "/chats/{chatId}/pin", {"chatId": GROUP}, json={"message_id": mid})
    assert pinned == {"success": True}
    assert _call(sandbox, "GET", "/chats/{chatId}/pin", {"chatId": GROUP})["message"]["body"]["mid"] == mid
    assert _call(sandbox, "GET", "/chats/{chatId}", {"chatId": GROUP})["pinned_message"]["body"]["mid"] == mid
    _call(sandbox, "PUT", "/chats/{chatId}/pin", {"chatId": GROUP}, json={"message_id": "mid.none"}, status=404)
    _call(sandbox, "PUT", "/chats/{chatId}/pin", {"chatId": GROUP}, json={}, status=400)
    assert _call(sandbox, "DELETE", "/chats/{chatId}/pin", {"chatId": GROUP}) == {"success": True}
    assert _call(sandbox, "GET", "/chats/{chatId}/pin", {"chatId": GROUP}) == {"message": None}


def test_pins_need_the_bot_to_be_an_admin(sandbox: TestClient) -> None:
    plain = GROUP - 1
    assert sandbox.post("/_sandbox/max/chats", json={"chat_id": plain, "title": "Регистратура", "owner_id": OWNER,
                                                     "bot_can_add": False}).is_success
    sent = _call(sandbox, "POST", "/messages", params={"chat_id": str(plain)}, json={"text": "Расписание"})
    mid = sent["message"]["body"]["mid"]
    for method, body in (("PUT", {"message_id": mid}), ("DELETE", None)):
        refused = _call(sandbox, method, "/chats/{chatId}/pin", {"chatId": plain}, status=403, json=body)
        assert refused["code"] == "chat.denied"
    assert _call(sandbox, "GET", "/chats/{chatId}/pin", {"chatId": plain}) == {"message": None}
    assert [m["user_id"] for m in _call(sandbox, "GET", "/chats/{chatId}/members/admins",
                                        {"chatId": plain})["members"]] == [OWNER]
    _call(sandbox, "GET", "/chats/{chatId}/members/me", {"chatId": GROUP - 2}, status=404)


def test_dialog_by_chat_id_send_read_and_no_pins(sandbox: TestClient) -> None:
    started = sandbox.post(f"/_sandbox/max/users/{USER}/start", json={}).json()
    dialog = started["chat_id"]
    sent = _call(sandbox, "POST", "/messages", params={"chat_id": str(dialog)}, json={"text": "Здравствуйте"})
    assert sent["message"]["recipient"] == {"chat_id": dialog, "chat_type": "dialog", "user_id": USER}
    mid = sent["message"]["body"]["mid"]
    assert _call(sandbox, "GET", "/messages/{messageId}", {"messageId": mid})["body"]["text"] == "Здравствуйте"
    assert _call(sandbox, "GET", "/chats/{chatId}", {"chatId": dialog})["type"] == "dialog"
    members = _call(sandbox, "GET", "/chats/{chatId}/members", {"chatId": dialog})
    assert sorted(m["user_id"] for m in members["members"]) == [USER, BOT_USER_ID]
    assert _call(sandbox, "GET", "/chats/{chatId}/pin", {"chatId": dialog}, status=403)["code"] == "chat.denied"
    _call(sandbox, "DELETE", "/messages", params={"message_id": mid})
    _call(sandbox, "GET", "/messages/{messageId}", {"messageId": mid}, status=404)
    sandbox.post(f"/_sandbox/max/users/{USER}/stop")
    _call(sandbox, "POST", "/messages", params={"chat_id": str(dialog)}, json={"text": "x"}, status=403)


def test_long_poll_waits_for_an_update(sandbox: TestClient) -> None:
    started = time.monotonic()
    assert _call(sandbox, "GET", "/updates", params={"timeout": "1"})["updates"] == []
    assert time.monotonic() - started >= 0.9
    threading.Timer(0.3, lambda: sandbox.post(f"/_sandbox/max/users/{USER}/start", json={})).start()
    started = time.monotonic()
    answer = _call(sandbox, "GET", "/updates", params={"timeout": "10"})
    assert [u["update_type"] for u in answer["updates"]] == ["bot_started"]
    assert time.monotonic() - started < 5


def test_every_update_the_sandbox_makes_is_an_update_of_the_schema(sandbox: TestClient) -> None:
    keyboard = {"type": "inline_keyboard", "payload": {"buttons": [
        [{"type": "callback", "text": "Да", "payload": "yes"}], [{"type": "request_contact", "text": "Номер"}]]}}
    sandbox.post(f"/_sandbox/max/users/{USER}/start", json={"payload": "booking-1"})
    _call(sandbox, "POST", "/messages", params={"user_id": str(USER)},
          json={"text": "Выберите", "attachments": [keyboard]})
    sandbox.post(f"/_sandbox/max/users/{USER}/text", json={"text": "привет"})
    sandbox.post(f"/_sandbox/max/users/{USER}/press", json={"payload": "yes"})
    sandbox.post(f"/_sandbox/max/users/{USER}/contact", json={"phone": "+79990000000"})
    sandbox.post(f"/_sandbox/max/users/{USER}/stop")
    answer = _call(sandbox, "GET", "/updates", params={"timeout": "0"})  # held to UpdateList by _call
    assert [u["update_type"] for u in answer["updates"]] == [
        "bot_started", "message_created", "message_callback", "message_created", "bot_stopped"]
