"""The sandbox MAX's state: users, dialogs and chats, messages, callbacks, subscriptions, updates."""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

BOT_USER_ID = 229229229


def now_ms() -> int:
    return int(time.time() * 1000)


# The bot as MAX shows it in a message's sender (webhook.message_callback.json: a bot has a username
# and, like every User, a last_activity_time).
BOT_USER: dict[str, Any] = {"user_id": BOT_USER_ID, "first_name": "Sandbox bot", "username": "sandbox_bot",
                            "is_bot": True, "last_activity_time": now_ms(), "name": "Sandbox bot"}
# Every right an admin bot can have (chats-get-membership.json).
BOT_ADMIN_PERMISSIONS = ("add_admins", "edit_link", "pin_message", "change_chat_info", "add_remove_members",
                         "can_call", "write", "read_all_messages")


def bot_info() -> dict[str, Any]:
    """``GET /me``: ``BotInfo`` shaped like payloads/botInfo.ok.json."""
    return {**BOT_USER, "last_activity_time": now_ms(), "description": "Песочница MAX моста МИС"}


@dataclass
class SandboxUser:
    user_id: int
    first_name: str
    last_name: str | None = None
    phone: str | None = None
    started: bool = False
    stopped: bool = False

    @property
    def chat_id(self) -> int:
        """The dialog between this user and the bot (positive, as MAX's dialog ids are)."""
        return 100_000_000_000 + self.user_id

    def dialog_json(self) -> dict[str, Any]:
        """``Chat`` of the dialog with the bot, shaped like MAX's (payloads/chats-dialog-with-user.json)."""
        return {"chat_id": self.chat_id, "type": "dialog", "status": "active", "last_event_time": now_ms(),
                "participants_count": 2, "is_public": False, "dialog_with_user": self.to_json()}

    def to_json(self) -> dict[str, Any]:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        data: dict[str, Any] = {"user_id": self.user_id, "first_name": self.first_name, "is_bot": False,
                                "last_activity_time": now_ms(), "name": name}
        if self.last_name:
            data["last_name"] = self.last_name
        return data


def new_join_link() -> str:
    return "https://max.ru/join/" + secrets.token_urlsafe(16)


@dataclass
class SandboxChat:
    chat_id: int
    title: str
    members: set[int] = field(default_factory=set)
    bot_can_add: bool = True
    link: str = field(default_factory=new_join_link)
    owner_id: int | None = None
    created: int = field(default_factory=now_ms)
    pinned: str | None = None  # mid of the pinned message

    def to_json(self, messages_count: int, pinned: dict[str, Any] | None = None) -> dict[str, Any]:
        """``Chat`` with the fields and nulls of MAX's own answer (payloads/chats-get-chat-by-id.json;
        ``pinned_message`` as in chats-chat-path-result.json)."""
        data = {"chat_id": self.chat_id, "type": "chat", "status": "active", "title": self.title,
                "last_event_time": self.created, "participants_count": len(self.members), "is_public": False,
                "description": None, "owner_id": self.owner_id,
                "participants": {str(m): self.created for m in sorted(self.members)}, "link": self.link,
                "messages_count": messages_count}
        if pinned is not None:
            data["pinned_message"] = pinned
        return data

    def admin_ids(self) -> list[int]:
        """The bot (when it may add members it is an admin) and the owner."""
        ids = [BOT_USER_ID] if self.bot_can_add else []
        if self.owner_id is not None and self.owner_id not in ids:
            ids.append(self.owner_id)
        return ids


@dataclass
class StoredMessage:
    mid: str
    seq: int
    chat_id: int
    chat_type: str
    user_id: int | None  # the dialog's user, for messages to a user
    text: str | None
    attachments: list[dict[str, Any]]
    timestamp: int
    sender: dict[str, Any]
    edits: int = 0
    deleted: bool = False

    def replace(self, body: dict[str, Any]) -> None:
        """An edit (PUT /messages, or POST /answers with a message): text replaced; attachments
        replaced when given (null keeps them, [] removes them)."""
        self.text = body.get("text")
        if body.get("attachments") is not None:
            self.attachments = stored_attachments(body["attachments"])
        self.edits += 1

    def to_json(self) -> dict[str, Any]:
        recipient: dict[str, Any] = {"chat_id": self.chat_id, "chat_type": self.chat_type}
        if self.user_id is not None:
            recipient["user_id"] = self.user_id
        body: dict[str, Any] = {"mid": self.mid, "seq": self.seq, "text": self.text}
        if self.attachments:
            body["attachments"] = self.attachments
        return {"recipient": recipient, "timestamp": self.timestamp, "body": body, "sender": self.sender}


@dataclass
class Subscription:
    url: str
    update_types: list[str] | None
    secret: str | None
    time: int


class MaxWorld:
    """Everything the sandbox knows. Thread-safe: the app may serve requests concurrently."""

    def __init__(self, token: str = "sandbox-max-token", rate_limit: int = 30) -> None:
        self.token = token
        self.rate_limit = rate_limit
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.users: dict[int, SandboxUser] = {}
            self.chats: dict[int, SandboxChat] = {}
            self.messages: dict[str, StoredMessage] = {}
            self.callbacks: dict[str, dict[str, Any]] = {}  # callback_id -> {user_id, mid, payload, answer}
            self.subscriptions: dict[str, Subscription] = {}
            self.updates: deque[dict[str, Any]] = deque(maxlen=10_000)
            self.marker = 0
            self.deliveries: list[dict[str, Any]] = []
            self.request_times: deque[float] = deque()
            self._seq = itertools.count(116_328_000_000_000_000)

    # --- rate limit (sliding second, accepted requests only) ---

    def take_rate_slot(self, now: float) -> float | None:
        """None when the request may go on; else the seconds until a slot frees."""
        with self.lock:
            while self.request_times and self.request_times[0] <= now - 1.0:
                self.request_times.popleft()
            if len(self.request_times) >= self.rate_limit:
                return max(0.0, self.request_times[0] + 1.0 - now)
            self.request_times.append(now)
            return None

    # --- users, chats, messages ---

    def user(self, user_id: int, first_name: str = "Test", last_name: str | None = None) -> SandboxUser:
        with self.lock:
            found = self.users.get(user_id)
            if found is None:
                found = self.users[user_id] = SandboxUser(user_id, first_name, last_name)
            return found

    def new_message(self, *, chat_id: int, chat_type: str, user_id: int | None, text: str | None,
                    attachments: list[dict[str, Any]], sender: dict[str, Any]) -> StoredMessage:
        with self.lock:
            mid = "mid." + secrets.token_hex(16)
            message = StoredMessage(mid, next(self._seq), chat_id, chat_type, user_id, text,
                                    stored_attachments(attachments), now_ms(), sender)
            self.messages[mid] = message
            return message

    def last_bot_message(self, user_id: int) -> StoredMessage | None:
        sent = [m for m in self.bot_messages(user_id) if not m.deleted]
        return sent[-1] if sent else None

    def bot_messages(self, user_id: int) -> list[StoredMessage]:
        """Every message the bot sent the user, deleted ones too, oldest first."""
        with self.lock:
            return [m for m in self.messages.values() if m.user_id == user_id and m.sender["is_bot"]]

    def history(self, chat_id: int) -> list[StoredMessage]:
        """The chat's messages (not deleted), newest first as ``GET /messages`` gives them."""
        with self.lock:
            return sorted((m for m in self.messages.values() if m.chat_id == chat_id and not m.deleted),
                          key=lambda m: m.seq, reverse=True)

    def member_json(self, chat: SandboxChat, user_id: int) -> dict[str, Any]:
        """``ChatMember`` as chats-get-members.json shows one (``permissions`` only for admins)."""
        with self.lock:
            if user_id == BOT_USER_ID:
                user: dict[str, Any] = bot_info()
            elif user_id in self.users:
                user = self.users[user_id].to_json()
            else:
                user = {"user_id": user_id, "first_name": "User", "is_bot": False, "last_activity_time": chat.created,
                        "name": "User"}
        member = {**user, "last_access_time": chat.created, "join_time": chat.created,
                  "is_owner": user_id == chat.owner_id, "is_admin": user_id in chat.admin_ids()}
        if member["is_admin"]:
            member["permissions"] = list(BOT_ADMIN_PERMISSIONS) if user_id == BOT_USER_ID or not member["is_owner"] \
                else [*BOT_ADMIN_PERMISSIONS, "edit", "delete", "view_stats"]
        return member

    def dialog_user(self, chat_id: int) -> SandboxUser | None:
        """The user whose dialog with the bot is ``chat_id``."""
        with self.lock:
            return next((u for u in self.users.values() if u.chat_id == chat_id), None)

    def add_update(self, update: dict[str, Any]) -> None:
        with self.lock:
            self.marker += 1
            self.updates.append({**update, "_marker": self.marker})


def stored_attachments(attachments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keyboards in stored messages carry a callback_id, and buttons ``intent: default``, as MAX's do."""
    out = []
    for attachment in attachments:
        if attachment.get("type") == "inline_keyboard":
            payload = attachment.get("payload") or {}
            buttons = [[{"intent": "default", **b} for b in row] for row in payload.get("buttons") or []]
            attachment = {"type": "inline_keyboard", "callback_id": secrets.token_urlsafe(24),
                          "payload": {"buttons": buttons}}
        out.append(attachment)
    return out


def buttons_of(message: StoredMessage) -> list[dict[str, Any]]:
    return [button for attachment in message.attachments if attachment.get("type") == "inline_keyboard"
            for row in attachment["payload"]["buttons"] for button in row]
