"""The sandbox MAX's schema corrections, each held to evidence we did not write.

Samples: the real MAX payloads recorded by MAX's official Go client (adapters/max/sandbox/payloads,
from max-messenger/max-bot-api-client-go ``stabs/``, Apache-2.0) and the request bodies MAX's official
TypeScript client (npm @maxhub/max-bot-api 0.3.1) sends. Every sample passes the corrected schema; each
correction is needed: without it, at least one of its samples fails.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from adapters.max.sandbox._corrections import CORRECTIONS
from adapters.max.sandbox._openapi import OpenApiChecker, RequestInvalid

PAYLOADS = Path(__file__).resolve().parents[2] / "adapters" / "max" / "sandbox" / "payloads"

# What each recorded answer is, in the schema's names.
ANSWERS = {
    "botInfo.ok.json": "BotInfo",
    "chats-chat-path-result.json": "Chat",
    "chats-dialog-with-user.json": "Chat",
    "chats-get-admins.json": "ChatMembersList",
    "chats-get-chat-by-id.json": "Chat",
    "chats-get-chats.json": "ChatList",
    "chats-get-members.json": "ChatMembersList",
    "chats-get-membership.json": "ChatMember",
    "chats-get-pin-message.json": "GetPinnedMessageResult",
}


def _schema_of(name: str) -> str:
    if name in ANSWERS:
        return ANSWERS[name]
    if name.startswith("error."):
        return "Error"
    return "UpdateList" if name.startswith("update.") else "Update"


def _payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def _member_without_permissions() -> Any:
    """A plain member as ChatMember's own description says MAX gives one: no ``permissions``."""
    member = dict(_payload("chats-get-members.json")["members"][1])
    del member["permissions"]
    member.update(is_admin=False, is_owner=False)
    return member


# Bodies @maxhub/max-bot-api 0.3.1 sends (dist/core/network/api/modules/messages/api.js):
# api.sendMessageToUser(id, "Привет") and the same with a keyboard from Keyboard.inlineKeyboard.
TS_SEND_TEXT = {"text": "Привет"}
TS_SEND_KEYBOARD = {"text": "Выберите", "attachments": [
    {"type": "inline_keyboard", "payload": {"buttons": [[{"type": "callback", "text": "Да", "payload": "yes"}]]}}]}

# correction's schema -> samples (schema name, value) that need it
EVIDENCE: dict[str, list[tuple[str, Any]]] = {
    "NewMessageBody": [("NewMessageBody", TS_SEND_TEXT), ("NewMessageBody", TS_SEND_KEYBOARD)],
    "User": [("Update", _payload("webhook.bot_started.json"))],
    "MessageBody": [("Update", _payload("webhook.message_created.json"))],
    "Recipient": [("GetPinnedMessageResult", _payload("chats-get-pin-message.json"))],
    "ChatType": [("Chat", _payload("chats-dialog-with-user.json")),
                 ("Update", _payload("webhook.message_callback.json"))],
    "Chat": [("Chat", _payload("chats-get-chat-by-id.json")), ("Chat", _payload("chats-dialog-with-user.json"))],
    "ChatMember": [("ChatMember", _member_without_permissions())],
    "ChatAdminPermission": [("ChatMembersList", _payload("chats-get-admins.json"))],
    "ChatList": [("ChatList", _payload("chats-get-chats.json"))],
}


@cache
def _checker(without: str | None = None) -> OpenApiChecker:
    return OpenApiChecker(corrections=tuple(c for c in CORRECTIONS if c.schema != without))


def _valid(checker: OpenApiChecker, schema: str, value: Any) -> bool:
    try:
        checker.check_object(schema, value)
    except RequestInvalid:
        return False
    return True


@pytest.mark.parametrize("name", sorted(p.name for p in PAYLOADS.glob("*.json")))
def test_every_recorded_payload_passes_the_corrected_schema(name: str) -> None:
    _checker().check_object(_schema_of(name), _payload(name))


def test_every_correction_has_evidence_and_its_evidence_passes() -> None:
    assert sorted(c.schema for c in CORRECTIONS) == sorted(EVIDENCE)
    for correction in CORRECTIONS:
        assert correction.evidence, correction.schema
        for schema, value in EVIDENCE[correction.schema]:
            assert _valid(_checker(), schema, value), (correction.schema, schema)


@pytest.mark.parametrize("correction", sorted(EVIDENCE))
def test_each_correction_is_needed(correction: str) -> None:
    samples = EVIDENCE[correction]
    assert any(not _valid(_checker(without=correction), schema, value) for schema, value in samples), \
        f"no sample needs the {correction} correction"


def test_the_published_schema_refused_the_official_clients_send() -> None:
    """The refusal of the issue: POST /messages with {text} only was a 400 proto.payload."""
    published = OpenApiChecker(corrections=())
    with pytest.raises(RequestInvalid):
        published.check("POST", "/messages", {}, {"user_id": "5"}, TS_SEND_TEXT, True)
    _checker().check("POST", "/messages", {}, {"user_id": "5"}, TS_SEND_TEXT, True)


def test_what_max_refuses_is_still_refused() -> None:
    checker = _checker()
    for body in ({"text": "x" * 4001}, {"text": "x", "link": {"type": "quote", "mid": "mid.1"}},
                 {"attachments": [{"type": "inline_keyboard", "payload": {"buttons": [[{"type": "callback"}]]}}]}):
        with pytest.raises(RequestInvalid):
            checker.check("POST", "/messages", {}, {"user_id": "5"}, body, True)
    with pytest.raises(RequestInvalid):
        checker.check_object("Chat", {**_payload("chats-get-chat-by-id.json"), "type": "group"})
