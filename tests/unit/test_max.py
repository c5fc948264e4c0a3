"""MAX Bot API client, webhook reading, rate limiters, against the sandbox MAX in-process."""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.max import (
    DEFAULT_RATE,
    SECRET_HEADER,
    BotStarted,
    CallbackButton,
    ChatInfo,
    ChatMessage,
    InlineKeyboard,
    LinkButton,
    LocalRateLimiter,
    MaxApiError,
    MaxBot,
    MaxRequestInvalid,
    MessageCallback,
    MessageCreated,
    NewMessage,
    RawUpdate,
    RequestContactButton,
    StoreRateLimiter,
    UserUnreachable,
    WebhookRejected,
    read_webhook,
)
from adapters.max import MIGRATIONS as MAX_MIGRATIONS
from adapters.max.sandbox import MaxWorld, create_sandbox_app
from bridge.delivery import RetryPolicy, Upstream, UpstreamConfig
from bridge.store import Store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PAYLOADS = Path(__file__).resolve().parents[2] / "adapters" / "max" / "sandbox" / "payloads"  # real MAX samples
TOKEN = "sandbox-max-token"
SECRET = "hook_secret_123"
HOOK_URL = "http://bridge.test/max/webhook"


class Receiver:
    """The bridge's webhook endpoint, as the sandbox reaches it."""

    def __init__(self) -> None:
        self.updates: list[Any] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        try:
            self.updates.append(read_webhook(dict(request.headers), request.content, SECRET))
        except WebhookRejected as exc:
            return httpx.Response(exc.status)
        return httpx.Response(200)


@pytest.fixture
def world() -> MaxWorld:
    return MaxWorld(token=TOKEN)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def sandbox(world: MaxWorld, receiver: Receiver) -> Iterator[TestClient]:
    app = create_sandbox_app(world, webhook_transport=httpx.MockTransport(receiver.handle))
    with TestClient(app) as client:
        yield client


def _bot(sandbox: TestClient, token: str = TOKEN) -> MaxBot:
    upstream = Upstream(UpstreamConfig(name="max", base_url="http://testserver",
                                       retry=RetryPolicy(max_attempts=3, backoff_initial=0.01, max_retry_after=2.0)),
                        transport=sandbox._transport)
    return MaxBot(upstream, token)


@pytest.fixture
def bot(sandbox: TestClient) -> MaxBot:
    return _bot(sandbox)


def _start(sandbox: TestClient, user_id: int = 501) -> None:
    assert sandbox.post(f"/_sandbox/max/users/{user_id}/start", json={"payload": "booking-1"}).status_code == 200


KEYBOARD = InlineKeyboard.of(
    [CallbackButton("Подтвердить", "confirm:1"), CallbackButton("Отменить", "cancel:1")],
    [LinkButton("Портал", "https://portal.example/b/1")],
    [RequestContactButton("Поделиться номером")],
)


def test_send_reaches_sandbox_with_buttons(sandbox: TestClient, bot: MaxBot) -> None:
    _start(sandbox)
    sent = bot.send_message(NewMessage("Запись на 10:00", keyboard=KEYBOARD), user_id=501)
    assert sent.message_id.startswith("mid.") and sent.user_id == 501
    last = sandbox.get("/_sandbox/max/users/501/last").json()
    assert last["mid"] == sent.message_id and last["text"] == "Запись на 10:00"
    assert [b["type"] for b in last["buttons"]] == ["callback", "callback", "link", "request_contact"]
    assert last["buttons"][0]["payload"] == "confirm:1"


def test_edit_replaces_text_and_keyboard_then_delete(sandbox: TestClient, bot: MaxBot) -> None:
    _start(sandbox)
    sent = bot.send_message(NewMessage("v1", keyboard=KEYBOARD), user_id=501)
    bot.edit_message(sent.message_id, NewMessage("v2"))  # no keyboard → attachments [] removes it
    last = sandbox.get("/_sandbox/max/users/501/last").json()
    assert (last["text"], last["buttons"], last["edits"]) == ("v2", [], 1)
    bot.edit_message(sent.message_id, NewMessage("v3", keyboard=InlineKeyboard.of([CallbackButton("OK", "ok")])))
    assert sandbox.get("/_sandbox/max/users/501/last").json()["buttons"][0]["payload"] == "ok"
    bot.delete_message(sent.message_id)
    assert sandbox.get("/_sandbox/max/users/501/last").status_code == 404


def test_success_false_raises(sandbox: TestClient, bot: MaxBot) -> None:
    with pytest.raises(MaxApiError) as caught:
        bot.edit_message("mid.unknown", "x")
    assert caught.value.status == 200


def test_press_delivers_callback_webhook_and_answer_is_kept(sandbox: TestClient, bot: MaxBot,
                                                            receiver: Receiver) -> None:
    bot.subscribe(HOOK_URL, ["message_callback", "bot_started", "message_created"], SECRET)
    assert [s.url for s in bot.subscriptions()] == [HOOK_URL]
    _start(sandbox)
    sent = bot.send_message(NewMessage("Подтвердите", keyboard=KEYBOARD), user_id=501)
    assert sandbox.post("/_sandbox/max/users/501/press", json={"payload": "confirm:1"}).status_code == 200
    started, pressed = receiver.updates
    assert isinstance(started, BotStarted) and started.payload == "booking-1" and started.user.user_id == 501
    assert isinstance(pressed, MessageCallback) and pressed.payload == "confirm:1"
    assert pressed.message is not None and pressed.message.mid == sent.message_id
    bot.answer_callback(pressed.callback_id, notification="Записано",
                        message=NewMessage("Подтверждено", keep_attachments=False))
    answer = sandbox.get(f"/_sandbox/max/callbacks/{pressed.callback_id}").json()["answer"]
    assert answer["notification"] == "Записано"
    assert sandbox.get("/_sandbox/max/users/501/last").json()["text"] == "Подтверждено"


def test_contact_button_delivers_contact(sandbox: TestClient, bot: MaxBot, receiver: Receiver) -> None:
    bot.subscribe(HOOK_URL, None, SECRET)
    _start(sandbox)
    bot.send_message(NewMessage("Номер?", keyboard=KEYBOARD), user_id=501)
    assert sandbox.post("/_sandbox/max/users/501/contact", json={"phone": "+7 999 123-45-67"}).status_code == 200
    update = receiver.updates[-1]
    assert isinstance(update, MessageCreated) and update.message.contact is not None
    assert update.message.contact.phone == "79991234567"
    assert "79991234567" not in repr(update)


def test_members_added(sandbox: TestClient, bot: MaxBot) -> None:
    sandbox.post("/_sandbox/max/chats", json={"chat_id": -7000001, "title": "ТМК"})
    _start(sandbox, 501)
    _start(sandbox, 502)
    result = bot.add_chat_members(-7000001, [501, 502, 999])
    assert result.failed_user_ids == (999,) and result.failed_reasons[999] == "add.participant.not.found"
    assert {501, 502} <= set(sandbox.get("/_sandbox/max/chats/-7000001").json()["members"])


def test_messages_newest_first_to_reconcile_a_reminder(sandbox: TestClient, bot: MaxBot) -> None:
    _start(sandbox)
    first = bot.send_message("Добро пожаловать", user_id=501)
    sandbox.post("/_sandbox/max/users/501/text", json={"text": "привет"})
    reminder = bot.send_message(NewMessage("Напоминание: завтра в 10:00", keyboard=KEYBOARD), user_id=501)
    gone = bot.send_message("ошибка", user_id=501)
    bot.delete_message(gone.message_id)
    assert first.chat_id is not None
    history = bot.messages(first.chat_id)
    assert [m.message_id for m in history][::2] == [reminder.message_id, first.message_id]
    assert [m.is_bot for m in history] == [True, False, True], "newest first, the user's text included"
    assert history[1].text == "привет" and history[1].sender_user_id == 501
    assert history[0].sender_user_id == 229229229 and history[0].timestamp >= history[2].timestamp
    assert history[0].callback_payloads == ("confirm:1", "cancel:1")
    assert "Напоминание" not in repr(history[0]) and isinstance(history[0], ChatMessage)
    assert [m.message_id for m in bot.messages(first.chat_id, count=1)] == [reminder.message_id]
    by_id = sandbox.get("/messages", params={"message_ids": f"{first.message_id},{gone.message_id}"},
                        headers={"Authorization": TOKEN}).json()["messages"]
    assert [m["body"]["mid"] for m in by_id] == [first.message_id], "deleted messages are gone"


def test_messages_refusals(sandbox: TestClient, bot: MaxBot) -> None:
    _start(sandbox)
    dialog = bot.send_message("x", user_id=501).chat_id
    assert dialog is not None
    with pytest.raises(MaxRequestInvalid, match="count"):
        bot.messages(dialog, count=0)
    answer = sandbox.get("/messages", params={"chat_id": str(dialog), "count": "101"},
                         headers={"Authorization": TOKEN})
    assert answer.status_code == 400 and answer.json()["code"] == "proto.payload"
    with pytest.raises(MaxApiError) as caught:
        bot.messages(-42)
    assert (caught.value.status, caught.value.code) == (404, "chat.not.found")
    sandbox.post("/_sandbox/max/users/501/stop")
    with pytest.raises(UserUnreachable) as unreachable:
        bot.messages(dialog)
    assert unreachable.value.chat_id == dialog


def test_chat_info_of_a_group_chat_and_of_a_dialog(sandbox: TestClient, bot: MaxBot) -> None:
    created = sandbox.post("/_sandbox/max/chats", json={"chat_id": -7000001, "title": "ТМК 10:00"}).json()
    assert created["link"].startswith("https://max.ru/join/")
    _start(sandbox, 501)
    bot.add_chat_members(-7000001, [501])
    bot.send_message("Консультация начнётся в 10:00", chat_id=-7000001)
    info = bot.chat(-7000001)
    assert info == ChatInfo(chat_id=-7000001, title="ТМК 10:00", link=created["link"], participants_count=2,
                            chat_type="chat", status="active")
    assert sandbox.get("/_sandbox/max/chats/-7000001").json()["link"] == created["link"]
    raw = sandbox.get("/chats/-7000001", headers={"Authorization": TOKEN}).json()
    sample = json.loads((PAYLOADS / "chats-get-chat-by-id.json").read_text())
    assert raw.keys() == sample.keys() and raw["messages_count"] == 1
    assert set(raw["participants"]) == {"229229229", "501"}

    dialog_id = bot.send_message("x", user_id=501).chat_id
    assert dialog_id is not None
    dialog = bot.chat(dialog_id)
    assert (dialog.chat_type, dialog.title, dialog.link, dialog.participants_count) == ("dialog", None, None, 2)
    raw = sandbox.get(f"/chats/{dialog_id}", headers={"Authorization": TOKEN}).json()
    assert raw.keys() == json.loads((PAYLOADS / "chats-dialog-with-user.json").read_text()).keys()
    with pytest.raises(MaxApiError) as caught:
        bot.chat(-1)
    assert caught.value.status == 404


def test_control_lists_every_message_sent_to_a_user_oldest_first(sandbox: TestClient, bot: MaxBot) -> None:
    assert sandbox.get("/_sandbox/max/users/501/messages").status_code == 404
    _start(sandbox)
    one = bot.send_message(NewMessage("Запись на 10:00", keyboard=KEYBOARD), user_id=501)
    two = bot.send_message("Напоминание", user_id=501)
    sandbox.post("/_sandbox/max/users/501/text", json={"text": "ок"})
    bot.edit_message(one.message_id, NewMessage("Запись подтверждена"))
    bot.delete_message(two.message_id)
    sent = sandbox.get("/_sandbox/max/users/501/messages").json()
    assert [(m["mid"], m["text"], m["edits"], m["deleted"]) for m in sent] == [
        (one.message_id, "Запись подтверждена", 1, False), (two.message_id, "Напоминание", 0, True)]
    assert sent[0]["buttons"] == [] and sent[0]["message"]["body"]["mid"] == one.message_id


def test_query_token_and_wrong_token_refused(sandbox: TestClient) -> None:
    answer = sandbox.post("/messages", params={"user_id": "1", "access_token": TOKEN},
                          json={"text": "x", "attachments": None, "link": None})
    assert answer.status_code == 401 and answer.json()["code"] == "deprecated.token"
    with pytest.raises(MaxApiError) as caught:
        _bot(sandbox, token="wrong").subscriptions()
    assert (caught.value.status, caught.value.code) == (401, "verify.token")


def test_long_text_refused_by_client_and_sandbox(sandbox: TestClient, bot: MaxBot) -> None:
    _start(sandbox)
    with pytest.raises(MaxRequestInvalid, match="4000"):
        bot.send_message("я" * 4001, user_id=501)
    answer = sandbox.post("/messages", params={"user_id": "501"}, headers={"Authorization": TOKEN},
                          json={"text": "я" * 4001, "attachments": None, "link": None})
    assert answer.status_code == 400 and answer.json()["code"] == "proto.payload"
    # the schema, not just the length: a callback button without payload is refused
    answer = sandbox.post("/messages", params={"user_id": "501"}, headers={"Authorization": TOKEN},
                          json={"text": "x", "link": None, "attachments": [
                              {"type": "inline_keyboard",
                               "payload": {"buttons": [[{"type": "callback", "text": "a"}]]}}]})
    assert answer.status_code == 400


def test_chat_denied_is_user_unreachable(sandbox: TestClient, bot: MaxBot) -> None:
    _start(sandbox)
    sandbox.post("/_sandbox/max/users/501/stop")
    with pytest.raises(UserUnreachable) as caught:
        bot.send_message("напоминание", user_id=501)
    assert caught.value.user_id == 501 and caught.value.code == "chat.denied"


def test_31st_request_in_a_second_gets_429_and_client_backs_off(sandbox: TestClient, bot: MaxBot) -> None:
    for _ in range(30):
        assert sandbox.get("/subscriptions", headers={"Authorization": TOKEN}).status_code == 200
    refused = sandbox.get("/subscriptions", headers={"Authorization": TOKEN})
    assert refused.status_code == 429 and refused.json()["code"] == "too.many.requests"
    assert refused.headers["Retry-After"] == "1"
    started = time.monotonic()
    assert bot.subscriptions() == []  # 429 → waits Retry-After → succeeds
    assert time.monotonic() - started >= 0.5


def test_long_polling_without_subscription(sandbox: TestClient, bot: MaxBot) -> None:
    _start(sandbox)
    sandbox.post("/_sandbox/max/users/501/text", json={"text": "привет"})
    updates, marker = bot.get_updates(timeout=0)
    assert [u.update_type for u in updates] == ["bot_started", "message_created"]
    assert bot.get_updates(marker, timeout=0) == ([], marker)


def test_webhook_secret_checked_and_sample_parsed() -> None:
    body = (PAYLOADS / "webhook.message_callback.json").read_bytes()
    sample = json.loads(body)
    with pytest.raises(WebhookRejected):
        read_webhook({SECRET_HEADER: "wrong_secret"}, body, SECRET)
    with pytest.raises(WebhookRejected):
        read_webhook({}, body, SECRET)
    update = read_webhook({SECRET_HEADER.lower(): SECRET}, body, SECRET)
    assert isinstance(update, MessageCallback)
    assert update.callback_id == sample["callback"]["callback_id"]
    assert update.payload == sample["callback"]["payload"]
    assert update.user.user_id == sample["callback"]["user"]["user_id"]
    assert update.timestamp == sample["timestamp"] and update.user_locale == sample["user_locale"]
    assert update.message is not None and update.message.mid == sample["message"]["body"]["mid"]
    assert update.message.chat_id == sample["message"]["recipient"]["chat_id"]
    for name in ("bot_started", "bot_stopped", "user_added", "message_created", "message_removed"):
        parsed = read_webhook({}, (PAYLOADS / f"webhook.{name}.json").read_bytes(), None)
        assert parsed.update_type == name
    unknown = read_webhook({}, b'{"update_type":"brand_new","timestamp":1,"x":2}', None)
    assert isinstance(unknown, RawUpdate) and unknown.raw["x"] == 2


def test_local_limiter_paces() -> None:
    limiter = LocalRateLimiter(rate=100)
    started = time.monotonic()
    for _ in range(21):
        limiter.acquire()
    assert time.monotonic() - started >= 0.19


def test_store_limiter_shared_by_two_instances(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'bridge.db'}")
    store.upgrade([MAX_MIGRATIONS])
    limiters = [StoreRateLimiter(Store(f"sqlite:///{tmp_path / 'bridge.db'}")) for _ in range(2)]
    stamps: list[float] = []
    lock = threading.Lock()

    def run(limiter: StoreRateLimiter) -> None:
        for _ in range(20):
            limiter.acquire()
            with lock:
                stamps.append(time.time())

    threads = [threading.Thread(target=run, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    assert len(stamps) == 40
    # in any sliding second, at most 30 across both instances (the default rate keeps headroom for jitter)
    worst = max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps)
    assert worst <= 30
    assert stamps[-1] - stamps[0] >= 39 / DEFAULT_RATE - 0.05
